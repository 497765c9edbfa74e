package org.tdpmmu.benchmarks;

import java.lang.management.ManagementFactory;

import org.tdpmmu.core.Memslot;
import org.tdpmmu.core.MmuMemoryCache;
import org.tdpmmu.core.Spte;
import org.tdpmmu.core.TdpIter;
import org.tdpmmu.core.TdpMmu;
import org.tdpmmu.core.Vm;

/**
 * Set-up helpers the benchmarks share. Nothing here runs inside a measured region unless a
 * benchmark says so.
 */
final class Fixtures
{
    /** Guest frames per 2 MiB region. */
    static final long PAGES_2M = Spte.pagesPerLevel(Spte.PG_LEVEL_2M);
    /** A 1 GiB-aligned base gfn (4 GiB guest-physical), so a slot of up to 1 GiB hangs off one L2 table. */
    static final long BASE_GFN = 1L << 20;

    private static final com.sun.management.ThreadMXBean THREADS =
        (com.sun.management.ThreadMXBean)ManagementFactory.getThreadMXBean();

    private Fixtures()
    {
    }

    /**
     * Heap bytes the calling thread has allocated so far (HotSpot's TLAB accounting).
     *
     * <p>Benchmarks with a per-invocation set-up also report the bytes allocated inside the timed
     * invocations only, as {@code @AuxCounters} {@code loopAllocBytes} and {@code loopOps}: JMH's gc
     * profiler ({@code gc.alloc.rate.norm}) counts what the set-up allocates too (e.g. the RCU
     * callback of every table a reset unlinks). The set-up reads this counter as its last statement
     * and the invocation tear-down as its first, so only the benchmark method (and a few harness
     * instructions, which allocate nothing) lies between.
     */
    static long allocatedBytes()
    {
        return THREADS.getCurrentThreadAllocatedBytes();
    }

    /** Faults every gfn in [start, end) in steps of {@code step} and insists each one installed a translation. */
    static void faultAll(final Vm vm, final TdpIter iter, final MmuMemoryCache cache, final long start, final long end,
        final long step, final boolean write)
    {
        for (long gfn = start; gfn < end; gfn += step)
        {
            faultOne(vm.mmu(), iter, cache, gfn, write);
        }
    }

    /** One fault that must install (retries on a lost race, which a single-threaded set-up never has). */
    static void faultOne(final TdpMmu mmu, final TdpIter iter, final MmuMemoryCache cache, final long gfn,
        final boolean write)
    {
        for (int attempt = 0; attempt < 1000; attempt++)
        {
            final int r = mmu.pageFault(iter, cache, gfn, write);
            if (r == TdpMmu.RET_PF_FIXED)
            {
                return;
            }
            if (r == TdpMmu.RET_PF_SPURIOUS)
            {
                return;
            }
        }
        throw new IllegalStateException("fault on gfn 0x" + Long.toHexString(gfn) + " kept retrying");
    }

    /**
     * Unlinks every 4 KiB table under the 2 MiB-level entries of [start, end) with the MMU's own
     * atomic zap under the read lock (kernel: tdp_mmu_zap_spte_atomic on a non-leaf), so the next
     * fault there must link a table again; the tables go back to the store after an RCU barrier.
     *
     * @return tables unlinked.
     */
    static int unlinkLeafTables(final Vm vm, final TdpIter iter, final long start, final long end)
    {
        final TdpMmu mmu = vm.mmu();
        int unlinked = 0;
        mmu.lock().readLock();
        mmu.rcu().readLock();
        try
        {
            for (iter.start(mmu.rootPfn(), mmu.rootLevel(), Spte.PG_LEVEL_2M, start, end); iter.valid(); iter.next())
            {
                if (iter.level() != Spte.PG_LEVEL_2M || !Spte.isPresentTable(iter.oldSpte(), iter.level()))
                {
                    continue;
                }
                if (!mmu.zapSpteAtomic(iter))
                {
                    throw new IllegalStateException("lost a zap race in a single-threaded set-up");
                }
                unlinked++;
            }
        }
        finally
        {
            mmu.rcu().readUnlock();
            mmu.lock().readUnlock();
        }
        vm.rcu().barrier();
        return unlinked;
    }

    /**
     * Zaps the 4 KiB leaves of [start, end) one by one with the atomic zap under the read lock
     * (kernel: tdp_mmu_zap_spte_atomic), leaving the tables linked. Unlike {@code Vm.invalidate}
     * it never takes the write lock, so a thread may reset its own range while another thread's
     * faults run.
     *
     * @return leaves zapped.
     */
    static int zapLeavesShared(final Vm vm, final TdpIter iter, final long start, final long end)
    {
        final TdpMmu mmu = vm.mmu();
        int zapped = 0;
        mmu.lock().readLock();
        mmu.rcu().readLock();
        try
        {
            for (iter.start(mmu.rootPfn(), mmu.rootLevel(), Spte.PG_LEVEL_4K, start, end); iter.valid(); iter.next())
            {
                if (iter.level() != Spte.PG_LEVEL_4K || !Spte.isPresentLeaf(iter.oldSpte(), iter.level()))
                {
                    continue;
                }
                if (!mmu.zapSpteAtomic(iter))
                {
                    throw new IllegalStateException("lost a zap race on a range only this thread touches");
                }
                zapped++;
            }
        }
        finally
        {
            mmu.rcu().readUnlock();
            mmu.lock().readUnlock();
        }
        return zapped;
    }

    /**
     * Positions {@code iter} on the entry of {@code gfn} at {@code level} (the walk descends through
     * present tables only). Caller is inside an RCU read-side section, or the structure is stable.
     */
    static TdpIter seek(final TdpMmu mmu, final TdpIter iter, final long gfn, final int level)
    {
        for (iter.start(mmu.rootPfn(), mmu.rootLevel(), level, gfn, gfn + 1); iter.valid(); iter.next())
        {
            if (iter.level() == level)
            {
                return iter;
            }
        }
        throw new IllegalStateException("no level-" + level + " entry reachable for gfn 0x" + Long.toHexString(gfn));
    }

    /** Present leaves a pre-order walk finds at {@code level} in [start, end): a set-up check. */
    static int countLeaves(final Vm vm, final TdpIter iter, final long start, final long end, final int level)
    {
        final TdpMmu mmu = vm.mmu();
        int n = 0;
        mmu.rcu().readLock();
        try
        {
            for (iter.start(mmu.rootPfn(), mmu.rootLevel(), Spte.PG_LEVEL_4K, start, end); iter.valid(); iter.next())
            {
                if (iter.level() == level && Spte.isPresentLeaf(iter.oldSpte(), level))
                {
                    n++;
                }
            }
        }
        finally
        {
            mmu.rcu().readUnlock();
        }
        return n;
    }

    /** Maps every 2 MiB region of {@code slot} with one 2 MiB leaf (a region already mapped faults spuriously). */
    static void mapHuge(final Vm vm, final TdpIter iter, final MmuMemoryCache cache, final Memslot slot,
        final int regions)
    {
        faultAll(vm, iter, cache, slot.baseGfn(), slot.endGfn(), PAGES_2M, true);
        check(countLeaves(vm, iter, slot.baseGfn(), slot.endGfn(), Spte.PG_LEVEL_2M) == regions,
            "every region is one 2 MiB leaf");
    }

    static void check(final boolean condition, final String what)
    {
        if (!condition)
        {
            throw new IllegalStateException("benchmark set-up check failed: " + what);
        }
    }
}
