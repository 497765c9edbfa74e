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
import org.tdpmmu.core.SafetyChecks;
import org.tdpmmu.core.TdpIter;
import org.tdpmmu.core.TdpMmu;
import org.tdpmmu.core.Vm;
import org.tdpmmu.stress.FaultVsSlotDelete;
import org.tdpmmu.stress.Probe;
import org.tdpmmu.stress.StressVm;

/**
 * The catalogue's {@link FaultVsSlotDelete} cut down to the MMU's steps: the page-fault handler
 * called directly (kernel: kvm_tdp_page_fault inside the exit handler's SRCU section, no TLB or
 * hardware walk around it) on a gfn of a 512-page slot the host deletes meanwhile, with
 * KVM_X86_QUIRK_SLOT_ZAP_ALL off (the slot's range zapped, as in the catalogue race). The window of
 * a delete that flushes without synchronize_srcu is one preemption of the fault between its pfn
 * lookup and its install, among a few dozen steps rather than a whole guest access. Model checker only.
 */
@Description("A bare fault against a delete of its memslot: nothing maps the deleted slot afterwards.")
@Outcome(id = "write-first", expect = ACCEPTABLE, desc = "The fault installed before the delete; the delete's flush zapped it.")
@Outcome(id = "delete-first", expect = ACCEPTABLE, desc = "The fault found the slot invalid or gone (MMIO).")
@Outcome(id = FaultVsSlotDelete.MAPS_DELETED, expect = FORBIDDEN,
    desc = "After the delete an SPTE maps a gfn or frame of the deleted slot: the flush ran before the fault's install.")
@Outcome(expect = FORBIDDEN, desc = "Any other exception inside the MMU, or a leaked table.")
@State
@LoopsBeforeSwitch(2048)
public class SlotDeleteVsBareFault
{
    private static final long GFN = 7;

    private final Vm vm = StressVm.create();
    private final SafetyChecks.DeletedSlotCheck check;
    private int result;
    private String faultFailure;
    private String hostFailure;

    public SlotDeleteVsBareFault()
    {
        vm.memoryRegions().setSlotZapAll(false);
        check = new SafetyChecks.DeletedSlotCheck(vm, vm.memoryRegions().create(1, 0, 512, Backing.PAGE_4K));
    }

    @Actor
    public void fault()
    {
        faultFailure = Probe.attempt(() ->
        {
            final TdpIter iter = new TdpIter(vm.store());
            int r;
            while ((r = vm.mmu().pageFault(iter, GFN, true)) == TdpMmu.RET_PF_RETRY)
            {
                Thread.onSpinWait();
            }
            result = r;
        });
    }

    @Actor
    public void delete()
    {
        hostFailure = Probe.failureOf(() -> vm.memoryRegions().delete(1));
    }

    @Arbiter
    public void arbiter(final L_Result r)
    {
        r.r1 = Probe.outcome(() ->
        {
            if (!check.check(vm).isEmpty())
            {
                return FaultVsSlotDelete.MAPS_DELETED;
            }
            if (Probe.leakedAfterDestroy(vm) != 0)
            {
                return Probe.LEAK;
            }
            return result == TdpMmu.RET_PF_EMULATE ? "delete-first" : "write-first";
        }, faultFailure, hostFailure);
    }
}
