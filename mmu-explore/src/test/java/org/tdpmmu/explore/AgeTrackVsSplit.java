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
import org.tdpmmu.core.TdpIter;
import org.tdpmmu.core.TdpMmu;
import org.tdpmmu.core.TdpMmuAge;
import org.tdpmmu.core.Vm;
import org.tdpmmu.stress.AgeVsEagerSplit;
import org.tdpmmu.stress.Probe;
import org.tdpmmu.stress.StressVm;

/**
 * The catalogue's {@link AgeVsEagerSplit} cut down to the two cmpxchgs that race: lockless access
 * tracking (6.15, EPT without A/D bits: kvm_tdp_mmu_age_gfn_range marking the one present, so young,
 * 2 MiB leaf for access tracking) against eager splitting's step at that leaf
 * (tdp_mmu_split_huge_page under mmu_lock for read, its table allocated before the lock). In the
 * catalogue the split is the whole of enabling dirty logging (a 64-table cache top-up, then a
 * write-protect sweep of the 512 children) and the ager's iterator is shared state; here the split
 * is the MMU's {@link TdpMmu#splitHugePage} on the one entry and each actor walks with an iterator
 * of its own, so the window (the split's link between the ager's read of the leaf and its store) is
 * one preemption of the ager among a few dozen steps. Model checker only.
 *
 * <p>Same property as the catalogue's race, less the logging it does not enable: after both, no
 * 2 MiB leaf maps the page (the split's table was not overwritten) and no table leaked.
 */
@Description("Lockless access tracking of a 2 MiB leaf against its split: the split's table is never overwritten.")
@Outcome(id = "split", expect = ACCEPTABLE, desc = "4 KiB leaves map the page after both (the ager's cmpxchg won or lost).")
@Outcome(id = AgeTrackVsSplit.HUGE_AFTER_SPLIT, expect = FORBIDDEN,
    desc = "A 2 MiB leaf maps the page after the split linked its table: the ager stored its snapshot over it.")
@Outcome(id = Probe.LEAK, expect = FORBIDDEN, desc = "A table was never freed after teardown and an RCU barrier.")
@Outcome(expect = FORBIDDEN, desc = "Any other exception inside the MMU.")
@State
@LoopsBeforeSwitch(2048)
public class AgeTrackVsSplit
{
    /** Outcome: the huge leaf is back over the split's table. */
    static final String HUGE_AFTER_SPLIT = "huge-after-split";
    private static final long GFN = 5;
    private static final long HUGE = 0;

    private final OneSlotVm tiny = OneSlotVm.added(StressVm.config(StressVm.seededBugs())
        .withLocklessAging(true).withEptAdBits(false), Backing.PAGE_2M);
    private final Vm vm = tiny.vm;
    private final TdpMmuAge age = new TdpMmuAge(vm);
    /** The split's table (kernel: tdp_mmu_alloc_sp_for_split, before the lock). */
    private final long child;
    private boolean split;
    private String ageFailure;
    private String splitFailure;

    public AgeTrackVsSplit()
    {
        // A read: one 2 MiB leaf, present and so young without A/D bits.
        tiny.faultUntilDone(GFN, false);
        child = vm.mmu().allocTable();
    }

    @Actor
    public void age()
    {
        ageFailure = Probe.failureOf(() -> age.clearYoung(new TdpIter(vm.store()), GFN, GFN + 1));
    }

    @Actor
    public void split()
    {
        splitFailure = Probe.attempt(() -> split = tiny.splitHuge(null, HUGE, child, () ->
        {
        }));
    }

    @Arbiter
    public void arbiter(final L_Result r)
    {
        r.r1 = Probe.outcome(() ->
        {
            if (Probe.mappedHuge(vm, GFN))
            {
                return HUGE_AFTER_SPLIT;
            }
            return Probe.leakedAfterDestroy(vm) != 0 ? Probe.LEAK : "split";
        }, ageFailure, splitFailure);
    }
}
