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
 */
public record VmConfig(int rootLevel, int tableCapacity, int maxVcpus, int tlbEntries, boolean rcuReclaimer,
                       long hostFrameLimit, Set<SeededBug> seededBugs)
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

    /** A small VM for tests: 4-level, 4096 tables, 8 vCPUs, 64-entry TLBs, manual RCU reclaim. */
    public static VmConfig small()
    {
        return new VmConfig(4, 4096, 8, 64, false, 1L << 22, Set.of());
    }

    public VmConfig withRootLevel(final int level)
    {
        return new VmConfig(level, tableCapacity, maxVcpus, tlbEntries, rcuReclaimer, hostFrameLimit, seededBugs);
    }

    public VmConfig withTableCapacity(final int capacity)
    {
        return new VmConfig(rootLevel, capacity, maxVcpus, tlbEntries, rcuReclaimer, hostFrameLimit, seededBugs);
    }

    public VmConfig withMaxVcpus(final int vcpus)
    {
        return new VmConfig(rootLevel, tableCapacity, vcpus, tlbEntries, rcuReclaimer, hostFrameLimit, seededBugs);
    }

    public VmConfig withTlbEntries(final int entries)
    {
        return new VmConfig(rootLevel, tableCapacity, maxVcpus, entries, rcuReclaimer, hostFrameLimit, seededBugs);
    }

    public VmConfig withRcuReclaimer(final boolean reclaimer)
    {
        return new VmConfig(rootLevel, tableCapacity, maxVcpus, tlbEntries, reclaimer, hostFrameLimit, seededBugs);
    }

    public VmConfig withHostFrameLimit(final long frames)
    {
        return new VmConfig(rootLevel, tableCapacity, maxVcpus, tlbEntries, rcuReclaimer, frames, seededBugs);
    }

    /** Turns guards off: for the seeded-bug checks only, never reachable from the public CLI. */
    public VmConfig withSeededBugs(final Set<SeededBug> bugs)
    {
        return new VmConfig(rootLevel, tableCapacity, maxVcpus, tlbEntries, rcuReclaimer, hostFrameLimit, bugs);
    }

    public boolean has(final SeededBug bug)
    {
        return seededBugs.contains(bug);
    }
}
