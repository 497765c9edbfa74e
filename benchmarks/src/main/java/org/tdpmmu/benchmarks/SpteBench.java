package org.tdpmmu.benchmarks;

import java.util.concurrent.TimeUnit;

import org.agrona.BufferUtil;
import org.agrona.concurrent.UnsafeBuffer;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.infra.ThreadParams;
import org.tdpmmu.core.Backing;
import org.tdpmmu.core.MmuMemoryCache;
import org.tdpmmu.core.PageTableStore;
import org.tdpmmu.core.Spte;
import org.tdpmmu.core.TdpIter;
import org.tdpmmu.core.TdpMmu;
import org.tdpmmu.core.Vm;
import org.tdpmmu.core.VmConfig;

/**
 * Atomic SPTE updates: {@code TdpMmu.setSpteAtomic} (kernel: tdp_mmu_set_spte_atomic: cmpxchg,
 * then handle_changed_spte) and the store's {@code cmpxchgSpte} accessor under it, each beside a
 * bare 64-bit CAS on an aligned off-heap word.
 *
 * <p>Each thread toggles the accessed bit of its own leaf: thread i owns the SPTE at index i of one
 * 4 KiB table, so with 2 threads the two SPTEs share one 64-byte cache line (as two vCPUs faulting
 * neighbouring pages do), and the limit's two words share one line the same way. No cmpxchg ever
 * fails. {@code setSpteAtomic} asserts the MMU lock is held for read: each thread takes it (and an
 * RCU read-side section) in a per-iteration set-up and keeps it for the whole iteration;
 * nothing waits for the write lock here.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class SpteBench
{
    /** One VM with one mapped 2 MiB region of 4 KiB pages, shared by the threads. */
    @State(Scope.Benchmark)
    public static class Shared
    {
        Vm vm;
        long base;
        UnsafeBuffer line;

        @Setup(Level.Trial)
        public void setUp()
        {
            vm = new Vm(VmConfig.small());
            base = vm.addMemslot(Fixtures.BASE_GFN, Fixtures.PAGES_2M, Backing.PAGE_4K).baseGfn();
            final TdpIter iter = new TdpIter(vm.store());
            final MmuMemoryCache cache = new MmuMemoryCache(vm.store(), 8);
            Fixtures.faultAll(vm, iter, cache, base, base + 64, 1, false);
            cache.free();
            line = new UnsafeBuffer(BufferUtil.allocateDirectAligned(64, 64));
        }

        @TearDown(Level.Trial)
        public void tearDown()
        {
            vm.close();
        }
    }

    /** A thread's own leaf, with an iterator parked on it and the MMU read lock held. */
    @State(Scope.Thread)
    public static class Mine
    {
        TdpMmu mmu;
        PageTableStore store;
        TdpIter iter;
        long table;
        int index;
        int lineOffset;

        @Setup(Level.Trial)
        public void setUp(final Shared shared, final ThreadParams threads)
        {
            mmu = shared.vm.mmu();
            store = shared.vm.store();
            final int i = threads.getThreadIndex();
            Fixtures.check(i < 8, "at most 8 threads share the line");
            iter = Fixtures.seek(mmu, new TdpIter(store), shared.base + i, Spte.PG_LEVEL_4K);
            table = iter.sptepTable();
            index = iter.sptepIndex();
            Fixtures.check(index == i, "thread " + i + " owns SPTE " + i + " of the table");
            Fixtures.check(Spte.isPresentLeaf(iter.oldSpte(), 1), "the leaf is mapped");
            lineOffset = i * Long.BYTES;
        }

        @Setup(Level.Iteration)
        public void lock()
        {
            mmu.lock().readLock();
            mmu.rcu().readLock();
        }

        @TearDown(Level.Iteration)
        public void unlock()
        {
            mmu.rcu().readUnlock();
            mmu.lock().readUnlock();
        }
    }

    /** The limit: compare-and-exchange of an aligned off-heap word nobody else writes. */
    @Benchmark
    @Threads(1)
    public long limitCas1Thread(final Shared shared, final Mine mine)
    {
        return casLine(shared, mine);
    }

    /** The limit with two threads, each on its own word of one cache line. */
    @Benchmark
    @Threads(2)
    public long limitCas2ThreadsOneLine(final Shared shared, final Mine mine)
    {
        return casLine(shared, mine);
    }

    /** The store's accessor: pfn and index checks, the cmpxchg, the page-live check. */
    @Benchmark
    @Threads(1)
    public long cmpxchgSpte1Thread(final Mine mine)
    {
        return cmpxchgSpte(mine);
    }

    @Benchmark
    @Threads(2)
    public long cmpxchgSpte2ThreadsOneLine(final Mine mine)
    {
        return cmpxchgSpte(mine);
    }

    /** tdp_mmu_set_spte_atomic: the accessor plus the iterator snapshot and handle_changed_spte. */
    @Benchmark
    @Threads(1)
    public boolean setSpteAtomic1Thread(final Mine mine)
    {
        return setSpteAtomic(mine);
    }

    @Benchmark
    @Threads(2)
    public boolean setSpteAtomic2ThreadsOneLine(final Mine mine)
    {
        return setSpteAtomic(mine);
    }

    private static long casLine(final Shared shared, final Mine mine)
    {
        final long old = shared.line.getLongVolatile(mine.lineOffset);
        return shared.line.compareAndExchangeLong(mine.lineOffset, old, old ^ Spte.ACCESSED);
    }

    private static long cmpxchgSpte(final Mine mine)
    {
        final long old = mine.store.lvSpte(mine.table, mine.index);
        return mine.store.cmpxchgSpte(mine.table, mine.index, old, old ^ Spte.ACCESSED);
    }

    private static boolean setSpteAtomic(final Mine mine)
    {
        final TdpIter iter = mine.iter;
        final long next = iter.oldSpte() ^ Spte.ACCESSED;
        if (!mine.mmu.setSpteAtomic(iter, next))
        {
            throw new IllegalStateException("cmpxchg on a thread's own SPTE failed");
        }
        iter.refreshOldSpte(next);
        return true;
    }
}
