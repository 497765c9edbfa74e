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
 *                       sptes locklessly", James Houghton); false: aging holds mmu_lock for write, as
 *                       before. The atomic-update rule that came with it is its own switch,
 *                       {@code spteNeedsAtomicUpdate}; the 6.15+ presets ({@link KernelRelease}) set both.
 * @param eptAdBits      EPT accessed/dirty bits on (the default); off, leaves carry
 *                       {@link Spte#AD_DISABLED}, hardware sets neither bit, aging access-tracks
 *                       ({@link Spte#markForAccessTrack}) and dirty logging can only write-protect.
 * @param suppressVeNonPresent the 6.11+ SPTE layout: the non-present value is bit 63 ("suppress #VE"),
 *                       the frozen value bit 63 | 0x5a0, and every present entry carries bit 63 (the TDX
 *                       MMU preparation series, "KVM: x86/mmu: Allow non-zero value for non-present SPTE
 *                       and removed SPTE", Isaku Yamahata, with "Add Suppress VE bit to EPT
 *                       shadow_mmio_mask/shadow_present_mask"); false: 0 and 0x5a0, as before.
 *                       Page tables are filled with the non-present value when allocated (kernel:
 *                       mmu_shadow_page_cache.init_value).
 * @param spteNeedsAtomicUpdate write-locked writers replace a leaf atomically by the 6.15 rule
 *                       ({@link Spte#needsAtomicUpdate}, kernel: spte_needs_atomic_update, from "Age sptes
 *                       locklessly"); false: by the rule up to 6.14 ({@link Spte#hasVolatileBits},
 *                       kernel: spte_has_volatile_bits).
 * @param retryBeforeMmuLock a fault whose gfn is being invalidated retries before it looks up the pfn and
 *                       again before it takes mmu_lock (6.8, d02c357e5bfa "KVM: x86/mmu: Retry fault
 *                       before acquiring mmu_lock if mapping is changing": mmu_invalidate_retry_gfn_unsafe
 *                       in kvm_faultin_pfn); false: only the check under the lock, as before.
 * @param eagerPageSplit the module parameter eager_page_split (on by default where it exists: 5.17+, with
 *                       a3fe5dbda0a4 "KVM: x86/mmu: Split huge pages mapped by the TDP MMU when dirty
 *                       logging is enabled", David Matlack); false: dirty logging never splits eagerly,
 *                       whatever its caller asks ({@link DirtyLogging#enable}), as before it existed or
 *                       with {@code eager_page_split=N}.
 * @param rootAllocUnderWriteLock a vCPU loads (reuses or allocates) and unloads its root with
 *                       mmu_lock held for write, as before 6.9 (kvm_tdp_mmu_get_vcpu_root_hpa from
 *                       mmu_alloc_direct_roots); false (the default): under the read lock with the
 *                       pages lock and a re-check, as since 6.9 (the series "KVM: x86/mmu: Allow TDP
 *                       MMU (un)load to run in parallel", kvm_tdp_mmu_alloc_root). Kernel presets:
 *                       true for releases up to 6.8, false from 6.9 ({@link KernelRelease}).
 * @param splitHugeOnFault a fault that must map below a huge leaf (a logged slot maps 4 KiB) splits
 *                       it into a table of 512 smaller leaves and maps through that (the default, as
 *                       since 6.2: c4b33d28ea51 "KVM: x86/mmu: Split huge pages mapped by the TDP MMU on
 *                       fault", David Matlack); false: it zaps the huge leaf (tdp_mmu_zap_spte_atomic:
 *                       freeze, flush, clear), links an empty table and maps only the faulting page, so
 *                       every other page of the huge page takes its own fault later, as up to 6.1.
 *                       Kernel presets: false for 5.15 and 6.1, true from 6.6.
 * @param faultUnderWriteLock the TDP MMU fault path takes mmu_lock for write, so faults are serialised,
 *                       as before 5.12; false (the default): for read, faults in parallel with cmpxchg
 *                       installs, as since 5.12 (the series "Allow parallel MMU operations with TDP MMU",
 *                       Ben Gardon, with a2855afc7ee8 "KVM: x86/mmu: Allow parallel page faults for the
 *                       TDP MMU"). Decision: the same atomic operations run under the write lock (they
 *                       are correct under either, as the kernel's own asserts allow since 6.8); no
 *                       preset has it on (the oldest is 5.15), so the race suites never run it.
 */
public record VmConfig(int rootLevel, int tableCapacity, int maxVcpus, int tlbEntries, boolean rcuReclaimer,
                       long hostFrameLimit, Set<SeededBug> seededBugs, boolean locklessAging, boolean eptAdBits,
                       boolean suppressVeNonPresent, boolean spteNeedsAtomicUpdate, boolean retryBeforeMmuLock,
                       boolean eagerPageSplit, boolean rootAllocUnderWriteLock, boolean splitHugeOnFault,
                       boolean faultUnderWriteLock)
{
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

    /**
     * A small VM for tests: 4-level, 4096 tables, 8 vCPUs, 64-entry TLBs, manual RCU reclaim, every
     * kernel-era switch at its newest value ({@link KernelRelease#NEWEST}).
     */
    public static VmConfig small()
    {
        return new VmConfig(4, 4096, 8, 64, false, 1L << 22, Set.of(), true, true, true, true, true, true, false, true,
            false);
    }

    public VmConfig withRootLevel(final int level)
    {
        return new VmConfig(level, tableCapacity, maxVcpus, tlbEntries, rcuReclaimer, hostFrameLimit, seededBugs,
            locklessAging, eptAdBits, suppressVeNonPresent, spteNeedsAtomicUpdate, retryBeforeMmuLock, eagerPageSplit, rootAllocUnderWriteLock,
            splitHugeOnFault, faultUnderWriteLock);
    }

    public VmConfig withTableCapacity(final int capacity)
    {
        return new VmConfig(rootLevel, capacity, maxVcpus, tlbEntries, rcuReclaimer, hostFrameLimit, seededBugs,
            locklessAging, eptAdBits, suppressVeNonPresent, spteNeedsAtomicUpdate, retryBeforeMmuLock, eagerPageSplit, rootAllocUnderWriteLock,
            splitHugeOnFault, faultUnderWriteLock);
    }

    public VmConfig withMaxVcpus(final int vcpus)
    {
        return new VmConfig(rootLevel, tableCapacity, vcpus, tlbEntries, rcuReclaimer, hostFrameLimit, seededBugs,
            locklessAging, eptAdBits, suppressVeNonPresent, spteNeedsAtomicUpdate, retryBeforeMmuLock, eagerPageSplit, rootAllocUnderWriteLock,
            splitHugeOnFault, faultUnderWriteLock);
    }

    public VmConfig withTlbEntries(final int entries)
    {
        return new VmConfig(rootLevel, tableCapacity, maxVcpus, entries, rcuReclaimer, hostFrameLimit, seededBugs,
            locklessAging, eptAdBits, suppressVeNonPresent, spteNeedsAtomicUpdate, retryBeforeMmuLock, eagerPageSplit, rootAllocUnderWriteLock,
            splitHugeOnFault, faultUnderWriteLock);
    }

    public VmConfig withRcuReclaimer(final boolean reclaimer)
    {
        return new VmConfig(rootLevel, tableCapacity, maxVcpus, tlbEntries, reclaimer, hostFrameLimit, seededBugs,
            locklessAging, eptAdBits, suppressVeNonPresent, spteNeedsAtomicUpdate, retryBeforeMmuLock, eagerPageSplit, rootAllocUnderWriteLock,
            splitHugeOnFault, faultUnderWriteLock);
    }

    public VmConfig withHostFrameLimit(final long frames)
    {
        return new VmConfig(rootLevel, tableCapacity, maxVcpus, tlbEntries, rcuReclaimer, frames, seededBugs,
            locklessAging, eptAdBits, suppressVeNonPresent, spteNeedsAtomicUpdate, retryBeforeMmuLock, eagerPageSplit, rootAllocUnderWriteLock,
            splitHugeOnFault, faultUnderWriteLock);
    }

    /** Turns guards off: for the seeded-bug checks only, never reachable from the public CLI. */
    public VmConfig withSeededBugs(final Set<SeededBug> bugs)
    {
        return new VmConfig(rootLevel, tableCapacity, maxVcpus, tlbEntries, rcuReclaimer, hostFrameLimit, bugs,
            locklessAging, eptAdBits, suppressVeNonPresent, spteNeedsAtomicUpdate, retryBeforeMmuLock, eagerPageSplit, rootAllocUnderWriteLock,
            splitHugeOnFault, faultUnderWriteLock);
    }

    /** Aging under RCU alone (6.15+) or under mmu_lock held for write (before). */
    public VmConfig withLocklessAging(final boolean lockless)
    {
        return new VmConfig(rootLevel, tableCapacity, maxVcpus, tlbEntries, rcuReclaimer, hostFrameLimit, seededBugs,
            lockless, eptAdBits, suppressVeNonPresent, spteNeedsAtomicUpdate, retryBeforeMmuLock, eagerPageSplit, rootAllocUnderWriteLock,
            splitHugeOnFault, faultUnderWriteLock);
    }

    /** EPT with or without accessed/dirty bits. */
    public VmConfig withEptAdBits(final boolean adBits)
    {
        return new VmConfig(rootLevel, tableCapacity, maxVcpus, tlbEntries, rcuReclaimer, hostFrameLimit, seededBugs,
            locklessAging, adBits, suppressVeNonPresent, spteNeedsAtomicUpdate, retryBeforeMmuLock, eagerPageSplit, rootAllocUnderWriteLock,
            splitHugeOnFault, faultUnderWriteLock);
    }

    /** The 6.11+ non-present/frozen layout (bit 63) or the older one. */
    public VmConfig withSuppressVeNonPresent(final boolean suppressVe)
    {
        return new VmConfig(rootLevel, tableCapacity, maxVcpus, tlbEntries, rcuReclaimer, hostFrameLimit, seededBugs,
            locklessAging, eptAdBits, suppressVe, spteNeedsAtomicUpdate, retryBeforeMmuLock, eagerPageSplit, rootAllocUnderWriteLock,
            splitHugeOnFault, faultUnderWriteLock);
    }

    /** Write-locked writers by the 6.15 atomic-update rule or by spte_has_volatile_bits. */
    public VmConfig withSpteNeedsAtomicUpdate(final boolean rule615)
    {
        return new VmConfig(rootLevel, tableCapacity, maxVcpus, tlbEntries, rcuReclaimer, hostFrameLimit, seededBugs,
            locklessAging, eptAdBits, suppressVeNonPresent, rule615, retryBeforeMmuLock, eagerPageSplit, rootAllocUnderWriteLock,
            splitHugeOnFault, faultUnderWriteLock);
    }

    /** The 6.8 mmu_notifier check before mmu_lock, or only the one under it. */
    public VmConfig withRetryBeforeMmuLock(final boolean retry)
    {
        return new VmConfig(rootLevel, tableCapacity, maxVcpus, tlbEntries, rcuReclaimer, hostFrameLimit, seededBugs,
            locklessAging, eptAdBits, suppressVeNonPresent, spteNeedsAtomicUpdate, retry, eagerPageSplit, rootAllocUnderWriteLock,
            splitHugeOnFault, faultUnderWriteLock);
    }

    /** The module parameter eager_page_split (false: never split eagerly). */
    public VmConfig withEagerPageSplit(final boolean eager)
    {
        return new VmConfig(rootLevel, tableCapacity, maxVcpus, tlbEntries, rcuReclaimer, hostFrameLimit, seededBugs,
            locklessAging, eptAdBits, suppressVeNonPresent, spteNeedsAtomicUpdate, retryBeforeMmuLock, eager, rootAllocUnderWriteLock,
            splitHugeOnFault, faultUnderWriteLock);
    }

    /** The shape before the root-allocation switch existed: roots loaded under the read lock (6.9+). */
    public VmConfig(final int rootLevel, final int tableCapacity, final int maxVcpus, final int tlbEntries,
        final boolean rcuReclaimer, final long hostFrameLimit, final Set<SeededBug> seededBugs,
        final boolean locklessAging, final boolean eptAdBits, final boolean suppressVeNonPresent,
        final boolean spteNeedsAtomicUpdate, final boolean retryBeforeMmuLock, final boolean eagerPageSplit)
    {
        this(rootLevel, tableCapacity, maxVcpus, tlbEntries, rcuReclaimer, hostFrameLimit, seededBugs, locklessAging,
            eptAdBits, suppressVeNonPresent, spteNeedsAtomicUpdate, retryBeforeMmuLock, eagerPageSplit, false, true, false);
    }

    /** Root load/unload under mmu_lock for write (before 6.9) or for read with the pages lock (6.9+). */
    public VmConfig withRootAllocUnderWriteLock(final boolean underWriteLock)
    {
        return new VmConfig(rootLevel, tableCapacity, maxVcpus, tlbEntries, rcuReclaimer, hostFrameLimit, seededBugs,
            locklessAging, eptAdBits, suppressVeNonPresent, spteNeedsAtomicUpdate, retryBeforeMmuLock, eagerPageSplit,
            underWriteLock, splitHugeOnFault, faultUnderWriteLock);
    }

    /** The shape before the fault-path switches existed: split on fault (6.2+), faults under the read lock (5.12+). */
    public VmConfig(final int rootLevel, final int tableCapacity, final int maxVcpus, final int tlbEntries,
        final boolean rcuReclaimer, final long hostFrameLimit, final Set<SeededBug> seededBugs,
        final boolean locklessAging, final boolean eptAdBits, final boolean suppressVeNonPresent,
        final boolean spteNeedsAtomicUpdate, final boolean retryBeforeMmuLock, final boolean eagerPageSplit,
        final boolean rootAllocUnderWriteLock)
    {
        this(rootLevel, tableCapacity, maxVcpus, tlbEntries, rcuReclaimer, hostFrameLimit, seededBugs, locklessAging,
            eptAdBits, suppressVeNonPresent, spteNeedsAtomicUpdate, retryBeforeMmuLock, eagerPageSplit,
            rootAllocUnderWriteLock, true, false);
    }

    /** A huge leaf above a fault's level split (6.2+) or zapped and refaulted page by page (before). */
    public VmConfig withSplitHugeOnFault(final boolean split)
    {
        return new VmConfig(rootLevel, tableCapacity, maxVcpus, tlbEntries, rcuReclaimer, hostFrameLimit, seededBugs,
            locklessAging, eptAdBits, suppressVeNonPresent, spteNeedsAtomicUpdate, retryBeforeMmuLock, eagerPageSplit,
            rootAllocUnderWriteLock, split, faultUnderWriteLock);
    }

    /** Faults under mmu_lock for write (before 5.12) or for read (5.12+). */
    public VmConfig withFaultUnderWriteLock(final boolean underWriteLock)
    {
        return new VmConfig(rootLevel, tableCapacity, maxVcpus, tlbEntries, rcuReclaimer, hostFrameLimit, seededBugs,
            locklessAging, eptAdBits, suppressVeNonPresent, spteNeedsAtomicUpdate, retryBeforeMmuLock, eagerPageSplit,
            rootAllocUnderWriteLock, splitHugeOnFault, underWriteLock);
    }

    public boolean has(final SeededBug bug)
    {
        return seededBugs.contains(bug);
    }
}
