package org.tdpmmu.stress;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import java.util.List;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.L_Result;
import org.tdpmmu.core.Backing;
import org.tdpmmu.core.SafetyChecks;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;

/**
 * A vCPU write faults on a gfn of a memslot the host deletes meanwhile (kernel: KVM_SET_USER_MEMORY_REGION
 * with memory_size 0 while a vCPU runs). The fault holds kvm->srcu from its slot lookup to its
 * install; the delete publishes the slot as invalid, waits for SRCU readers (synchronize_srcu in
 * kvm_swap_active_memslots), and only then flushes the slot. So the flush always comes after any
 * install of a fault that saw the slot valid, and a fault that starts later retries and then
 * finds no slot (MMIO). After the delete nothing maps the slot's gfns or frames.
 * The race runs with KVM_X86_QUIRK_SLOT_ZAP_ALL off (the slot's range zapped): with the quirk on,
 * the fast invalidation also makes such a fault stale (is_page_fault_stale, its root invalid), a
 * second guard that would hide a missing SRCU wait.
 */
@JCStressTest
@Description("A fault against a delete of its memslot: nothing maps the deleted slot afterwards.")
@Outcome(id = "write-first", expect = ACCEPTABLE,
    desc = "The write landed in the slot before the delete; the delete's flush zapped its SPTE.")
@Outcome(id = "delete-first", expect = ACCEPTABLE,
    desc = "The fault found the slot invalid or gone and the write went to MMIO.")
@Outcome(id = FaultVsSlotDelete.MAPS_DELETED, expect = FORBIDDEN,
    desc = "After the delete an SPTE or TLB entry maps a gfn or frame of the deleted slot: the flush ran before the fault's install.")
@Outcome(id = Probe.STALE_TRANSLATION, expect = FORBIDDEN,
    desc = "The vCPU wrote to a frame the delete had freed.")
@Outcome(expect = FORBIDDEN, desc = "Any other exception inside the MMU, or a leaked table.")
@State
public class FaultVsSlotDelete
{
    /** Outcome: a mapping of the deleted slot survived the delete. */
    public static final String MAPS_DELETED = "maps-deleted-slot";
    private static final long GFN = 7;

    private final Vm vm = StressVm.create();
    private final Rendezvous rendezvous = new Rendezvous();
    private final SafetyChecks.DeletedSlotCheck check;
    private final Vcpu vcpu = vm.createVcpu();
    private String faultFailure;
    private String hostFailure;
    private boolean wrote;

    public FaultVsSlotDelete()
    {
        vm.memoryRegions().setSlotZapAll(false);
        check = new SafetyChecks.DeletedSlotCheck(vm, vm.memoryRegions().create(1, 0, 1024, Backing.PAGE_4K));
    }

    @Actor
    public void fault()
    {
        rendezvous.meet(0);
        try
        {
            wrote = vcpu.write(GFN, 1);
            vcpu.exitGuest();
        }
        catch (final Throwable t)
        {
            faultFailure = Probe.classify(t);
        }
    }

    @Actor
    public void delete()
    {
        rendezvous.meet(1);
        hostFailure = Probe.failureOf(() -> vm.memoryRegions().delete(1));
    }

    @Arbiter
    public void arbiter(final L_Result r)
    {
        r.r1 = Probe.outcome(faultFailure, hostFailure, () ->
        {
            if (!check.check(vm).isEmpty())
            {
                return MAPS_DELETED;
            }
            if (Probe.leakedAfterDestroy(vm) != 0)
            {
                return Probe.LEAK;
            }
            return wrote ? "write-first" : "delete-first";
        });
    }
}
