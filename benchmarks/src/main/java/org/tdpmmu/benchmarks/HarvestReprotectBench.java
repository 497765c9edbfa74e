package org.tdpmmu.benchmarks;

import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.infra.Blackhole;
import org.tdpmmu.core.Backing;
import org.tdpmmu.core.DirtyLogging;
import org.tdpmmu.core.Memslot;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;
import org.tdpmmu.core.VmConfig;

/**
 * Harvesting the dirty log of a 1 GiB memslot with KVM_GET_DIRTY_LOG without manual protect
 * (kernel: kvm_get_dirty_log_protect): under the MMU write lock each 64-page bitmap word is
 * exchanged with 0 and its pages write-protected again (kvm_tdp_mmu_clear_dirty_pt_masked, one
 * atomic bit clear per SPTE), then one TLB flush; the result goes into the caller's array, reused by
 * every harvest. Every page is dirty: the untimed per-invocation
 * set-up writes all 262144 pages through a vCPU (each write takes the lockless fast fault that
 * restores W and sets the bit), which takes far longer than the harvest. One invocation is one
 * harvest of several milliseconds. Limit: a sequential read of the bytes it must touch, the 2 MiB
 * of leaf SPTEs plus the 32 KiB bitmap.
 */
@State(Scope.Thread)
@AuxCounters(AuxCounters.Type.EVENTS)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class HarvestReprotectBench
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

    static final long PAGES = HarvestBench.PAGES;

    private Vm vm;
    private Memslot slot;
    private DirtyLogging log;
    private Vcpu vcpu;
    private long[] out;

    @Setup(Level.Trial)
    public void setUp()
    {
        vm = new Vm(VmConfig.small());
        slot = vm.addMemslot(Fixtures.BASE_GFN, PAGES, Backing.PAGE_4K);
        log = new DirtyLogging(vm);
        out = new long[slot.dirtyBitmap().words()];
        vcpu = vm.createVcpu();
        for (long g = slot.baseGfn(); g < slot.endGfn(); g++)
        {
            vcpu.write(g, g);
        }
        vcpu.exitGuest();
        log.enable(slot, Memslot.LOG_WRPROT, false);
    }

    @TearDown(Level.Trial)
    public void tearDown()
    {
        vm.close();
    }

    @Setup(Level.Invocation)
    public void dirtyEverything()
    {
        for (long g = slot.baseGfn(); g < slot.endGfn(); g++)
        {
            vcpu.write(g, g + 1);
        }
        // Out of guest mode, as a vCPU thread that has stopped: the harvest's flush waits for none.
        vcpu.exitGuest();
        Fixtures.check(slot.dirtyBitmap().cardinality() == PAGES, "every page is dirty");
        begin();
    }

    @TearDown(Level.Invocation)
    public void checkHarvested()
    {
        end(1);
        Fixtures.check(slot.dirtyBitmap().cardinality() == 0, "the harvest cleared the bitmap");
    }

    @Benchmark
    public void harvest1GiBReprotect(final Blackhole bh)
    {
        bh.consume(log.getDirtyLog(slot, false, out));
    }
}
