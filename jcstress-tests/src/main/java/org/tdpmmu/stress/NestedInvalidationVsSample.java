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
import org.tdpmmu.core.TdpMmu;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;

/**
 * Nested invalidations against a fault's sequence sample: the host opens an invalidation over a
 * whole 2 MiB region, migrates one page inside it (a nested start/end that changes the pfn), and
 * only then ends the outer one. The inner end bumps mmu_invalidate_seq and drops the in-progress
 * count to 1, but the outer range still covers the gfn (kernel: mmu_invalidate_range_start widens
 * the range while in_progress > 0). A fault that samples anywhere in this window must retry
 * until the outer end, and the pfn it finally installs must be the new one.
 */
@JCStressTest
@Description("Nested invalidations against a fault's sequence sample: no SPTE inside an open invalidation, no stale pfn.")
@Outcome(id = "fault-first", expect = ACCEPTABLE,
    desc = "The fault finished before the outer start, which zapped its translation.")
@Outcome(id = "invalidation-first", expect = ACCEPTABLE,
    desc = "The fault retried until the outer invalidation ended, then mapped the migrated frame.")
@Outcome(id = "installed-during-invalidation", expect = FORBIDDEN,
    desc = "Between the inner and the outer end an SPTE mapped the gfn: the retry check missed the outer range.")
@Outcome(id = Probe.STALE_PFN, expect = FORBIDDEN, desc = "After both ends an SPTE still maps the old, freed frame.")
@Outcome(id = Probe.STALE_TRANSLATION, expect = FORBIDDEN, desc = "The vCPU wrote to the freed old frame.")
@Outcome(id = Probe.LOST_WRITE, expect = FORBIDDEN, desc = "The written value is not in the frame that backs the gfn now.")
@Outcome(expect = FORBIDDEN, desc = "Any other exception inside the MMU, or a leaked table.")
@State
public class NestedInvalidationVsSample
{
    private static final long OUTER_START = 0;
    private static final long OUTER_END = 512;
    private static final long GFN = 7;
    private static final long VALUE = 0x34;

    private final Vm vm = StressVm.create();
    private final Rendezvous rendezvous = new Rendezvous();
    private final Memslot slot = vm.addMemslot(0, 1024, Backing.PAGE_4K);
    private final Vcpu vcpu = vm.createVcpu();
    private boolean mappedInsideOuter;
    private String faultFailure;
    private String hostFailure;

    @Actor
    public void fault()
    {
        rendezvous.meet(0);
        faultFailure = Probe.guestWrite(vcpu, GFN, VALUE);
    }

    @Actor
    public void nestedInvalidations()
    {
        rendezvous.meet(1);
        final TdpMmu mmu = vm.mmu();
        try
        {
            mmu.invalidateRangeStart(OUTER_START, OUTER_END);
            try
            {
                vm.migrate(slot, GFN, 1);
                mappedInsideOuter = Probe.mapped(vm, GFN);
            }
            finally
            {
                mmu.invalidateRangeEnd(OUTER_START, OUTER_END);
            }
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
        if (mappedInsideOuter)
        {
            return "installed-during-invalidation";
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
