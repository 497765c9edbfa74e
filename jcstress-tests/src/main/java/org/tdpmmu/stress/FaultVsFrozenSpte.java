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
import org.tdpmmu.core.Spte;
import org.tdpmmu.core.TdpIter;
import org.tdpmmu.core.TdpMmu;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;

/**
 * An atomic zap keeps its entry frozen from the cmpxchg until after the remote TLB flush (kernel:
 * tdp_mmu_zap_spte_atomic: freeze, kvm_flush_remote_tlbs_gfn, then the non-present value), and the
 * flush waits for every vCPU in guest mode to acknowledge at its next VM entry. Here a vCPU is in
 * guest mode between two accesses while the same thread runs the fault path for another gfn below
 * the frozen level-3 entry (as a second vCPU would). The fault must treat the frozen entry as
 * owned by the zapper and retry (kernel: the is_frozen_spte check in kvm_tdp_mmu_map), never
 * install a table over it: the zapper's final store would orphan that table.
 */
@JCStressTest
@Description("A fault meeting an entry frozen by an atomic zap that waits for a TLB flush: retry, never install over it.")
@Outcome(id = "fault-first", expect = ACCEPTABLE,
    desc = "The fault installed its path before the freeze; the zap tore it down.")
@Outcome(id = "zap-first", expect = ACCEPTABLE,
    desc = "The zap finished first; the fault built a new path below the cleared entry.")
@Outcome(id = "retried", expect = ACCEPTABLE,
    desc = "The fault met the frozen entry (or lost a cmpxchg) and returned RET_PF_RETRY without changing anything.")
@Outcome(id = Probe.LEAK, expect = FORBIDDEN,
    desc = "The fault linked a table over the frozen entry; the zapper's non-present store orphaned it.")
@Outcome(id = Probe.ASSERTION, expect = FORBIDDEN, desc = "set_spte_atomic was called with a frozen old value.")
@Outcome(expect = FORBIDDEN, desc = "Any other exception inside the MMU.")
@State
public class FaultVsFrozenSpte
{
    /** Mapped in setup, and in the running vCPU's TLB. */
    private static final long RUNNING_GFN = 512 + 5;
    /** Same level-3 entry, a 2 MiB region with no table yet. */
    private static final long GFN = 7;

    private final Vm vm = StressVm.create();
    private final Rendezvous rendezvous = new Rendezvous();
    private final Vcpu running = vm.createVcpu();
    private final TdpIter iter = new TdpIter(vm.store());
    private int faultResult = -1;
    private String faultFailure;
    private String zapFailure;

    public FaultVsFrozenSpte()
    {
        vm.addMemslot(0, 1024, Backing.PAGE_4K);
        running.read(RUNNING_GFN);
        running.exitGuest();
    }

    @Actor
    public void fault()
    {
        rendezvous.meet(0);
        try
        {
            // Enters guest mode (a TLB hit) and stays there: a flush now waits for this vCPU.
            running.read(RUNNING_GFN);
            faultResult = vm.mmu().pageFault(iter, GFN, true);
        }
        catch (final Throwable t)
        {
            faultFailure = Probe.classify(t);
        }
        finally
        {
            running.exitGuest();
        }
    }

    @Actor
    public void zap()
    {
        rendezvous.meet(1);
        zapFailure = Probe.zapAndReclaim(vm, GFN, Spte.PG_LEVEL_1G);
    }

    @Arbiter
    public void arbiter(final L_Result r)
    {
        if (faultFailure != null || zapFailure != null)
        {
            r.r1 = faultFailure != null ? faultFailure : zapFailure;
            return;
        }
        try
        {
            final boolean mapped = Probe.mapped(vm, GFN);
            if (Probe.leakedAfterDestroy(vm) != 0)
            {
                r.r1 = Probe.LEAK;
            }
            else if (faultResult == TdpMmu.RET_PF_RETRY)
            {
                r.r1 = "retried";
            }
            else
            {
                r.r1 = mapped ? "zap-first" : "fault-first";
            }
        }
        catch (final Throwable t)
        {
            r.r1 = Probe.classify(t);
        }
    }
}
