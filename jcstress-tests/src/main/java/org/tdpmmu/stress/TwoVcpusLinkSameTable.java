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
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;

/**
 * Two vCPUs fault on two neighbouring gfns of a 2 MiB region that has no last-level table yet:
 * both allocate one from their memory cache and race to link it into the same empty entry of the
 * level-2 table (kernel: tdp_mmu_link_sp, a cmpxchg). The loser must give its table back
 * (kernel: tdp_mmu_free_sp on the failed link) and retry through the winner's table.
 */
@JCStressTest
@Description("Two vCPUs link the same missing page table: one link wins, the loser's table is freed.")
@Outcome(id = "ok", expect = ACCEPTABLE,
    desc = "Both writes landed, both gfns are mapped, and after teardown every table is back in the store.")
@Outcome(id = Probe.LEAK, expect = FORBIDDEN,
    desc = "The losing table was not freed, or a non-atomic store overwrote the winner's link and orphaned it.")
@Outcome(id = Probe.LOST_WRITE, expect = FORBIDDEN, desc = "A written value is not in the frame backing its gfn.")
@Outcome(expect = FORBIDDEN, desc = "An exception inside the MMU, or a gfn left unmapped.")
@State
public class TwoVcpusLinkSameTable
{
    /** Already mapped: the upper tables exist, the 2 MiB region of FIRST/SECOND has no table. */
    private static final long SETUP_GFN = 0;
    private static final long FIRST = 512;
    private static final long SECOND = 513;

    private final Vm vm = StressVm.create();
    private final Rendezvous rendezvous = new Rendezvous();
    private final Memslot slot = vm.addMemslot(0, 1024, Backing.PAGE_4K);
    private final Vcpu vcpu0 = vm.createVcpu();
    private final Vcpu vcpu1 = vm.createVcpu();
    private String failure0;
    private String failure1;

    public TwoVcpusLinkSameTable()
    {
        vcpu0.read(SETUP_GFN);
        vcpu0.exitGuest();
    }

    @Actor
    public void first()
    {
        rendezvous.meet(0);
        failure0 = Probe.guestWrite(vcpu0, FIRST, 1);
    }

    @Actor
    public void second()
    {
        rendezvous.meet(1);
        failure1 = Probe.guestWrite(vcpu1, SECOND, 2);
    }

    @Arbiter
    public void arbiter(final L_Result r)
    {
        r.r1 = outcome();
    }

    private String outcome()
    {
        if (failure0 != null)
        {
            return failure0;
        }
        if (failure1 != null)
        {
            return failure1;
        }
        try
        {
            if (!Probe.mapped(vm, FIRST) || !Probe.mapped(vm, SECOND))
            {
                return "unmapped";
            }
            if (Probe.content(vm, slot, FIRST) != 1 || Probe.content(vm, slot, SECOND) != 2)
            {
                return Probe.LOST_WRITE;
            }
            return Probe.leakedAfterDestroy(vm) == 0 ? "ok" : Probe.LEAK;
        }
        catch (final Throwable t)
        {
            return Probe.classify(t);
        }
    }
}
