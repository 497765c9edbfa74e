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
import org.tdpmmu.core.TdpMmuAge;
import org.tdpmmu.core.TestHook;
import org.tdpmmu.core.Vm;
import org.tdpmmu.stress.MoveVsFastPageFault;
import org.tdpmmu.stress.Probe;
import org.tdpmmu.stress.StressVm;

/**
 * The catalogue's {@link MoveVsFastPageFault} on a slot of {@value #PAGES} pages, with the window
 * forced as the latch test forces it. The race needs two preemptions in the right places: the move
 * past its SRCU wait but not yet at the leaf (kernel: kvm_invalidate_memslot, then the flush), and
 * the fast fault (fast_page_fault, no mmu_lock) between its read of the access-tracked leaf and its
 * fix; among the few hundred steps of a move and the few dozen of a fault that pair was not reached
 * within 600 schedules of the catalogue's form. So, as {@link SplitInInvalidRoot} does, bounded
 * waits ({@link OneSlotVm#waitFor}) make them meet: the fault starts once the move stands before its flush (the fault's SRCU
 * section begins after the wait, the race's premise), the move flushes once the fault stands at
 * FAST_PF_BEFORE_CMPXCHG, and the fault goes on once the move has flushed and waits for its SRCU
 * section again. Under the model checker each wait is an active lock that hands the core to the
 * other thread; the exploration covers the orders around the meeting. Model checker only.
 */
@Description("A fast page fault against a move of its memslot: the zapped leaf at the old gfn never comes back.")
@Outcome(id = "fault-first", expect = ACCEPTABLE, desc = "The fast fault restored the leaf before the flush zapped it.")
@Outcome(id = "move-first", expect = ACCEPTABLE,
    desc = "The fault's cmpxchg lost to the flush; the slow path found the slot invalid or moved away (MMIO).")
@Outcome(id = MoveVsFastPageFault.OLD_GFN_MAPPED, expect = FORBIDDEN,
    desc = "After the move a leaf maps the old gfn, in no slot now: the fast fix overwrote the flush's zap.")
@Outcome(expect = FORBIDDEN, desc = "Any other exception inside the MMU, or a leaked table.")
@State
@LoopsBeforeSwitch(64)
public class FastFaultVsSlotMove
{
    /** The slot: short enough that the flush's walk of its range is not cut by the loop heuristic. */
    static final long PAGES = 32;
    private static final long GFN = 7;
    private static final long NEW_BASE = 2048;

    private final OneSlotVm tiny = OneSlotVm.region(StressVm.config(StressVm.seededBugs()).withEptAdBits(false), 0, PAGES);
    private final Vm vm = tiny.vm;
    private final SafetyChecks.DeletedSlotCheck check = new SafetyChecks.DeletedSlotCheck(vm, tiny.slot);
    /** Set by the move before its flush; by the fault at its fix. */
    private volatile boolean beforeFlush;
    private volatile boolean atFix;
    private int result;
    private String faultFailure;
    private String hostFailure;

    public FastFaultVsSlotMove()
    {
        tiny.faultUntilDone(GFN, true);
        // Without A/D bits aging access-tracks the leaf: the next access fast-faults to restore it.
        new TdpMmuAge(vm).clearYoung(GFN, GFN + 1);
        vm.mmu().setTestHook((point, gfn) ->
        {
            if (point == TestHook.Point.MEMSLOT_BEFORE_FLUSH && !beforeFlush)
            {
                beforeFlush = true;
                OneSlotVm.waitFor(() -> atFix);
            }
            else if (point == TestHook.Point.FAST_PF_BEFORE_CMPXCHG && gfn == GFN && !atFix)
            {
                atFix = true;
                // The move has zapped the leaf once it waits for this fault's SRCU section.
                OneSlotVm.waitFor(() -> vm.memslots().srcu().waitingWriters() != 0);
            }
        });
    }

    @Actor
    public void fault()
    {
        faultFailure = Probe.attempt(() ->
        {
            OneSlotVm.waitFor(() -> beforeFlush);
            result = tiny.faultUntilDone(GFN, true);
        });
    }

    @Actor
    public void move()
    {
        hostFailure = Probe.failureOf(() -> vm.memoryRegions().move(0, NEW_BASE));
    }

    @Arbiter
    public void arbiter(final L_Result r)
    {
        r.r1 = Probe.outcome(faultFailure, hostFailure, () ->
        {
            if (!check.check(vm).isEmpty())
            {
                return MoveVsFastPageFault.OLD_GFN_MAPPED;
            }
            if (Probe.leakedAfterDestroy(vm) != 0)
            {
                return Probe.LEAK;
            }
            return result == TdpMmu.RET_PF_EMULATE ? "move-first" : "fault-first";
        });
    }
}
