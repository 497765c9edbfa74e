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
import org.tdpmmu.core.TdpMmuRoots;
import org.tdpmmu.core.TestHook;
import org.tdpmmu.core.Vm;
import org.tdpmmu.stress.Probe;

/**
 * The catalogue's {@code FastInvalidationVsEagerSplit} cut down to the steps after the split's
 * yield: the split holds a reference on the root it took while the root was valid (kernel:
 * for_each_valid_tdp_mmu_root_yield_safe in kvm_tdp_mmu_try_split_huge_pages), and re-takes the
 * read lock to split the one huge page (tdp_mmu_split_huge_page, its link a cmpxchg) whether or not
 * a fast invalidation came meanwhile; the other thread is that fast invalidation (invalidate under
 * the write lock, zap the invalidated root under the read lock, 4 KiB-first). In the full race the
 * split must first yield to the invalidation's waiting writer at the right entry, and the split and
 * the zap each walk whole tables; here one 2 MiB page is mapped and the split looks only at it, so
 * the window (the split's link between the zap's read of the huge leaf and its store) is one
 * preemption of the zap. The split's loop is DirtyLogging's per-entry step over one entry, the MMU's
 * own splitHugePage doing the work.
 *
 * <p>The window is then one position among the zap's six thousand reads (its passes walk every
 * entry of the root and its tables), too thin for a bounded search (some forty schedules in ten minutes here did not reach it).
 * So, as the jcstress race's test hook does, the split waits (boundedly) at the huge page until the
 * zap has read it, and the zap waits at ROOT_ZAP_BEFORE_SET until the split has linked: under the
 * model checker each wait is an active lock, which hands the core to the other thread. The
 * exploration covers every other order around that meeting (the split first, the zap past the
 * page, the split's link failing). Model checker only.
 */
@Description("A split in a root a fast invalidation zaps meanwhile: the split table is zapped, none leaks.")
@Outcome(id = "split", expect = ACCEPTABLE, desc = "The huge page was split (before or while its root was zapped).")
@Outcome(id = "not-split", expect = ACCEPTABLE, desc = "The zap removed the huge page before the split reached it.")
@Outcome(id = Probe.ROOTS, expect = FORBIDDEN, desc = "SafetyChecks.roots failed: an invalid root not empty, or a reference left behind.")
@Outcome(id = Probe.LEAK, expect = FORBIDDEN, desc = "A split table linked into the zapped root leaked.")
@Outcome(expect = FORBIDDEN, desc = "A use after free or any exception inside the MMU.")
@State
@LoopsBeforeSwitch(2048)
public class SplitInInvalidRoot
{
    private static final long HUGE = 0;

    private final OneSlotVm tiny = OneSlotVm.added(Backing.PAGE_2M);
    private final Vm vm = tiny.vm;
    /** The split's reference, taken while the root was valid (before its yield). */
    private final TdpMmuRoots.Root root;
    private final long child;
    private boolean split;
    /** Set by the zap's hook once it has read the huge leaf; by the split once its link landed. */
    private volatile boolean zapAtHuge;
    private volatile boolean linked;
    private String splitFailure;
    private String hostFailure;

    public SplitInInvalidRoot()
    {
        tiny.faultUntilDone(HUGE, true);
        root = tiny.loadRoot();
        // The split's cache is topped up before the lock (tdp_mmu_alloc_sp_for_split).
        child = vm.mmu().allocTable();
        vm.mmu().setTestHook((point, gfn) ->
        {
            if (point == TestHook.Point.ROOT_ZAP_BEFORE_SET && gfn == HUGE && !zapAtHuge)
            {
                // The zap has read the huge leaf: let the split run before its exchange.
                zapAtHuge = true;
                OneSlotVm.waitFor(() -> linked);
            }
        });
    }

    @Actor
    public void split()
    {
        // The split after its yield meets the zap at the huge page (the jcstress race's hook).
        splitFailure = Probe.attempt(() ->
        {
            split = tiny.splitHuge(root, HUGE, child, () -> OneSlotVm.waitFor(() -> zapAtHuge));
            linked = split;
        });
    }

    @Actor
    public void fastInvalidation()
    {
        hostFailure = Probe.failureOf(() -> vm.mmu().zapAllFast());
    }

    @Arbiter
    public void arbiter(final L_Result r)
    {
        r.r1 = Probe.outcome(() ->
        {
            final String roots = Probe.rootsBroken(vm);
            if (roots != null)
            {
                return roots;
            }
            if (Probe.leakedAfterDestroy(vm) != 0)
            {
                return Probe.LEAK;
            }
            return split ? "split" : "not-split";
        }, splitFailure, hostFailure);
    }
}
