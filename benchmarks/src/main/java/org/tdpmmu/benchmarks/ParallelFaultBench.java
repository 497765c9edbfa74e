package org.tdpmmu.benchmarks;

import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.infra.ThreadParams;
import org.tdpmmu.core.Backing;
import org.tdpmmu.core.Memslot;
import org.tdpmmu.core.MmuMemoryCache;
import org.tdpmmu.core.TdpIter;
import org.tdpmmu.core.TdpMmu;
import org.tdpmmu.core.Vm;
import org.tdpmmu.core.VmConfig;
import org.tdpmmu.concurrency.MmuLock;

/**
 * Faults on disjoint ranges from several threads into one VM: run with {@code -t 1} and
 * {@code -t 2} and compare the throughputs (ops/us, summed over threads by JMH).
 *
 * <p>Each thread owns 8192 gfns (16 leaf tables of its own; the upper levels are shared). An
 * invocation faults all of them in (4 KiB write faults into existing tables, as
 * {@link FaultBench#fault4kExistingTable}); the per-invocation set-up zaps the thread's leaves again
 * with the atomic zap under the MMU read lock, so one thread's reset never takes the write lock
 * while the other thread is being measured.
 *
 * <p>Two references, run the same way: {@link #limitPrivateWorkNoLock}, private work about as
 * long as a fault, is the machine's limit for two threads; {@link #limitReadLockAroundWork} adds
 * the same VM's MMU read lock, taken and dropped per operation as each fault does (kernel:
 * read_lock(&kvm->mmu_lock) in kvm_tdp_mmu_page_fault), and shares nothing else: what the model's
 * lock alone costs two threads. It is no bound on the faults: its fixed-length work can fall into
 * step with the other thread's, and the faults have done better than it (BENCHMARKS.md).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class ParallelFaultBench
{
    static final int RANGE = 8192;

    @State(Scope.Benchmark)
    public static class Shared
    {
        Vm vm;
        Memslot slot;

        @Setup(Level.Trial)
        public void setUp(final BenchmarkParams params)
        {
            vm = new Vm(VmConfig.small().withTableCapacity(8192));
            slot = vm.addMemslot(Fixtures.BASE_GFN, (long)RANGE * params.getThreads(), Backing.PAGE_4K);
            final TdpIter iter = new TdpIter(vm.store());
            final MmuMemoryCache cache = new MmuMemoryCache(vm.store(), vm.mmu().rootLevel());
            Fixtures.faultAll(vm, iter, cache, slot.baseGfn(), slot.endGfn(), 1, true);
            cache.free();
        }

        @TearDown(Level.Trial)
        public void tearDown()
        {
            vm.close();
        }
    }

    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.EVENTS)
    public static class Mine
    {
        /** Heap bytes allocated inside the timed invocations (see {@link Fixtures#allocatedBytes}); JMH reports the sum per iteration. */
        public long loopAllocBytes;
        /** Operations those invocations performed, so that loopAllocBytes / loopOps is the loop's B/op. */
        public long loopOps;
        private long allocMark;

        @Setup(Level.Iteration)
        public void resetLoopAlloc()
        {
            loopAllocBytes = 0;
            loopOps = 0;
        }

        private void begin()
        {
            allocMark = Fixtures.allocatedBytes();
        }

        private void end(final long ops)
        {
            loopAllocBytes += Fixtures.allocatedBytes() - allocMark;
            loopOps += ops;
        }

        TdpMmu mmu;
        TdpIter iter;
        TdpIter setupIter;
        MmuMemoryCache cache;
        long start;
        long end;

        @Setup(Level.Trial)
        public void setUp(final Shared shared, final ThreadParams threads)
        {
            mmu = shared.vm.mmu();
            iter = new TdpIter(shared.vm.store());
            setupIter = new TdpIter(shared.vm.store());
            cache = new MmuMemoryCache(shared.vm.store(), mmu.rootLevel());
            start = shared.slot.baseGfn() + (long)RANGE * threads.getThreadIndex();
            end = start + RANGE;
        }

        @Setup(Level.Invocation)
        public void zapMine(final Shared shared)
        {
            Fixtures.check(Fixtures.zapLeavesShared(shared.vm, setupIter, start, end) == RANGE,
                "every leaf of the thread's range was mapped, and is zapped now");
            begin();
        }

        @TearDown(Level.Invocation)
        public void done()
        {
            end(RANGE);
        }

        @TearDown(Level.Trial)
        public void tearDown()
        {
            cache.free();
        }
    }

    @Benchmark
    @OperationsPerInvocation(RANGE)
    public int faultDisjointRanges(final Mine mine)
    {
        int retries = 0;
        for (long gfn = mine.start; gfn < mine.end; gfn++)
        {
            while (mine.mmu.pageFault(mine.iter, mine.cache, gfn, true) == TdpMmu.RET_PF_RETRY)
            {
                retries++;
            }
        }
        return retries;
    }

    /** Steps of {@link #privateWork}: with the lock, one thread takes about as long per op as a fault (BENCHMARKS.md shows both). */
    static final int WORK_STEPS = 88;

    /** A thread's private data for {@link #limitReadLockAroundWork}, on lines no other thread touches. */
    @State(Scope.Thread)
    public static class Work
    {
        final long[] cells = new long[64];
        long seed = 1;
    }

    @Benchmark
    @OperationsPerInvocation(RANGE)
    public long limitReadLockAroundWork(final Shared shared, final Work work)
    {
        final MmuLock lock = shared.vm.mmu().lock();
        final long[] cells = work.cells;
        long x = work.seed;
        for (int i = 0; i < RANGE; i++)
        {
            lock.readLock();
            x = privateWork(cells, x);
            lock.readUnlock();
        }
        work.seed = x;
        return x;
    }

    /**
     * {@link #limitReadLockAroundWork} without the lock: the private work alone, which two threads
     * should do twice as fast as one (the two cores are independent), so that what the lock costs
     * shows in the same run.
     */
    @Benchmark
    @OperationsPerInvocation(RANGE)
    public long limitPrivateWorkNoLock(final Work work)
    {
        final long[] cells = work.cells;
        long x = work.seed;
        for (int i = 0; i < RANGE; i++)
        {
            x = privateWork(cells, x);
        }
        work.seed = x;
        return x;
    }

    /** Loads, arithmetic and stores on the thread's own 64 longs (a 64-bit LCG picking the cell). */
    private static long privateWork(final long[] cells, final long seed)
    {
        long x = seed;
        for (int k = 0; k < WORK_STEPS; k++)
        {
            x = x * 6364136223846793005L + 1442695040888963407L;
            cells[(int)(x >>> 58)] += x;
        }
        return x;
    }
}
