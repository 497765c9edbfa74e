package org.tdpmmu.explore;

import org.tdpmmu.stress.AgeVsEagerSplit;

/**
 * The catalogue's {@link AgeVsEagerSplit} (a subclass: same VM, actors, arbiter, outcomes) with
 * {@link LoopsBeforeSwitch}: the split may fill its cache and the ager may walk in one stretch, so
 * the schedules that open the window (the ager's plain store of its marked snapshot after the
 * split's link) are not buried under the forced switches of those loops. Model checker only.
 */
@LoopsBeforeSwitch(2048)
public class AgeVsEagerSplitWhole extends AgeVsEagerSplit
{
}
