package org.tdpmmu.stress;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import java.util.concurrent.atomic.AtomicBoolean;

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
import org.tdpmmu.core.TdpIter;
import org.tdpmmu.core.TestHook;
import org.tdpmmu.core.Vm;

/**
 * Enabling dirty logging with eager splitting (kvm_tdp_mmu_try_split_huge_pages, read lock, a
 * reference on the root it splits) against a fast invalidation. The split yields when the
 * invalidation waits for the write lock and then goes on in a root that is now invalid, while
 * the zap of invalidated roots tears that root down under the read lock as well. Both change
 * entries only with cmpxchg, so a split table linked while the zap looks at the same entry makes
 * the zap's exchange fail and it zaps the table instead; nothing leaks. The page before the huge
 * one is unmapped, so the split makes progress (and yields) right before splitting it.
 *
 * <p>To make that overlap frequent (outcomes never depend on it), test hooks force the window
 * with bounded waits: the split is held at its first entry until the invalidation waits for the
 * lock, so it yields at the huge page; after the yield it waits until the zap of the invalidated
 * root has read the huge leaf (ROOT_ZAP_BEFORE_SET), and the zap waits there until the split has
 * linked its table. So the link lands between the zap's read and its exchange whenever the
 * invalidation came during the split: the exchange must fail and the zap must take the table.
 */
@JCStressTest
@Description("Fast invalidation vs eager split: the split's tables in an invalidated root are zapped, none leaks.")
@Outcome(id = "split", expect = ACCEPTABLE, desc = "The huge page was split (before or while its root was zapped).")
@Outcome(id = "not-split", expect = ACCEPTABLE,
    desc = "The invalidation came first: the split found no valid root, or the zap removed the huge page first.")
@Outcome(id = Probe.ROOTS, expect = FORBIDDEN, desc = "SafetyChecks.roots failed: an invalid root not empty, or a reference left behind.")
@Outcome(id = Probe.LEAK, expect = FORBIDDEN, desc = "A split table linked into the zapped root leaked.")
@Outcome(expect = FORBIDDEN, desc = "A use after free or any exception inside the MMU.")
@State
public class FastInvalidationVsEagerSplit
{
    private static final long HUGE = 512;
    /**
     * Bound of each hook-forced wait: a window not met costs this many spin hints, no more. Below
     * the model checker's loop bound (4,096, mmu-explore), where a longer wait with the other actor
     * gone would be reported as a hang.
     */
    private static final int MAX_SPINS = 3 << 10;

    private final Vm vm = StressVm.create();
    private final Rendezvous rendezvous = new Rendezvous();
    private final Memslot slot = vm.addMemslot(0, 1024, Backing.PAGE_2M);
    private final DirtyLogging log = new DirtyLogging(vm);
    /** Set by the zap of the invalidated root when it has read the huge leaf (its hook, once). */
    private final AtomicBoolean zapAtHuge = new AtomicBoolean();
    /** Each actor's end: the other's waits stop there, there is nothing left to meet. */
    private volatile boolean splitDone;
    private volatile boolean hostDone;
    private String splitFailure;
    private String hostFailure;

    public FastInvalidationVsEagerSplit()
    {
        vm.mmu().pageFault(new TdpIter(vm.store()), HUGE, true);
        final AtomicBoolean first = new AtomicBoolean(true);
        vm.mmu().setTestHook((point, gfn) ->
        {
            if (point == TestHook.Point.SPLIT_AT_ENTRY)
            {
                if (first.compareAndSet(true, false))
                {
                    BoundedWait.until(() -> vm.lock().isContended() || hostDone, MAX_SPINS);
                }
                else if (gfn == HUGE)
                {
                    // After the yield: let the zap read the huge leaf first, so the link lands in
                    // its read-to-store window (a bounded wait: the zap may have come and gone).
                    BoundedWait.until(() -> zapAtHuge.get() || hostDone, MAX_SPINS);
                }
            }
            else if (point == TestHook.Point.ROOT_ZAP_BEFORE_SET && gfn == HUGE && zapAtHuge.compareAndSet(false, true))
            {
                // The zap has read the huge leaf and not yet replaced it: wait for the split's link.
                BoundedWait.until(() -> vm.counters().splits.sum() > 0 || splitDone, MAX_SPINS);
            }
        });
    }

    @Actor
    public void split()
    {
        rendezvous.meet(0);
        try
        {
            log.enable(slot, Memslot.LOG_WRPROT, true);
        }
        catch (final Throwable t)
        {
            splitFailure = Probe.classify(t);
        }
        finally
        {
            splitDone = true;
        }
    }

    @Actor
    public void fastInvalidation()
    {
        rendezvous.meet(1);
        hostFailure = Probe.failureOf(() -> vm.mmu().zapAllFast());
        hostDone = true;
    }

    @Arbiter
    public void arbiter(final L_Result r)
    {
        r.r1 = outcome();
    }

    private String outcome()
    {
        if (splitFailure != null)
        {
            return splitFailure;
        }
        if (hostFailure != null)
        {
            return hostFailure;
        }
        try
        {
            final String roots = Probe.rootsBroken(vm);
            if (roots != null)
            {
                return roots;
            }
            final boolean split = vm.counters().splits.sum() > 0;
            if (Probe.leakedAfterDestroy(vm) != 0)
            {
                return Probe.LEAK;
            }
            return split ? "split" : "not-split";
        }
        catch (final Throwable t)
        {
            return Probe.classify(t);
        }
    }
}
