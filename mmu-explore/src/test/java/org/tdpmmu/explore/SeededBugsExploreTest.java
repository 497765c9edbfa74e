package org.tdpmmu.explore;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import java.util.EnumSet;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.tdpmmu.core.SeededBug;
import org.tdpmmu.stress.AgeVsDirtyWrite;
import org.tdpmmu.stress.AgeVsEagerSplit;
import org.tdpmmu.stress.AgeVsHarvest;
import org.tdpmmu.stress.AgeVsRemovedPt;
import org.tdpmmu.stress.DbitVsHarvest;
import org.tdpmmu.stress.DbitVsRemovedPt;
import org.tdpmmu.stress.FaultVsAtomicZap;
import org.tdpmmu.stress.FaultVsFrozenSpte;
import org.tdpmmu.stress.FastInvalidationVsEagerSplit;
import org.tdpmmu.stress.FaultVsInvalidation;
import org.tdpmmu.stress.FaultVsSlotDelete;
import org.tdpmmu.stress.FlushVsTlbFill;
import org.tdpmmu.stress.MoveVsFastPageFault;
import org.tdpmmu.stress.NestedInvalidationVsSample;
import org.tdpmmu.stress.PromoteVsInvalidation;
import org.tdpmmu.stress.RingFullVsReset;
import org.tdpmmu.stress.RingPushVsCollect;
import org.tdpmmu.stress.RingResetVsWriteFault;
import org.tdpmmu.stress.TestYoungVsAtomicZap;
import org.tdpmmu.stress.RootReloadVsInvalidRootZap;
import org.tdpmmu.stress.TwoFaultsOneGfn;
import org.tdpmmu.stress.TwoVcpusLinkSameTable;
import org.tdpmmu.stress.WalkerVsTableFree;

/**
 * Every {@link SeededBug} caught by the model checker alone: with the bug seeded, exploring the
 * listed twins must reach a FORBIDDEN outcome (the first that does stops the search). One method
 * per bug, named as in the latch tests ({@code SeededBugsTest}); {@code scripts/seeded-bugs.sh} reads
 * which twin caught it from {@link SeededExploration#RESULTS}.
 */
class SeededBugsExploreTest
{
    @Test
    void everySeededBugHasAMethod()
    {
        final long methods = Arrays.stream(SeededBugsExploreTest.class.getDeclaredMethods())
            .filter(m -> m.isAnnotationPresent(Test.class)).count();
        assertEquals(EnumSet.allOf(SeededBug.class).size() + 1, methods, "one @Test per SeededBug (+ this one)");
    }

    @Test
    @Tag(Explorer.TAG)
    void skipInvalidationRetry()
    {
        SeededExploration.mustCatch(SeededBug.SKIP_INVALIDATION_RETRY, FaultVsInvalidation.class, NestedInvalidationVsSample.class, NestedInvalidationsVsFault.class);
    }

    @Test
    @Tag(Explorer.TAG)
    void noFreezeInRemovedPt()
    {
        SeededExploration.mustCatch(SeededBug.NO_FREEZE_IN_REMOVED_PT, FaultVsAtomicZap.class);
    }

    @Test
    @Tag(Explorer.TAG)
    void noRcuDeferredFree()
    {
        SeededExploration.mustCatch(SeededBug.NO_RCU_DEFERRED_FREE, WalkerVsTableFree.class, FaultVsAtomicZap.class);
    }

    @Test
    @Tag(Explorer.TAG)
    void noFlushAfterZap()
    {
        SeededExploration.mustCatch(SeededBug.NO_FLUSH_AFTER_ZAP, FlushVsTlbFill.class);
    }

    @Test
    @Tag(Explorer.TAG)
    void plainStoreInsteadOfCmpxchg()
    {
        SeededExploration.mustCatch(SeededBug.PLAIN_STORE_INSTEAD_OF_CMPXCHG, TwoFaultsOneEntry.class, TwoFaultsOneGfn.class);
    }

    @Test
    @Tag(Explorer.TAG)
    void noFrozenCheckBeforeInstall()
    {
        SeededExploration.mustCatch(SeededBug.NO_FROZEN_CHECK_BEFORE_INSTALL, FaultVsFrozenSpte.class);
    }

    @Test
    @Tag(Explorer.TAG)
    void noDirtyCarryOnZap()
    {
        SeededExploration.mustCatch(SeededBug.NO_DIRTY_CARRY_ON_ZAP, DbitVsRemovedPt.class, FaultZapHarvest.class);
    }

    @Test
    @Tag(Explorer.TAG)
    void noReprotectBeforeHarvest()
    {
        SeededExploration.mustCatch(SeededBug.NO_REPROTECT_BEFORE_HARVEST, DbitVsHarvest.class, FaultZapHarvest.class);
    }

    @Test
    @Tag(Explorer.TAG)
    void promoteDuringInvalidation()
    {
        SeededExploration.mustCatch(SeededBug.PROMOTE_DURING_INVALIDATION, PromoteVsInvalidation.class);
    }

    @Test
    @Tag(Explorer.TAG)
    void leakLoserTable()
    {
        SeededExploration.mustCatch(SeededBug.LEAK_LOSER_TABLE, TwoFaultsOneGfn.class, TwoVcpusLinkSameTable.class);
    }

    // The ring races explore 70-odd schedules before the failing one (their pages are atomic steps,
    // Explorer): seconds each, so in the seeded-bug run rather than in plain mvn verify.
    @Test
    @Tag(Explorer.TAG)
    void ringDirtyBeforeEntry()
    {
        SeededExploration.mustCatch(SeededBug.RING_DIRTY_BEFORE_ENTRY, RingPushVsCollect.class);
    }

    @Test
    @Tag(Explorer.TAG)
    void ringPushBeforeWritable()
    {
        SeededExploration.mustCatch(SeededBug.RING_PUSH_BEFORE_WRITABLE, RingResetVsWriteFault.class);
    }

    @Test
    @Tag(Explorer.TAG)
    void ringReenterBeforeReset()
    {
        SeededExploration.mustCatch(SeededBug.RING_REENTER_BEFORE_RESET, RingFullVsReset.class);
    }

    /**
     * The cut-down twin first (the ager ages one gfn; the zapper may run its 512-entry freeze loops
     * whole, {@link LoopsBeforeSwitch}), then the catalogue's race.
     */
    @Test
    @Tag(Explorer.TAG)
    void locklessAgeWithoutRcu()
    {
        SeededExploration.mustCatch(SeededBug.LOCKLESS_AGE_WITHOUT_RCU, AgeOneGfnVsRemovedPt.class, AgeVsRemovedPt.class);
    }

    /** The cut-down twin first (the ager ages the written gfn only), then the catalogue's race. */
    @Test
    @Tag(Explorer.TAG)
    void agePlainStore()
    {
        SeededExploration.mustCatch(SeededBug.AGE_PLAIN_STORE, AgeOneGfnVsDirtyWrite.class, AgeVsDirtyWrite.class);
    }

    @Test
    @Tag(Explorer.TAG)
    void testYoungWithoutPresentCheck()
    {
        SeededExploration.mustCatch(SeededBug.TEST_YOUNG_WITHOUT_PRESENT_CHECK, TestYoungVsAtomicZap.class);
    }

    /** The cut-down twin first (the split of the one huge page, no logging around it), then the catalogue's race. */
    @Test
    @Tag(Explorer.TAG)
    void ageTrackPlainStore()
    {
        SeededExploration.mustCatch(SeededBug.AGE_TRACK_PLAIN_STORE, AgeTrackVsSplit.class, AgeVsEagerSplit.class);
    }

    // memslot changes at runtime

    @Test
    @Tag(Explorer.TAG)
    void memslotFlushWithoutSrcuSync()
    {
        SeededExploration.mustCatch(SeededBug.MEMSLOT_FLUSH_WITHOUT_SRCU_SYNC, SlotDeleteVsBareFault.class, FaultVsSlotDelete.class);
    }

    @Test
    @Tag(Explorer.TAG)
    void harvestWithoutSlotsLock()
    {
        SeededExploration.mustCatch(SeededBug.HARVEST_WITHOUT_SLOTS_LOCK, HarvestVsSlotRangeZap.class);
    }

    /** The cut-down twin first (the window forced by bounded waits, as the latch test forces it), then the catalogue's race. */
    @Test
    @Tag(Explorer.TAG)
    void fastPfPlainStore()
    {
        SeededExploration.mustCatch(SeededBug.FAST_PF_PLAIN_STORE, FastFaultVsSlotMove.class, MoveVsFastPageFault.class);
    }

    // Roots (TdpMmuRoots, TdpMmu#zapAllFast).

    /** The cut-down twin (a bare fault on the vCPU's loaded root), then the catalogue's race. */
    @Test
    @Tag(Explorer.TAG)
    void skipStaleRootCheck()
    {
        SeededExploration.mustCatch(SeededBug.SKIP_STALE_ROOT_CHECK, StaleRootFault.class, RootReloadVsInvalidRootZap.class);
    }

    /** The cut-down twin (the split after its yield, one huge page), then the catalogue's race. */
    @Test
    @Tag(Explorer.TAG)
    void invalidRootZapNotAtomic()
    {
        SeededExploration.mustCatch(SeededBug.INVALID_ROOT_ZAP_NOT_ATOMIC, SplitInInvalidRoot.class, FastInvalidationVsEagerSplit.class);
    }
}
