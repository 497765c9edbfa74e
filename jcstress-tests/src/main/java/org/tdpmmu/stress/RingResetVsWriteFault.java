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

/**
 * KVM_RESET_DIRTY_RINGS against the write fault that dirties the page (kernel: fast_page_fault
 * restores W with cmpxchg, then mark_page_dirty_in_slot pushes; the reset re-protects each page
 * it takes from the ring). The collector spins until it collects the entry, then resets. A write
 * after both must be reported: the reset must have re-protected the page after W came back.
 */
@JCStressTest
@Description("Dirty-ring reset vs the write fault: a write after the reset is never missed.")
@Outcome(id = "racing-harvest", expect = ACCEPTABLE, desc = "The racing harvest took the entry; the later write pushed again.")
@Outcome(id = "next-harvest", expect = ACCEPTABLE, desc = "The collector gave up; the next harvest took both writes' entry.")
@Outcome(id = Probe.LOST_DIRTY, expect = FORBIDDEN,
    desc = "The later write is not reported: the reset re-protected the page before the fault restored W.")
@Outcome(id = Probe.LOST_WRITE, expect = FORBIDDEN, desc = "The written value is not in the frame.")
@Outcome(expect = FORBIDDEN, desc = "Any exception inside the MMU.")
@State
public class RingResetVsWriteFault
{
    private static final long GFN = 7;
    private static final int SPINS = 1 << 12;

    private final RingVm r = new RingVm().mapReadOnly(GFN);
    private final Rendezvous rendezvous = new Rendezvous();
    private String vcpuFailure;
    private String harvestFailure;
    private long racing;

    @Actor
    public void write()
    {
        rendezvous.meet(0);
        vcpuFailure = Probe.guestWrite(r.vcpu, GFN, 2);
    }

    @Actor
    public void harvest()
    {
        rendezvous.meet(1);
        try
        {
            final long m = r.collectPolling(SPINS);
            r.log.resetDirtyRings(r.vm.vcpus());
            racing = m;
        }
        catch (final Throwable t)
        {
            harvestFailure = Probe.classify(t);
        }
    }

    @Arbiter
    public void arbiter(final L_Result res)
    {
        res.r1 = outcome();
    }

    private String outcome()
    {
        if (vcpuFailure != null)
        {
            return vcpuFailure;
        }
        if (harvestFailure != null)
        {
            return harvestFailure;
        }
        try
        {
            final String later = Probe.guestWrite(r.vcpu, GFN, 3);
            if (later != null)
            {
                return later;
            }
            final long next = r.harvest();
            if (Probe.content(r.vm, r.slot, GFN) != 3)
            {
                return Probe.LOST_WRITE;
            }
            if (next != 1L << GFN)
            {
                return Probe.LOST_DIRTY;
            }
            return racing != 0 ? "racing-harvest" : "next-harvest";
        }
        catch (final Throwable t)
        {
            return Probe.classify(t);
        }
    }
}
