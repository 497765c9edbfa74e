package org.tdpmmu.benchmarks;

import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.tdpmmu.core.Backing;
import org.tdpmmu.core.DirtyLogging;
import org.tdpmmu.core.Memslot;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;
import org.tdpmmu.core.VmConfig;

/**
 * Harvesting the dirty bitmap of a 1 GiB memslot (262144 pages of 4 KiB, a 32 KiB bitmap) with
 * KVM_GET_DIRTY_LOG in manual-protect mode (what QEMU uses with
 * KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2): every bit set, the bitmap copied with one bulk copy into the
 * caller's array ({@code DirtyLogging.getDirtyLog(slot, true, out)}, as the ioctl fills the user's
 * buffer; {@code DirtyBitmap.copyTo}). Nothing changes, so no per-invocation set-up.
 * Limit: a sequential read of 32 KiB. See {@link HarvestReprotectBench} for the harvest that
 * also write-protects.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class HarvestBench
{
    static final long PAGES = 1L << 18;

    private Vm vm;
    private Memslot slot;
    private DirtyLogging log;
    /** The caller's buffer, reused by every harvest (QEMU keeps one per memslot). */
    private long[] out;

    @Setup(Level.Trial)
    public void setUp()
    {
        vm = new Vm(VmConfig.small());
        slot = vm.addMemslot(Fixtures.BASE_GFN, PAGES, Backing.PAGE_4K);
        log = new DirtyLogging(vm);
        out = new long[slot.dirtyBitmap().words()];
        final Vcpu vcpu = vm.createVcpu();
        for (long g = slot.baseGfn(); g < slot.endGfn(); g++)
        {
            vcpu.write(g, g);
        }
        log.enable(slot, Memslot.LOG_WRPROT, false);
        for (long g = slot.baseGfn(); g < slot.endGfn(); g++)
        {
            vcpu.write(g, g + 1);
        }
        vcpu.exitGuest();
        Fixtures.check(slot.dirtyBitmap().cardinality() == PAGES, "every page is dirty");
    }

    @TearDown(Level.Trial)
    public void tearDown()
    {
        vm.close();
    }

    @Benchmark
    public long[] harvest1GiBManualProtect()
    {
        return log.getDirtyLog(slot, true, out);
    }
}
