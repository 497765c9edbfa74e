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
 * A vCPU's dirty-ring push against the collector's harvest of the same ring (kernel:
 * kvm_dirty_ring_push publishes DIRTY after slot and offset, behind smp_wmb; userspace reads
 * DIRTY with an acquire load). The collector spins on the entry so it reads it the moment DIRTY
 * is visible; the page must be reported exactly once, by the racing collect or the next one, and
 * with the right offset.
 */
@JCStressTest
@Description("Dirty-ring push vs collect: no entry lost or read before its slot and offset.")
@Outcome(id = "racing-collect", expect = ACCEPTABLE, desc = "The collector read the published entry.")
@Outcome(id = "next-collect", expect = ACCEPTABLE, desc = "The collector gave up first; the next collect read it.")
@Outcome(id = Probe.LOST_DIRTY, expect = FORBIDDEN,
    desc = "The page was never reported: the collector took an entry whose offset was not yet written.")
@Outcome(expect = FORBIDDEN, desc = "Reported twice, a wrong page, or any exception inside the MMU.")
@State
public class RingPushVsCollect
{
    private static final long GFN = 7;
    private static final int SPINS = 1 << 12;

    private final RingVm r = new RingVm().mapReadOnly(GFN);
    private final Rendezvous rendezvous = new Rendezvous();
    private String vcpuFailure;
    private long racing;

    @Actor
    public void write()
    {
        rendezvous.meet(0);
        vcpuFailure = Probe.guestWrite(r.vcpu, GFN, 2);
    }

    @Actor
    public void collect()
    {
        rendezvous.meet(1);
        final long m = r.collectPolling(SPINS);
        racing = m;
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
        try
        {
            final long next = r.collectMask();
            final long page = 1L << GFN;
            if ((racing | next) == 0 || racing == 1 && next == 0)
            {
                return Probe.LOST_DIRTY;
            }
            return racing == page && next == 0 ? "racing-collect" : racing == 0 && next == page ? "next-collect" :
                "racing-" + racing + "-next-" + next;
        }
        catch (final Throwable t)
        {
            return Probe.classify(t);
        }
    }
}
