package org.tdpmmu.explore;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.L_Result;
import org.tdpmmu.core.Backing;
import org.tdpmmu.core.Memslot;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;
import org.tdpmmu.stress.Probe;
import org.tdpmmu.stress.StressVm;

/**
 * A nested invalidation from two host threads, which the catalogue's single-host
 * {@code NestedInvalidationVsSample} cannot produce: one thread migrates a page, another
 * invalidates the whole slot's range (kernel: two mmu_notifier invalidate_range_start/end pairs
 * whose windows overlap in any order, mmu_invalidate_in_progress reaching 2, the range widened),
 * while a vCPU write faults on the migrated page. After both ends no SPTE maps the old frame, the
 * vCPU never wrote it, the write is in the frame that backs the gfn. Catalogue form, model checker only.
 */
@Description("Two overlapping invalidations from two threads against a fault: no stale pfn, no write to a freed frame.")
@Outcome(id = "ok", expect = ACCEPTABLE, desc = "The fault retried until both invalidations ended (or finished before).")
@Outcome(id = Probe.STALE_PFN, expect = FORBIDDEN, desc = "After both ends an SPTE maps the freed old frame.")
@Outcome(id = Probe.STALE_TRANSLATION, expect = FORBIDDEN, desc = "The vCPU wrote to the freed old frame.")
@Outcome(id = Probe.LOST_WRITE, expect = FORBIDDEN, desc = "The written value is not in the frame backing the gfn.")
@Outcome(id = Probe.LEAK, expect = FORBIDDEN, desc = "A table was left allocated after teardown.")
@Outcome(expect = FORBIDDEN, desc = "Any other exception inside the MMU.")
@State
public class NestedInvalidationsVsFault
{
    private static final long GFN = 7;
    private static final long VALUE = 0x56;

    private final Vm vm = StressVm.create();
    private final Memslot slot = vm.addMemslot(0, 16, Backing.PAGE_4K);
    private final Vcpu vcpu = vm.createVcpu();
    private String faultFailure;
    private String migrateFailure;
    private String wideFailure;

    @Actor
    public void a0Fault()
    {
        faultFailure = Probe.guestWrite(vcpu, GFN, VALUE);
    }

    @Actor
    public void a1Migrate()
    {
        migrateFailure = Probe.attempt(() -> vm.migrate(slot, GFN, 1));
    }

    @Actor
    public void a2InvalidateAll()
    {
        wideFailure = Probe.attempt(() -> vm.invalidate(0, 16));
    }

    @Arbiter
    public void arbiter(final L_Result r)
    {
        r.r1 = Probe.outcome(this::check, faultFailure, migrateFailure, wideFailure);
    }

    private String check()
    {
        if (Probe.stalePfn(vm, slot, GFN))
        {
            return Probe.STALE_PFN;
        }
        if (Probe.content(vm, slot, GFN) != VALUE)
        {
            return Probe.LOST_WRITE;
        }
        return Probe.leakedAfterDestroy(vm) != 0 ? Probe.LEAK : "ok";
    }
}
