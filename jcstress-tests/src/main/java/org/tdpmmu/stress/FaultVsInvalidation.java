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
import org.tdpmmu.core.Memslot;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;

/**
 * A vCPU write faults on a gfn while the host migrates the page behind it (kernel:
 * migrate_pages between mmu_notifier_invalidate_range_start and _end). The fault samples
 * mmu_invalidate_seq before it looks the pfn up and, under the MMU lock, gives up if an
 * invalidation covering the gfn is in progress or ended since the sample
 * (mmu_invalidate_retry_gfn). So the pfn it installs is never one the host has already taken away.
 */
@JCStressTest
@Description("A fault against an invalidation of its gfn: no stale pfn is ever installed, no write is lost.")
@Outcome(id = "fault-first", expect = ACCEPTABLE,
    desc = "The fault installed the old frame, then the invalidation zapped it and the migration copied the write.")
@Outcome(id = "invalidation-first", expect = ACCEPTABLE,
    desc = "The fault retried until the invalidation ended, then installed the new frame.")
@Outcome(id = Probe.STALE_PFN, expect = FORBIDDEN,
    desc = "After the invalidation ended an SPTE still maps the old, freed frame: the fault skipped the retry check.")
@Outcome(id = Probe.STALE_TRANSLATION, expect = FORBIDDEN,
    desc = "The vCPU wrote to the freed old frame through a translation the invalidation should have prevented.")
@Outcome(id = Probe.LOST_WRITE, expect = FORBIDDEN, desc = "The written value is not in the frame that backs the gfn now.")
@Outcome(expect = FORBIDDEN, desc = "Any other exception inside the MMU, or a leaked table.")
@State
public class FaultVsInvalidation
{
    private static final long GFN = 7;
    private static final long VALUE = 0x33;

    private final Vm vm = StressVm.create();
    private final Rendezvous rendezvous = new Rendezvous();
    private final Memslot slot = vm.addMemslot(0, 1024, Backing.PAGE_4K);
    private final Vcpu vcpu = vm.createVcpu();
    private String faultFailure;
    private String hostFailure;

    @Actor
    public void fault()
    {
        rendezvous.meet(0);
        faultFailure = Probe.guestWrite(vcpu, GFN, VALUE);
    }

    @Actor
    public void migrate()
    {
        rendezvous.meet(1);
        try
        {
            vm.migrate(slot, GFN, 1);
        }
        catch (final Throwable t)
        {
            hostFailure = Probe.classify(t);
        }
    }

    @Arbiter
    public void arbiter(final L_Result r)
    {
        r.r1 = outcome();
    }

    private String outcome()
    {
        if (faultFailure != null)
        {
            return faultFailure;
        }
        if (hostFailure != null)
        {
            return hostFailure;
        }
        try
        {
            if (Probe.stalePfn(vm, slot, GFN))
            {
                return Probe.STALE_PFN;
            }
            if (Probe.content(vm, slot, GFN) != VALUE)
            {
                return Probe.LOST_WRITE;
            }
            final boolean mapped = Probe.mapped(vm, GFN);
            if (Probe.leakedAfterDestroy(vm) != 0)
            {
                return Probe.LEAK;
            }
            return mapped ? "invalidation-first" : "fault-first";
        }
        catch (final Throwable t)
        {
            return Probe.classify(t);
        }
    }
}
