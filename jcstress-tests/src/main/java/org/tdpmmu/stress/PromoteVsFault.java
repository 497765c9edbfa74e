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
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;

/**
 * Dirty logging has just been turned off on a slot backed by a 2 MiB host page, leaving 4 KiB
 * leaves under a last-level table. In-place promotion (kernel 6.13+:
 * kvm_tdp_mmu_recover_huge_pages) builds the 2 MiB SPTE from those leaves and cmpxchgs it over the
 * table entry, while a vCPU write faults on an unmapped gfn of the same region and, logging being
 * off, installs a 2 MiB leaf over the same table entry (kernel: tdp_mmu_map_handle_target_level).
 * Exactly one of them replaces the table; it goes through handle_removed_pt and RCU exactly once.
 */
@JCStressTest
@Description("In-place promotion against a fault on the same 2 MiB region: one huge leaf, no lost write, no leak.")
@Outcome(id = "promoted", expect = ACCEPTABLE,
    desc = "Promotion replaced the table; the vCPU wrote through (or faulted onto) the promoted huge page.")
@Outcome(id = "fault-replaced-table", expect = ACCEPTABLE,
    desc = "The fault installed the huge leaf first; promotion lost its cmpxchg or found no table left.")
@Outcome(id = Probe.LEAK, expect = FORBIDDEN, desc = "The replaced table (or a table under it) was never freed.")
@Outcome(id = Probe.STALE_PFN, expect = FORBIDDEN, desc = "The huge leaf maps another host page than the one backing the region.")
@Outcome(id = Probe.LOST_WRITE, expect = FORBIDDEN, desc = "A value written before or during the race is not in its frame.")
@Outcome(id = Probe.USE_AFTER_FREE, expect = FORBIDDEN, desc = "A walker read the replaced table after it was freed.")
@Outcome(expect = FORBIDDEN, desc = "Any other exception inside the MMU (e.g. the table removed twice), or the gfn left unmapped.")
@State
public class PromoteVsFault
{
    private static final long FIRST = 0;
    private static final long SECOND = 3;
    private static final long GFN = 7;
    private static final long VALUE = 0x44;

    private final Vm vm = StressVm.create();
    private final Rendezvous rendezvous = new Rendezvous();
    private final Memslot slot = vm.addMemslot(0, 512, Backing.PAGE_2M);
    private final Vcpu vcpu = vm.createVcpu();
    private String promoteFailure;
    private String faultFailure;

    public PromoteVsFault()
    {
        final DirtyLogging log = new DirtyLogging(vm);
        log.enable(slot, Memslot.LOG_WRPROT, false);
        vcpu.write(FIRST, 1);
        vcpu.write(SECOND, 3);
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
    public void fault()
    {
        rendezvous.meet(1);
        faultFailure = Probe.guestWrite(vcpu, GFN, VALUE);
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
        if (faultFailure != null)
        {
            return faultFailure;
        }
        try
        {
            if (!Probe.mappedHuge(vm, GFN))
            {
                return "not-huge";
            }
            if (Probe.stalePfn(vm, slot, GFN) || Probe.stalePfn(vm, slot, FIRST))
            {
                return Probe.STALE_PFN;
            }
            if (Probe.content(vm, slot, FIRST) != 1 || Probe.content(vm, slot, SECOND) != 3 ||
                Probe.content(vm, slot, GFN) != VALUE)
            {
                return Probe.LOST_WRITE;
            }
            final boolean promoted = vm.counters().promotions.sum() > 0;
            if (Probe.leakedAfterDestroy(vm) != 0)
            {
                return Probe.LEAK;
            }
            return promoted ? "promoted" : "fault-replaced-table";
        }
        catch (final Throwable t)
        {
            return Probe.classify(t);
        }
    }
}
