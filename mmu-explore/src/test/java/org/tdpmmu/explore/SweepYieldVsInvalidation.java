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
import org.tdpmmu.core.DirtyLogging;
import org.tdpmmu.core.Memslot;
import org.tdpmmu.core.Spte;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;
import org.tdpmmu.stress.Probe;
import org.tdpmmu.stress.StressVm;

/**
 * A yield in condResched between two steps of a sweep, a race the catalogue lacks: enabling
 * write-protect logging sweeps the slot under the MMU read lock (kernel: the wrprot walk over
 * tdp_mmu_iter_cond_resched); a migration's invalidation wants the write lock, so the sweep drops
 * the lock between two entries, lets the zap run, and restarts its walk from the root. After both,
 * no leaf of the slot is writable without a fault (every write after enable is logged), no SPTE maps
 * the migrated page's old frame, nothing leaks. Catalogue form, model checker only.
 */
@Description("A write-protect sweep yielding to an invalidation: no writable leaf after enable, no stale pfn, no leak.")
@Outcome(id = "ok", expect = ACCEPTABLE, desc = "Both finished; later writes are logged and reach the new frame.")
@Outcome(id = "writable-after-enable", expect = FORBIDDEN,
    desc = "A leaf of the logged slot is still writable: the walk resumed past an entry it never protected.")
@Outcome(id = Probe.STALE_PFN, expect = FORBIDDEN, desc = "An SPTE maps the migrated page's freed frame.")
@Outcome(id = Probe.LOST_DIRTY, expect = FORBIDDEN, desc = "A write after enable is not in the dirty log.")
@Outcome(id = Probe.LOST_WRITE, expect = FORBIDDEN, desc = "A written value is not in the frame backing the gfn.")
@Outcome(id = Probe.LEAK, expect = FORBIDDEN, desc = "A table was left allocated after teardown.")
@Outcome(expect = FORBIDDEN, desc = "Any exception inside the MMU.")
@State
public class SweepYieldVsInvalidation
{
    private static final long MIGRATED = 7;
    private static final long KEPT = 3;

    private final Vm vm = StressVm.create();
    private final Memslot slot = vm.addMemslot(0, 16, Backing.PAGE_4K);
    private final Vcpu vcpu = vm.createVcpu();
    private final DirtyLogging log = new DirtyLogging(vm);
    private String enableFailure;
    private String hostFailure;

    public SweepYieldVsInvalidation()
    {
        for (long gfn = 0; gfn < 8; gfn++)
        {
            vcpu.write(gfn, 1);
        }
        vcpu.exitGuest();
    }

    @Actor
    public void enable()
    {
        enableFailure = Probe.attempt(() -> log.enable(slot, Memslot.LOG_WRPROT, false));
    }

    @Actor
    public void migrate()
    {
        hostFailure = Probe.attempt(() -> vm.migrate(slot, MIGRATED, 1));
    }

    @Arbiter
    public void arbiter(final L_Result r)
    {
        r.r1 = Probe.outcome(this::check, enableFailure, hostFailure);
    }

    private String check()
    {
        for (long gfn = 0; gfn < 8; gfn++)
        {
            final long spte = Probe.entryFor(vm, gfn);
            if (Spte.isPresent(spte) && Spte.isWritable(spte))
            {
                return "writable-after-enable";
            }
            if (Probe.stalePfn(vm, slot, gfn))
            {
                return Probe.STALE_PFN;
            }
        }
        log.getDirtyLog(slot, false);
        final String failure = Probe.guestWrite(vcpu, MIGRATED, 2) != null ? "write" : Probe.guestWrite(vcpu, KEPT, 2);
        if (failure != null)
        {
            return failure;
        }
        if (Probe.content(vm, slot, MIGRATED) != 2 || Probe.content(vm, slot, KEPT) != 2)
        {
            return Probe.LOST_WRITE;
        }
        final long[] dirty = log.getDirtyLog(slot, false);
        if (!Probe.dirty(dirty, MIGRATED) || !Probe.dirty(dirty, KEPT))
        {
            return Probe.LOST_DIRTY;
        }
        return Probe.leakedAfterDestroy(vm) != 0 ? Probe.LEAK : "ok";
    }
}
