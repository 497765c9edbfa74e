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
 * A vCPU whose ring reaches the soft limit against the collector that harvests and resets it
 * (kernel: kvm_dirty_ring_check_request keeps KVM_REQ_DIRTY_RING_SOFT_FULL pending, so KVM_RUN
 * returns KVM_EXIT_DIRTY_RING_FULL until KVM_RESET_DIRTY_RINGS made room). The ring is one entry
 * short of its soft limit; the vCPU writes two more pages. Its write may finish only after the
 * reset, and its second push must find room.
 *
 * <p>Both sides are bounded, since jcstress may run the actors one after the other: the collector
 * gives up waiting for the soft limit after a while and harvests what there is; the vCPU's
 * userspace handler lets the first exit go (re-entry must then be refused by the kernel side) and
 * from the {@value #SELF_REAP_AFTER}th exit on reaps the ring itself, as QEMU's vCPU thread does.
 * Collect and reset hold the state's monitor: one collector at a time per ring.
 */
@JCStressTest
@Description("Dirty ring full vs reset: the vCPU never re-enters before its ring was reset.")
@Outcome(id = "ok", expect = ACCEPTABLE, desc = "The vCPU waited for the reset; both writes were logged.")
@Outcome(id = "entered-soft-full", expect = FORBIDDEN, desc = "The write finished while the ring was still soft full.")
@Outcome(id = Probe.MMU_BUG, expect = FORBIDDEN, desc = "A push into a soft-full ring: the vCPU re-entered before the reset.")
@Outcome(expect = FORBIDDEN, desc = "Anything else, or any exception inside the MMU.")
@State
public class RingFullVsReset
{
    private static final long FIRST = 600;
    private static final int SPINS = 1 << 14;
    private static final int SELF_REAP_AFTER = 1 << 10;

    private final RingVm r = new RingVm();
    private final Rendezvous rendezvous = new Rendezvous();
    private String vcpuFailure;
    private String harvestFailure;
    private boolean softFullAfterWrite;

    public RingFullVsReset()
    {
        for (int i = 0; i < r.ring().softLimit() - 1; i++)
        {
            r.vcpu.write(i + 1, 1);
        }
        r.vcpu.exitGuest();
        r.vcpu.setDirtyRingFullHandler(v ->
        {
            if (v.dirtyRingFullExits() >= SELF_REAP_AFTER)
            {
                reap();
            }
            Thread.onSpinWait();
        });
    }

    private synchronized void reap()
    {
        r.ring().collect((slot, offset) -> { });
        r.log.resetDirtyRings(r.vm.vcpus());
    }

    @Actor
    public void write()
    {
        rendezvous.meet(0);
        vcpuFailure = Probe.guestWrite(r.vcpu, FIRST, 2);
        softFullAfterWrite = r.ring().softFull();
        if (vcpuFailure == null)
        {
            vcpuFailure = Probe.guestWrite(r.vcpu, FIRST + 1, 2);
        }
    }

    @Actor
    public void harvest()
    {
        rendezvous.meet(1);
        try
        {
            for (int i = 0; i < SPINS && !r.ring().softFull(); i++)
            {
                Thread.onSpinWait();
            }
            reap();
        }
        catch (final Throwable t)
        {
            harvestFailure = Probe.classify(t);
        }
    }

    @Arbiter
    public void arbiter(final L_Result res)
    {
        res.r1 = vcpuFailure != null ? vcpuFailure : harvestFailure != null ? harvestFailure :
            softFullAfterWrite ? "entered-soft-full" : "ok";
    }
}
