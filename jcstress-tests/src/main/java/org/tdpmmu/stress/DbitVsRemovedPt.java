package org.tdpmmu.stress;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.L_Result;
import org.tdpmmu.core.Backing;
import org.tdpmmu.core.DirtyLogging;
import org.tdpmmu.core.Memslot;
import org.tdpmmu.core.Spte;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;

/**
 * With D-bit dirty logging on, a vCPU writes a page whose leaf is writable and clean, so the
 * hardware walk sets D with a cmpxchg, while another thread atomically zaps the level-2 entry above
 * the leaf's table. handle_removed_pt then freezes each entry of the unlinked table with an atomic
 * exchange and carries a set D bit into the dirty bitmap (kernel: handle_changed_spte →
 * handle_changed_spte_dirty_log). Either the D bit reaches the log through the removal, or the
 * write comes after the zap, faults, and the fault marks the page.
 */
@JCStressTest
@Description("A hardware D-bit set against handle_removed_pt freezing the leaf: the dirty page reaches the log.")
@Outcome(id = "write-then-zap", expect = ACCEPTABLE,
    desc = "The walk set D, then the removal froze the leaf and carried D to the bitmap.")
@Outcome(id = "zap-then-write", expect = ACCEPTABLE,
    desc = "The zap came first; the write faulted, and the fault marked the page dirty.")
@Outcome(id = Probe.LOST_DIRTY, expect = FORBIDDEN,
    desc = "The harvest does not report the page: the D bit was dropped with the removed table.")
@Outcome(id = Probe.EXTRA_DIRTY, expect = FORBIDDEN,
    desc = "A harvest reports a page nobody wrote since the last harvest that reported it (property 7).")
@Outcome(id = Probe.USE_AFTER_FREE, expect = FORBIDDEN, desc = "A table was touched after it was freed.")
@Outcome(expect = FORBIDDEN, desc = "A lost write, a leaked table, or any other exception inside the MMU.")
@State
public class DbitVsRemovedPt
{
    private static final long GFN = 7;
    private static final long VALUE = 5;

    private final Vm vm = StressVm.create();
    private final Rendezvous rendezvous = new Rendezvous();
    private final Memslot slot = vm.addMemslot(0, 1024, Backing.PAGE_4K);
    private final Vcpu vcpu = vm.createVcpu();
    private final DirtyLogging log = new DirtyLogging(vm);
    private String vcpuFailure;
    private String zapFailure;

    public DbitVsRemovedPt()
    {
        log.enable(slot, Memslot.LOG_DBIT, false);
        // A read fault in a D-bit-logged slot maps the page writable and clean.
        vcpu.read(GFN);
        vcpu.exitGuest();
    }

    @Actor
    public void write()
    {
        rendezvous.meet(0);
        vcpuFailure = Probe.guestWrite(vcpu, GFN, VALUE);
    }

    @Actor
    public void zap()
    {
        rendezvous.meet(1);
        zapFailure = Probe.zapAndReclaim(vm, GFN, Spte.PG_LEVEL_2M);
    }

    @Arbiter
    public void arbiter(final L_Result r)
    {
        r.r1 = outcome();
    }

    private String outcome()
    {
        if (vcpuFailure != null)
        {
            return vcpuFailure;
        }
        if (zapFailure != null)
        {
            return zapFailure;
        }
        try
        {
            final boolean mapped = Probe.mapped(vm, GFN);
            final long[] harvest = log.getDirtyLog(slot, false);
            final boolean dirty = Probe.dirty(harvest, GFN);
            if (!Probe.onlyDirty(harvest, GFN))
            {
                return Probe.EXTRA_DIRTY;
            }
            if (Probe.content(vm, slot, GFN) != VALUE)
            {
                return Probe.LOST_WRITE;
            }
            if (Probe.leakedAfterDestroy(vm) != 0)
            {
                return Probe.LEAK;
            }
            return !dirty ? Probe.LOST_DIRTY : mapped ? "zap-then-write" : "write-then-zap";
        }
        catch (final Throwable t)
        {
            return Probe.classify(t);
        }
    }
}
