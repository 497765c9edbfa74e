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
import org.tdpmmu.core.TdpIter;
import org.tdpmmu.core.TdpMmu;
import org.tdpmmu.core.Vm;
import org.tdpmmu.core.KernelRelease;
import org.tdpmmu.core.VmConfig;

/**
 * A fault that links a table: as {@link Fault4kBench}, on the first gfn of each of 1024 2 MiB
 * regions whose 4 KiB table the untimed per-invocation set-up unlinked (the MMU's atomic zap of
 * the 2 MiB-level entry, then an RCU barrier that frees the table). Each fault takes a zeroed table
 * from its memory cache (the top-up before the lock refills it from the store, zeroing a
 * recycled page), links it with a cmpxchg and installs the 4 KiB leaf.
 */
@State(Scope.Thread)
@AuxCounters(AuxCounters.Type.EVENTS)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class FaultLinkBench
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

    static final int BATCH = 1024;

    private Vm vm;
    private TdpMmu mmu;
    private TdpIter iter;
    private TdpIter setupIter;
    private MmuMemoryCache cache;
    private long base;
    private long end;
    private long linkedBefore;

    @Setup(Level.Trial)
    public void setUp()
    {
        // The kernel preset of TDPMMU_KERNEL (default the newest): the SPTE layouts side by side.
        vm = new Vm(KernelRelease.fromEnvironment().apply(VmConfig.small()).withTableCapacity(8192));
        mmu = vm.mmu();
        final Memslot slot = vm.addMemslot(Fixtures.BASE_GFN, BATCH * Fixtures.PAGES_2M, Backing.PAGE_4K);
        base = slot.baseGfn();
        end = slot.endGfn();
        iter = new TdpIter(vm.store());
        setupIter = new TdpIter(vm.store());
        cache = new MmuMemoryCache(vm.store(), mmu.rootLevel(), vm.counters());
        Fixtures.faultAll(vm, setupIter, cache, base, end, Fixtures.PAGES_2M, true);
    }

    @TearDown(Level.Trial)
    public void tearDown()
    {
        cache.free();
        vm.close();
    }

    @Setup(Level.Invocation)
    public void unlinkTables()
    {
        Fixtures.check(Fixtures.unlinkLeafTables(vm, setupIter, base, end) == BATCH, "every region's table was unlinked");
        linkedBefore = vm.counters().tablesLinked.sum();
        begin();
    }

    @TearDown(Level.Invocation)
    public void checkLinked()
    {
        end(BATCH);
        Fixtures.check(vm.counters().tablesLinked.sum() - linkedBefore == BATCH, "every fault linked a table");
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void faultLinksTable(final Blackhole bh)
    {
        for (long gfn = base; gfn < end; gfn += Fixtures.PAGES_2M)
        {
            bh.consume(mmu.pageFault(iter, cache, gfn, true));
        }
    }
}
