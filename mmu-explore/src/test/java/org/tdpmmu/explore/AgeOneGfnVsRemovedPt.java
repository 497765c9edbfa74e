package org.tdpmmu.explore;

import org.tdpmmu.stress.AgeVsRemovedPt;

/**
 * The catalogue's {@link AgeVsRemovedPt} cut down for the model checker: the same VM, actors,
 * arbiter and outcomes, but the lockless ager (6.15, kernel: kvm_tdp_mmu_age_gfn_range under RCU
 * alone) ages the one mapped gfn instead of its 512-gfn table, so its walk is a dozen steps and
 * every single preemption of it is among the first schedules explored. The atomic zap of the
 * level-3 entry above it (handle_removed_pt over two tables) and the RCU reclaim run against it.
 * The zap's freeze loops are 512 entries long, hence {@link LoopsBeforeSwitch}: the window (the
 * ager paused inside the tables while the zapper unlinks, freezes and frees them whole) exists only
 * if the zapper may run its loops in one stretch. Model checker only.
 */
@LoopsBeforeSwitch(2048)
public class AgeOneGfnVsRemovedPt extends AgeVsRemovedPt
{
    public AgeOneGfnVsRemovedPt()
    {
        super(GFN, GFN + 1);
    }
}
