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
 * A lockless walker (kernel: a tdp_iter walk of aging or of the fast page fault, which hold no
 * lock, only an RCU read-side section) walks every 4 KiB entry of a 2 MiB region; another thread
 * unlinks the level-2 table above it with an atomic zap and then runs the RCU reclaimer. The
 * unlinked level-2 and last-level tables may be freed only after every section that could hold a
 * pointer into them has ended; the walker keeps reading the last-level table for the whole region.
 */
@JCStressTest
@Description("A walker inside an RCU read-side section against the free of the table it is walking.")
@Outcome(id = "saw-leaf", expect = ACCEPTABLE,
    desc = "The walker reached the leaf: it finished before the zap, or walked the unlinked tables while the RCU callback waited.")
@Outcome(id = "saw-hole", expect = ACCEPTABLE,
    desc = "The walker met the frozen or cleared entry and stopped, as the tdp_iter re-read before stepping down requires.")
@Outcome(id = Probe.USE_AFTER_FREE, expect = FORBIDDEN,
    desc = "The walker read a table after it was freed: the free did not wait for the walker's read-side section.")
@Outcome(id = Probe.LEAK, expect = FORBIDDEN, desc = "A table was never freed after teardown and an RCU barrier.")
@Outcome(expect = FORBIDDEN, desc = "Any other exception inside the MMU.")
@State
public class WalkerVsTableFree
{
    private static final long GFN = 5;
    private static final long REGION_START = 0;
    private static final long REGION_END = 512;

    private final Vm vm = StressVm.create();
    private final Rendezvous rendezvous = new Rendezvous();
    private final TdpIter iter = new TdpIter(vm.store());
    private int leavesSeen;
    private String walkFailure;
    private String zapFailure;

    public WalkerVsTableFree()
    {
        vm.addMemslot(0, 1024, Backing.PAGE_4K);
        final Vcpu setup = vm.createVcpu();
        setup.read(GFN);
        setup.exitGuest();
    }

    @Actor
    public void walker()
    {
        rendezvous.meet(0);
        final TdpMmu mmu = vm.mmu();
        try
        {
            mmu.rcu().readLock();
            try
            {
                for (iter.start(mmu.rootPfn(), mmu.rootLevel(), Spte.PG_LEVEL_4K, REGION_START, REGION_END);
                    iter.valid(); iter.next())
                {
                    if (iter.level() == Spte.PG_LEVEL_4K && Spte.isPresent(iter.oldSpte()))
                    {
                        leavesSeen++;
                    }
                }
            }
            finally
            {
                mmu.rcu().readUnlock();
            }
        }
        catch (final Throwable t)
        {
            walkFailure = Probe.classify(t);
        }
    }

    @Actor
    public void unlinkAndReclaim()
    {
        rendezvous.meet(1);
        zapFailure = Probe.zapAndReclaim(vm, GFN, Spte.PG_LEVEL_1G);
    }

    @Arbiter
    public void arbiter(final L_Result r)
    {
        if (walkFailure != null || zapFailure != null)
        {
            r.r1 = walkFailure != null ? walkFailure : zapFailure;
            return;
        }
        try
        {
            r.r1 = Probe.leakedAfterDestroy(vm) != 0 ? Probe.LEAK : leavesSeen > 0 ? "saw-leaf" : "saw-hole";
        }
        catch (final Throwable t)
        {
            r.r1 = Probe.classify(t);
        }
    }
}
