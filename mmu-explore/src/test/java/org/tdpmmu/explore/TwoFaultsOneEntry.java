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
import org.tdpmmu.core.TdpIter;
import org.tdpmmu.core.TdpMmu;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;
import org.tdpmmu.stress.Probe;
import org.tdpmmu.stress.StressVm;

/**
 * The catalogue's {@code TwoVcpusLinkSameTable} cut down to the MMU's own steps: two threads call
 * the page-fault handler directly (kernel: kvm_tdp_page_fault, no vCPU TLB or hardware walk
 * around it) on one missing gfn whose level-2 entry is empty, so both race to link one last-level
 * table with set_spte_atomic and then to install one leaf. Fewer steps per thread than a whole
 * guest access, so the model checker reaches every single-preemption schedule of the link within a
 * small bound. Catalogue form, model checker only.
 */
@Description("Two faults link the same missing last-level table: one wins, the loser's table is freed.")
@Outcome(id = "ok", expect = ACCEPTABLE, desc = "The gfn is mapped to its frame and no table leaked.")
@Outcome(id = Probe.LEAK, expect = FORBIDDEN,
    desc = "A table that lost its link race (or was overwritten by a non-atomic store) was never freed.")
@Outcome(id = Probe.STALE_PFN, expect = FORBIDDEN, desc = "The leaf maps a frame that does not back the gfn.")
@Outcome(expect = FORBIDDEN, desc = "The gfn is not mapped, or an exception inside the MMU.")
@State
public class TwoFaultsOneEntry
{
    private static final long GFN = 600;

    private final Vm vm = StressVm.create();
    private final Memslot slot = vm.addMemslot(0, 1024, Backing.PAGE_4K);
    private String failure0;
    private String failure1;

    public TwoFaultsOneEntry()
    {
        // Builds levels 4..2 (and the table of gfns 0..511); gfn 600's level-2 entry stays empty.
        final Vcpu setup = vm.createVcpu();
        setup.write(0, 1);
        setup.exitGuest();
    }

    @Actor
    public void fault0()
    {
        failure0 = fault();
    }

    @Actor
    public void fault1()
    {
        failure1 = fault();
    }

    private String fault()
    {
        return Probe.attempt(() ->
        {
            final TdpMmu mmu = vm.mmu();
            while (mmu.pageFault(new TdpIter(vm.store()), GFN, true) == TdpMmu.RET_PF_RETRY)
            {
                Thread.onSpinWait();
            }
        });
    }

    @Arbiter
    public void arbiter(final L_Result r)
    {
        r.r1 = Probe.outcome(this::check, failure0, failure1);
    }

    private String check()
    {
        if (!Probe.mapped(vm, GFN))
        {
            return "unmapped";
        }
        if (Probe.stalePfn(vm, slot, GFN))
        {
            return Probe.STALE_PFN;
        }
        return Probe.leakedAfterDestroy(vm) != 0 ? Probe.LEAK : "ok";
    }
}
