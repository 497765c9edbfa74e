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
import org.tdpmmu.core.TestHook;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;

/**
 * KVM_GET_DIRTY_LOG against the write fault that dirties the page, with the bitmap and
 * write-protect logging (kernel: fast_page_fault restores W with a cmpxchg, then
 * mark_page_dirty_in_slot sets the bit; kvm_get_dirty_log_protect exchanges each bitmap word and
 * write-protects the pages it took). The bitmap twin of {@link RingResetVsWriteFault}: the
 * catalogue had no bitmap race of a write-protect-mode fast fault against the harvest, which is
 * why a mark made before the cmpxchg (mutant 01) escaped every listed race. A write after both
 * must be in the next harvest: the harvest that took the bit must have re-protected the page after
 * W came back, or W must not have come back before the bit was set.
 *
 * <p>The window a mark made too early opens is a few instructions wide, and the harvest's
 * exchange and its walk to the SPTE must both fit in it: unforced, 91,000 samples of mutant 01
 * at 600 ms showed none. So a test hook forces it with a bounded wait (outcomes never depend on
 * it): the fast fault, about to cmpxchg W back, waits until the harvest has returned. Correct
 * code has not marked the page yet there, so the harvest takes nothing and the fault marks after
 * its cmpxchg; a mark made before the cmpxchg is taken, the harvest re-protects a page that is
 * still read-only, and the cmpxchg then gives W back with the bit gone.
 */
@JCStressTest
@Description("KVM_GET_DIRTY_LOG vs the fast write fault: a write after the harvest is never missed.")
@Outcome(id = "racing-harvest", expect = ACCEPTABLE, desc = "The racing harvest took the bit and re-protected; the later write set it again.")
@Outcome(id = "next-harvest", expect = ACCEPTABLE, desc = "The racing harvest ran before the bit was set; the next harvest took both writes.")
@Outcome(id = Probe.LOST_DIRTY, expect = FORBIDDEN,
    desc = "The later write is not in the next harvest: the harvest re-protected before the fault restored W, or not at all.")
@Outcome(id = Probe.LOST_WRITE, expect = FORBIDDEN, desc = "The written value is not in the frame.")
@Outcome(id = Probe.LEAK, expect = FORBIDDEN, desc = "A page table outlived the VM's teardown.")
@Outcome(expect = FORBIDDEN, desc = "Any exception inside the MMU.")
@State
public class GetDirtyLogVsWriteFault
{
    private static final long GFN = 7;
    /** Bound of the hook-forced wait ({@link BoundedWait}): as FastInvalidationVsEagerSplit's. */
    private static final int MAX_SPINS = 3 << 10;

    private final Vm vm = StressVm.create();
    private final Rendezvous rendezvous = new Rendezvous();
    private final Memslot slot = vm.addMemslot(0, 1024, Backing.PAGE_4K);
    private final Vcpu vcpu = vm.createVcpu();
    private final DirtyLogging log = new DirtyLogging(vm);
    private long[] racing;
    private String vcpuFailure;
    private String harvestFailure;
    /** The harvest actor's end: the fault's wait stops there. */
    private volatile boolean harvestDone;

    public GetDirtyLogVsWriteFault()
    {
        log.enable(slot, Memslot.LOG_WRPROT, false);
        // Mapped read-only and MMU-writable: the first write takes the fast fault.
        vcpu.read(GFN);
        vcpu.exitGuest();
        vm.mmu().setTestHook((point, gfn) ->
        {
            if (point == TestHook.Point.FAST_PF_BEFORE_CMPXCHG && gfn == GFN)
            {
                BoundedWait.until(() -> harvestDone, MAX_SPINS);
            }
        });
    }

    @Actor
    public void write()
    {
        rendezvous.meet(0);
        vcpuFailure = Probe.guestWrite(vcpu, GFN, 2);
    }

    @Actor
    public void harvest()
    {
        rendezvous.meet(1);
        harvestFailure = Probe.attempt(() -> racing = log.getDirtyLog(slot, false));
        harvestDone = true;
    }

    @Arbiter
    public void arbiter(final L_Result r)
    {
        r.r1 = Probe.outcome(this::afterBoth, vcpuFailure, harvestFailure);
    }

    /** A later write, then the next harvest: it must hold the page whatever the racing one took. */
    private String afterBoth()
    {
        final String later = Probe.guestWrite(vcpu, GFN, 3);
        if (later != null)
        {
            return later;
        }
        final boolean inNext = Probe.dirty(log.getDirtyLog(slot, false), GFN);
        if (Probe.content(vm, slot, GFN) != 3)
        {
            return Probe.LOST_WRITE;
        }
        if (Probe.leakedAfterDestroy(vm) != 0)
        {
            return Probe.LEAK;
        }
        if (!inNext)
        {
            return Probe.LOST_DIRTY;
        }
        return Probe.dirty(racing, GFN) ? "racing-harvest" : "next-harvest";
    }
}
