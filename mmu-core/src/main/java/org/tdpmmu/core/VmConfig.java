package org.tdpmmu.core;

import java.util.EnumSet;
import java.util.Set;

/**
 * Shape of a simulated VM. Immutable; the {@code with...} methods return copies.
 *
 * @param rootLevel      4 or 5 (4-level or 5-level EPT).
 * @param tableCapacity  page-table pages the store may hold at once.
 * @param maxVcpus       vCPUs that may be created.
 * @param tlbEntries     per-vCPU TLB entries per page size (a power of two).
 * @param rcuReclaimer   run RCU callbacks on a background thread (false: callers reclaim, as
 *                       jcstress states do, so thousands of VMs cost no threads).
 * @param hostFrameLimit most 4 KiB host frames the host model may hand out (guest RAM plus
 *                       migration targets).
 * @param seededBugs     guards turned off, for the seeded-bug checks only.
 * @param locklessAging  aging ({@link TdpMmuAge}) under RCU alone, as since 6.15 ("KVM: x86/mmu: Age
 *                       sptes locklessly"), with that release's atomic-update rule
 *                       ({@link Spte#needsAtomicUpdate}); false: aging holds mmu_lock for write and
 *                       writers follow the older rule ({@link Spte#hasVolatileBits}). Decision: false
 *                       by default, so every run that does not age keeps the figures it had.
 * @param eptAdBits      EPT accessed/dirty bits on (the default); off, leaves carry
 *                       {@link Spte#AD_DISABLED}, hardware sets neither bit, aging access-tracks
 *                       ({@link Spte#markForAccessTrack}) and dirty logging can only write-protect.
 * @param rootAllocUnderWriteLock a vCPU loads (reuses or allocates) and unloads its root with
 *                       mmu_lock held for write, as before 6.9 (kvm_tdp_mmu_get_vcpu_root_hpa from
 *                       mmu_alloc_direct_roots); false (the default): under the read lock with the
 *                       pages lock and a re-check, as since 6.9 (the series "KVM: x86/mmu: Allow TDP
 *                       MMU (un)load to run in parallel", kvm_tdp_mmu_alloc_root). Kernel presets:
 *                       true for releases up to 6.8, false from 6.9.
 */
public record VmConfig(int rootLevel, int tableCapacity, int maxVcpus, int tlbEntries, boolean rcuReclaimer,
                       long hostFrameLimit, Set<SeededBug> seededBugs, boolean locklessAging, boolean eptAdBits,
                       boolean rootAllocUnderWriteLock)
{
    /** The shape before the root-allocation switch existed: roots allocated under the read lock (6.9+). */
    public VmConfig(final int rootLevel, final int tableCapacity, final int maxVcpus, final int tlbEntries,
        final boolean rcuReclaimer, final long hostFrameLimit, final Set<SeededBug> seededBugs,
        final boolean locklessAging, final boolean eptAdBits)
    {
        this(rootLevel, tableCapacity, maxVcpus, tlbEntries, rcuReclaimer, hostFrameLimit, seededBugs, locklessAging,
            eptAdBits, false);
    }

    public VmConfig
    {
        if (rootLevel != 4 && rootLevel != 5)
        {
            throw new IllegalArgumentException("rootLevel=" + rootLevel + " is not 4 or 5");
        }
        if (tableCapacity < 1)
        {
            throw new IllegalArgumentException("tableCapacity=" + tableCapacity + " must be >= 1");
        }
        if (maxVcpus < 1 || maxVcpus > 4096)
        {
            throw new IllegalArgumentException("maxVcpus=" + maxVcpus + " is out of range 1..4096");
        }
        if (tlbEntries < 1 || Integer.bitCount(tlbEntries) != 1 || tlbEntries > 4096)
        {
            throw new IllegalArgumentException("tlbEntries=" + tlbEntries + " must be a power of two in 1..4096");
        }
        if (hostFrameLimit < 1)
        {
            throw new IllegalArgumentException("hostFrameLimit=" + hostFrameLimit + " must be >= 1");
        }
        seededBugs = seededBugs.isEmpty() ? Set.of() : Set.copyOf(EnumSet.copyOf(seededBugs));
    }

    /** A small VM for tests: 4-level, 4096 tables, 8 vCPUs, 64-entry TLBs, manual RCU reclaim. */
    public static VmConfig small()
    {
        return new VmConfig(4, 4096, 8, 64, false, 1L << 22, Set.of(), false, true);
    }

    public VmConfig withRootLevel(final int level)
    {
        return new VmConfig(level, tableCapacity, maxVcpus, tlbEntries, rcuReclaimer, hostFrameLimit, seededBugs,
            locklessAging, eptAdBits, rootAllocUnderWriteLock);
    }

    public VmConfig withTableCapacity(final int capacity)
    {
        return new VmConfig(rootLevel, capacity, maxVcpus, tlbEntries, rcuReclaimer, hostFrameLimit, seededBugs,
            locklessAging, eptAdBits, rootAllocUnderWriteLock);
    }

    public VmConfig withMaxVcpus(final int vcpus)
    {
        return new VmConfig(rootLevel, tableCapacity, vcpus, tlbEntries, rcuReclaimer, hostFrameLimit, seededBugs,
            locklessAging, eptAdBits, rootAllocUnderWriteLock);
    }

    public VmConfig withTlbEntries(final int entries)
    {
        return new VmConfig(rootLevel, tableCapacity, maxVcpus, entries, rcuReclaimer, hostFrameLimit, seededBugs,
            locklessAging, eptAdBits, rootAllocUnderWriteLock);
    }

    public VmConfig withRcuReclaimer(final boolean reclaimer)
    {
        return new VmConfig(rootLevel, tableCapacity, maxVcpus, tlbEntries, reclaimer, hostFrameLimit, seededBugs,
            locklessAging, eptAdBits, rootAllocUnderWriteLock);
    }

    public VmConfig withHostFrameLimit(final long frames)
    {
        return new VmConfig(rootLevel, tableCapacity, maxVcpus, tlbEntries, rcuReclaimer, frames, seededBugs,
            locklessAging, eptAdBits, rootAllocUnderWriteLock);
    }

    /** Turns guards off: for the seeded-bug checks only, never reachable from the public CLI. */
    public VmConfig withSeededBugs(final Set<SeededBug> bugs)
    {
        return new VmConfig(rootLevel, tableCapacity, maxVcpus, tlbEntries, rcuReclaimer, hostFrameLimit, bugs,
            locklessAging, eptAdBits, rootAllocUnderWriteLock);
    }

    /** Aging under RCU alone (6.15+) or under mmu_lock held for write (before). */
    public VmConfig withLocklessAging(final boolean lockless)
    {
        return new VmConfig(rootLevel, tableCapacity, maxVcpus, tlbEntries, rcuReclaimer, hostFrameLimit, seededBugs,
            lockless, eptAdBits, rootAllocUnderWriteLock);
    }

    /** EPT with or without accessed/dirty bits. */
    public VmConfig withEptAdBits(final boolean adBits)
    {
        return new VmConfig(rootLevel, tableCapacity, maxVcpus, tlbEntries, rcuReclaimer, hostFrameLimit, seededBugs,
            locklessAging, adBits, rootAllocUnderWriteLock);
    }

    /** Root load/unload under mmu_lock for write (before 6.9) or for read with the pages lock (6.9+). */
    public VmConfig withRootAllocUnderWriteLock(final boolean underWriteLock)
    {
        return new VmConfig(rootLevel, tableCapacity, maxVcpus, tlbEntries, rcuReclaimer, hostFrameLimit, seededBugs,
            locklessAging, eptAdBits, underWriteLock);
    }

    public boolean has(final SeededBug bug)
    {
        return seededBugs.contains(bug);
    }
}
