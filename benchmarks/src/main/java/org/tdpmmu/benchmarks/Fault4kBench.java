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
 * A 4 KiB fault into an existing table: the EPT-violation handler {@code TdpMmu.pageFault}
 * (kernel: kvm_tdp_page_fault: the lockless fast path's walk, the page-table cache top-up, the
 * mmu_notifier sequence sample, the pfn lookup, then kvm_tdp_mmu_map under the MMU read lock),
 * called directly with a vCPU-style iterator and memory cache; write faults in a slot without
 * dirty logging. No vCPU exists, so no TLB is involved.
 *
 * <p>An invocation faults 8192 gfns (16 leaf tables) whose leaves the untimed per-invocation set-up
 * zapped with {@code vm.invalidate} (mmu_notifier invalidate start/end: the leaves go, the tables
 * stay), so each fault installs one leaf into an existing table. A batch takes milliseconds, above
 * the one-millisecond floor JMH's javadoc sets for {@code Level.Invocation}.
 */
@State(Scope.Thread)
@AuxCounters(AuxCounters.Type.EVENTS)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class Fault4kBench
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

    static final int BATCH = 8192;

    private Vm vm;
    private TdpMmu mmu;
    private TdpIter iter;
    private TdpIter setupIter;
    private MmuMemoryCache cache;
    private long base;
    private long installedBefore;

    @Setup(Level.Trial)
    public void setUp()
    {
        // The kernel preset of TDPMMU_KERNEL (default the newest): the SPTE layouts side by side.
        vm = new Vm(KernelRelease.fromEnvironment().apply(VmConfig.small()));
        mmu = vm.mmu();
        final Memslot slot = vm.addMemslot(Fixtures.BASE_GFN, BATCH, Backing.PAGE_4K);
        base = slot.baseGfn();
        iter = new TdpIter(vm.store());
        setupIter = new TdpIter(vm.store());
        cache = new MmuMemoryCache(vm.store(), mmu.rootLevel(), vm.counters());
        Fixtures.faultAll(vm, setupIter, cache, base, base + BATCH, 1, true);
    }

    @TearDown(Level.Trial)
    public void tearDown()
    {
        cache.free();
        vm.close();
    }

    @Setup(Level.Invocation)
    public void zapLeaves()
    {
        vm.invalidate(base, base + BATCH);
        Fixtures.check(Fixtures.countLeaves(vm, setupIter, base, base + BATCH, 1) == 0, "the leaves are gone");
        installedBefore = vm.counters().faultInstalled.sum();
        begin();
    }

    @TearDown(Level.Invocation)
    public void checkInstalled()
    {
        end(BATCH);
        Fixtures.check(vm.counters().faultInstalled.sum() - installedBefore == BATCH, "every fault installed a leaf");
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void fault4kExistingTable(final Blackhole bh)
    {
        final long end = base + BATCH;
        for (long gfn = base; gfn < end; gfn++)
        {
            bh.consume(mmu.pageFault(iter, cache, gfn, true));
        }
    }
}
