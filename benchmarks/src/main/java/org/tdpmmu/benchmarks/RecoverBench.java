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
import org.tdpmmu.core.Backing;
import org.tdpmmu.core.DirtyLogging;
import org.tdpmmu.core.Memslot;
import org.tdpmmu.core.MmuMemoryCache;
import org.tdpmmu.core.RecoveryStrategy;
import org.tdpmmu.core.Spte;
import org.tdpmmu.core.TdpIter;
import org.tdpmmu.core.Vm;
import org.tdpmmu.core.VmConfig;

/**
 * Huge-page recovery when dirty logging is turned off, per 2 MiB page, over a 1 GiB memslot of
 * 2 MiB host pages ({@code @OperationsPerInvocation(512)}). The timed call is
 * {@code DirtyLogging.disable(slot, strategy)}: the log-mode switch, its wait for faults that saw
 * the old mode (the write lock once, one synchronize_rcu), then the strategy's walk, and one TLB
 * flush per slot. The untimed per-invocation set-up runs an RCU barrier (freeing the tables the
 * previous invocation removed), faults any zapped region back in as a 2 MiB leaf, and enables
 * dirty logging with eager split, which turns every 2 MiB leaf into a table of 512 4 KiB leaves.
 * <ul>
 *   <li>{@code promote2MiB}: the 2024 in-place recovery (kernel 6.13+: kvm_tdp_mmu_recover_huge_pages):
 *       read the 512 leaves of each table (one checked copy of the table) and check they agree,
 *       install the huge SPTE with a cmpxchg over the non-leaf entry, then handle_removed_pt
 *       freezes the 512 old entries with atomic exchanges and adds the table to the sweep's one
 *       batched call_rcu. Limit: a sequential read of 4 KiB.</li>
 *   <li>{@code zapHuge2MiB}: the 2022 recovery (kvm_tdp_mmu_zap_collapsible_sptes): zap the
 *       non-leaf entry, the same handle_removed_pt; the next access faults the 2 MiB page back in
 *       (not timed here). Limit: a sequential read of 4 KiB.</li>
 * </ul>
 */
@State(Scope.Thread)
@AuxCounters(AuxCounters.Type.EVENTS)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class RecoverBench
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
    private Memslot slot;
    private DirtyLogging log;
    private TdpIter setupIter;
    private MmuMemoryCache faultCache;

    @Setup(Level.Trial)
    public void setUp()
    {
        vm = new Vm(VmConfig.small().withTableCapacity(8192));
        slot = vm.addMemslot(Fixtures.BASE_GFN, REGIONS * Fixtures.PAGES_2M, Backing.PAGE_2M);
        log = new DirtyLogging(vm);
        setupIter = new TdpIter(vm.store());
        faultCache = new MmuMemoryCache(vm.store(), vm.mmu().rootLevel(), vm.counters());
    }

    @TearDown(Level.Trial)
    public void tearDown()
    {
        faultCache.free();
        vm.close();
    }

    @Setup(Level.Invocation)
    public void splitEverything()
    {
        vm.rcu().barrier();
        Fixtures.mapHuge(vm, setupIter, faultCache, slot, REGIONS);
        log.enable(slot, Memslot.LOG_WRPROT, true);
        Fixtures.check(Fixtures.countLeaves(vm, setupIter, slot.baseGfn(), slot.endGfn(), Spte.PG_LEVEL_4K) ==
            REGIONS * Fixtures.PAGES_2M, "eager split left only 4 KiB leaves");
        begin();
    }

    @TearDown(Level.Invocation)
    public void checkRecovered()
    {
        end(REGIONS);
        Fixtures.check(Fixtures.countLeaves(vm, setupIter, slot.baseGfn(), slot.endGfn(), Spte.PG_LEVEL_4K) == 0,
            "recovery left no 4 KiB leaf");
    }

    @Benchmark
    @OperationsPerInvocation(REGIONS)
    public void promote2MiB()
    {
        log.disable(slot, RecoveryStrategy.PROMOTE_IN_PLACE.recovery());
    }

    @Benchmark
    @OperationsPerInvocation(REGIONS)
    public void zapHuge2MiB()
    {
        log.disable(slot, RecoveryStrategy.ZAP_HUGE.recovery());
    }
}
