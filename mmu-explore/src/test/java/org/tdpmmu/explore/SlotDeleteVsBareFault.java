package org.tdpmmu.explore;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.L_Result;
import org.tdpmmu.core.SafetyChecks;
import org.tdpmmu.core.TdpMmu;
import org.tdpmmu.core.Vm;
import org.tdpmmu.stress.FaultVsSlotDelete;
import org.tdpmmu.stress.Probe;
import org.tdpmmu.stress.StressVm;

/**
 * The catalogue's {@link FaultVsSlotDelete} cut down to the MMU's steps: the page-fault handler
 * called directly (kernel: kvm_tdp_page_fault inside the exit handler's SRCU section, no TLB or
 * hardware walk around it) on a gfn of a {@value #PAGES}-page slot the host deletes meanwhile, with
 * KVM_X86_QUIRK_SLOT_ZAP_ALL off (the slot's range zapped, as in the catalogue race). The window of
 * a delete that flushes without synchronize_srcu is one preemption of the fault between its pfn
 * lookup and its install, among a few dozen steps rather than a whole guest access.
 *
 * <p>{@link LoopsBeforeSwitch} is a compromise between two loops: the flush's walk of the slot's
 * range (longer than the bound: cut into forced switches) and the fault's retry while the slot is
 * invalid (each iteration a whole page fault; with a bound of 2,048, as this twin had on a 512-page
 * slot, a schedule ran two thousand faults before the checker let the delete go on, seconds of
 * CPU each). Model checker only.
 */
@Description("A bare fault against a delete of its memslot: nothing maps the deleted slot afterwards.")
@Outcome(id = "write-first", expect = ACCEPTABLE, desc = "The fault installed before the delete; the delete's flush zapped it.")
@Outcome(id = "delete-first", expect = ACCEPTABLE, desc = "The fault found the slot invalid or gone (MMIO).")
@Outcome(id = FaultVsSlotDelete.MAPS_DELETED, expect = FORBIDDEN,
    desc = "After the delete an SPTE maps a gfn or frame of the deleted slot: the flush ran before the fault's install.")
@Outcome(expect = FORBIDDEN, desc = "Any other exception inside the MMU, or a leaked table.")
@State
@LoopsBeforeSwitch(64)
public class SlotDeleteVsBareFault
{
    /** The slot: short enough that the flush's walk of its range is not cut by the loop heuristic. */
    static final long PAGES = 32;
    private static final long GFN = 7;

    private final OneSlotVm tiny = OneSlotVm.region(StressVm.config(StressVm.seededBugs()), 1, PAGES);
    private final Vm vm = tiny.vm;
    private final SafetyChecks.DeletedSlotCheck check = new SafetyChecks.DeletedSlotCheck(vm, tiny.slot);
    private int result;
    private String faultFailure;
    private String hostFailure;

    @Actor
    public void fault()
    {
        faultFailure = Probe.attempt(() -> result = tiny.faultUntilDone(GFN, true));
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
