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
import org.openjdk.jmh.infra.Blackhole;
import org.tdpmmu.core.Backing;
import org.tdpmmu.core.Memslot;
import org.tdpmmu.core.MmuMemoryCache;
import org.tdpmmu.core.Spte;
import org.tdpmmu.core.TdpIter;
import org.tdpmmu.core.TdpMmu;
import org.tdpmmu.core.Vm;
import org.tdpmmu.core.VmConfig;

/**
 * Eager split of a 2 MiB page (kernel: the loop of tdp_mmu_split_huge_pages_root around
 * tdp_mmu_split_huge_page), over a 1 GiB memslot of 2 MiB host pages: under the MMU read lock and
 * one RCU section, a pre-order walk at the 2 MiB level and, for each 2 MiB leaf,
 * {@code TdpMmu.splitHugePage} with a zeroed table from a cache: the 512 child SPTEs written by
 * {@code PageTableStore.fillSplitChildren} (one check, plain stores into the still private
 * table), then the link cmpxchg that publishes them (no flush: translations do not change).
 *
 * <p>An invocation splits the 512 regions ({@code @OperationsPerInvocation(512)}: the figure is per
 * 2 MiB page). The untimed per-invocation set-up unlinks the previous invocation's tables (atomic
 * zap, RCU barrier), faults the regions back in as 2 MiB leaves and fills the cache with 512
 * tables. Limit: a sequential write of 4 KiB (512 longs), the bytes one split writes.
 */
@State(Scope.Thread)
@AuxCounters(AuxCounters.Type.EVENTS)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class SplitBench
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

    static final int REGIONS = 512;

    private Vm vm;
    private TdpMmu mmu;
    private Memslot slot;
    private TdpIter iter;
    private TdpIter setupIter;
    private MmuMemoryCache faultCache;
    private MmuMemoryCache splitCache;
    private long splitsBefore;

    @Setup(Level.Trial)
    public void setUp()
    {
        vm = new Vm(VmConfig.small().withTableCapacity(8192));
        mmu = vm.mmu();
        slot = vm.addMemslot(Fixtures.BASE_GFN, REGIONS * Fixtures.PAGES_2M, Backing.PAGE_2M);
        iter = new TdpIter(vm.store());
        setupIter = new TdpIter(vm.store());
        faultCache = new MmuMemoryCache(vm.store(), mmu.rootLevel(), vm.counters());
        splitCache = new MmuMemoryCache(vm.store(), REGIONS, vm.counters());
    }

    @TearDown(Level.Trial)
    public void tearDown()
    {
        faultCache.free();
        splitCache.free();
        vm.close();
    }

    @Setup(Level.Invocation)
    public void prepare()
    {
        Fixtures.unlinkLeafTables(vm, setupIter, slot.baseGfn(), slot.endGfn());
        Fixtures.mapHuge(vm, setupIter, faultCache, slot, REGIONS);
        splitCache.topup(REGIONS);
        splitsBefore = vm.counters().splits.sum();
        begin();
    }

    @TearDown(Level.Invocation)
    public void checkSplit()
    {
        end(REGIONS);
        Fixtures.check(vm.counters().splits.sum() - splitsBefore == REGIONS, "every region was split");
    }

    @Benchmark
    @OperationsPerInvocation(REGIONS)
    public void split2MiB(final Blackhole bh)
    {
        mmu.lock().readLock();
        mmu.rcu().readLock();
        try
        {
            for (iter.start(mmu.rootPfn(), mmu.rootLevel(), Spte.PG_LEVEL_2M, slot.baseGfn(), slot.endGfn());
                iter.valid(); iter.next())
            {
                if (iter.level() == Spte.PG_LEVEL_2M && Spte.isPresentLeaf(iter.oldSpte(), Spte.PG_LEVEL_2M))
                {
                    bh.consume(mmu.splitHugePage(iter, splitCache.take()));
                }
            }
        }
        finally
        {
            mmu.rcu().readUnlock();
            mmu.lock().readUnlock();
        }
    }
}
