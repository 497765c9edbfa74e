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
import org.tdpmmu.core.RecoveryStrategy;
import org.tdpmmu.core.TdpMmu;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;

/**
 * In-place promotion against an mmu_notifier invalidation of one page inside the 2 MiB region.
 * The invalidation zaps that page's leaf under the write lock and, until it ends, no translation of
 * the page may come back: the host may be changing the page (kernel contract of
 * invalidate_range_start / _end; faults honour it through mmu_invalidate_retry_gfn). Promotion runs
 * under the read lock and would build a 2 MiB leaf from the remaining leaves, covering the page
 * under invalidation again, so it must skip a region an invalidation in progress overlaps. The host
 * keeps the invalidation open for a few microseconds (as a page copy would), looking for a
 * translation of the page the whole time.
 */
@JCStressTest
@Description("In-place promotion against an invalidation inside its region: no huge page maps a page under invalidation.")
@Outcome(id = "promoted-then-zapped", expect = ACCEPTABLE,
    desc = "Promotion ran first; the invalidation zapped the whole huge leaf.")
@Outcome(id = "promoted-after", expect = ACCEPTABLE,
    desc = "Promotion ran after the invalidation ended and mapped the whole region huge.")
@Outcome(id = "not-promoted", expect = ACCEPTABLE,
    desc = "Promotion found the invalidation in progress over the region and skipped it.")
@Outcome(id = "mapped-during-invalidation", expect = FORBIDDEN,
    desc = "While the invalidation was in progress a huge leaf mapped the page it had zapped.")
@Outcome(id = Probe.STALE_PFN, expect = FORBIDDEN, desc = "A leaf maps a frame that does not back its gfn.")
@Outcome(expect = FORBIDDEN, desc = "A lost write, a leaked table, or any exception inside the MMU.")
@State
public class PromoteVsInvalidation
{
    private static final long KEPT = 0;
    private static final long INVALIDATED = 8;
    /** Looks while the invalidation is open: roughly the time a page copy takes. */
    private static final int LOOKS = 64;

    private final Vm vm = StressVm.create();
    private final Rendezvous rendezvous = new Rendezvous();
    private final Memslot slot = vm.addMemslot(0, 512, Backing.PAGE_2M);
    private boolean mappedDuringInvalidation;
    private String promoteFailure;
    private String hostFailure;

    public PromoteVsInvalidation()
    {
        final DirtyLogging log = new DirtyLogging(vm);
        final Vcpu vcpu = vm.createVcpu();
        log.enable(slot, Memslot.LOG_WRPROT, false);
        vcpu.write(KEPT, 1);
        vcpu.write(INVALIDATED, 8);
        vcpu.exitGuest();
        log.disable(slot, Probe.NO_RECOVERY);
    }

    @Actor
    public void promote()
    {
        rendezvous.meet(0);
        try
        {
            RecoveryStrategy.PROMOTE_IN_PLACE.recovery().recover(vm.mmu(), slot);
        }
        catch (final Throwable t)
        {
            promoteFailure = Probe.classify(t);
        }
    }

    @Actor
    public void invalidate()
    {
        rendezvous.meet(1);
        final TdpMmu mmu = vm.mmu();
        try
        {
            mmu.invalidateRangeStart(INVALIDATED, INVALIDATED + 1);
            try
            {
                for (int i = 0; i < LOOKS && !mappedDuringInvalidation; i++)
                {
                    mappedDuringInvalidation = Probe.mapped(vm, INVALIDATED);
                }
            }
            finally
            {
                mmu.invalidateRangeEnd(INVALIDATED, INVALIDATED + 1);
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
        if (promoteFailure != null)
        {
            return promoteFailure;
        }
        if (hostFailure != null)
        {
            return hostFailure;
        }
        if (mappedDuringInvalidation)
        {
            return "mapped-during-invalidation";
        }
        try
        {
            if (Probe.stalePfn(vm, slot, KEPT) || Probe.stalePfn(vm, slot, INVALIDATED))
            {
                return Probe.STALE_PFN;
            }
            if (Probe.content(vm, slot, KEPT) != 1 || Probe.content(vm, slot, INVALIDATED) != 8)
            {
                return Probe.LOST_WRITE;
            }
            final boolean promoted = vm.counters().promotions.sum() > 0;
            final boolean keptMapped = Probe.mapped(vm, KEPT);
            if (Probe.leakedAfterDestroy(vm) != 0)
            {
                return Probe.LEAK;
            }
            return !promoted ? "not-promoted" : keptMapped ? "promoted-after" : "promoted-then-zapped";
        }
        catch (final Throwable t)
        {
            return Probe.classify(t);
        }
    }
}
