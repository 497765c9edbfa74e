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
import org.tdpmmu.core.SafetyChecks;
import org.tdpmmu.core.TdpIter;
import org.tdpmmu.core.TdpMmu;
import org.tdpmmu.core.TdpMmuAge;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;

/**
 * A lockless fast page fault against a move of the memslot (kernel: fast_page_fault against
 * KVM_MR_MOVE). On a VM without EPT A/D bits aging left the gfn's leaf access-tracked, so a write
 * to it takes the fast path, which restores the leaf with one cmpxchg and no MMU lock. The move
 * flushes the old range after its SRCU wait, so a fast fault that began after that wait runs
 * concurrently with the zap: its cmpxchg against the snapshot fails if the zap came first, and
 * the fault falls to the slow path, which finds the slot invalid or gone. The old gfn is never
 * mapped again once the move returns.
 */
@JCStressTest
@Description("A fast page fault against a move of its memslot: the zapped leaf at the old gfn never comes back.")
@Outcome(id = "fault-first", expect = ACCEPTABLE,
    desc = "The fast fault restored the leaf before the move; the move's flush zapped it.")
@Outcome(id = "move-first", expect = ACCEPTABLE,
    desc = "The fault found the slot invalid or moved away (retry, then MMIO) and mapped nothing.")
@Outcome(id = MoveVsFastPageFault.OLD_GFN_MAPPED, expect = FORBIDDEN,
    desc = "After the move a leaf maps the old gfn, in no slot now, to the moved slot's frame: the fast fix overwrote the zap.")
@Outcome(expect = FORBIDDEN, desc = "Any other exception inside the MMU, or a leaked table.")
@State
public class MoveVsFastPageFault
{
    /** Outcome: the old gfn is still mapped after the move. */
    public static final String OLD_GFN_MAPPED = "old-gfn-mapped";
    private static final long GFN = 7;
    private static final long NEW_BASE = 2048;

    private final Vm vm = new Vm(StressVm.config(StressVm.seededBugs()).withEptAdBits(false));
    private final Rendezvous rendezvous = new Rendezvous();
    private final Memslot slot = vm.memoryRegions().create(0, 0, 1024, Backing.PAGE_4K);
    private final SafetyChecks.DeletedSlotCheck check;
    private String faultFailure;
    private String hostFailure;
    private int result;

    public MoveVsFastPageFault()
    {
        final Vcpu setup = vm.createVcpu();
        setup.write(GFN, 1);
        setup.exitGuest();
        // Without A/D bits aging access-tracks the leaf: the next access fast-faults to restore it.
        new TdpMmuAge(vm).clearYoung(GFN, GFN + 1);
        vm.memoryRegions().setSlotZapAll(false);
        check = new SafetyChecks.DeletedSlotCheck(vm, slot);
    }

    @Actor
    public void fault()
    {
        rendezvous.meet(0);
        try
        {
            final TdpIter iter = new TdpIter(vm.store());
            int r;
            while ((r = vm.mmu().pageFault(iter, GFN, true)) == TdpMmu.RET_PF_RETRY)
            {
                Thread.onSpinWait();
            }
            result = r;
        }
        catch (final Throwable t)
        {
            faultFailure = Probe.classify(t);
        }
    }

    @Actor
    public void move()
    {
        rendezvous.meet(1);
        hostFailure = Probe.failureOf(() -> vm.memoryRegions().move(0, NEW_BASE));
    }

    @Arbiter
    public void arbiter(final L_Result r)
    {
        r.r1 = Probe.outcome(faultFailure, hostFailure, () ->
        {
            if (!check.check(vm).isEmpty())
            {
                return OLD_GFN_MAPPED;
            }
            if (Probe.leakedAfterDestroy(vm) != 0)
            {
                return Probe.LEAK;
            }
            return result == TdpMmu.RET_PF_EMULATE ? "move-first" : "fault-first";
        });
    }
}
