package org.tdpmmu.explore;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.tdpmmu.stress.AgeVsEagerSplit;
import org.tdpmmu.stress.AgeVsHarvest;
import org.tdpmmu.stress.DbitVsHarvest;
import org.tdpmmu.stress.DbitVsRemovedPt;
import org.tdpmmu.stress.EagerSplitVsWrite;
import org.tdpmmu.stress.EnableLoggingVsFault;
import org.tdpmmu.stress.FastInvalidationVsEagerSplit;
import org.tdpmmu.stress.FaultVsAtomicZap;
import org.tdpmmu.stress.FaultVsFrozenSpte;
import org.tdpmmu.stress.FaultVsInvalidation;
import org.tdpmmu.stress.FaultVsSlotDelete;
import org.tdpmmu.stress.FlushVsTlbFill;
import org.tdpmmu.stress.GetDirtyLogVsWriteFault;
import org.tdpmmu.stress.MoveVsFastPageFault;
import org.tdpmmu.stress.NestedInvalidationVsSample;
import org.tdpmmu.stress.PromoteVsFault;
import org.tdpmmu.stress.PromoteVsInvalidation;
import org.tdpmmu.stress.RcuCallbackVsLateReader;
import org.tdpmmu.stress.RingFullVsReset;
import org.tdpmmu.stress.RingPushVsCollect;
import org.tdpmmu.stress.RingResetVsWriteFault;
import org.tdpmmu.stress.TestYoungVsAtomicZap;
import org.tdpmmu.stress.RootReloadVsInvalidRootZap;
import org.tdpmmu.stress.TwoFaultsOneGfn;
import org.tdpmmu.stress.TwoVcpusLinkSameTable;
import org.tdpmmu.stress.WalkerVsTableFree;

/**
 * The model-checked twin of every race in the jcstress catalogue (the same class: state, actors,
 * arbiter, outcomes), plus the races only the model checker runs (three actors, a yield between
 * two steps, a nested invalidation from two threads, two bare faults on one entry, the two aging races cut down to one gfn,
 * the root and memslot races cut down to their steps, the request/entry pair with an arbiter). The
 * catalogue's {@code RcuEntryVsGracePeriodScan} and {@code SrcuReadLockVsSynchronize} have none: their
 * forbidden outcome is a hardware reordering, which no sequentially consistent schedule shows. No seeded bug: every explored schedule must
 * end in an ACCEPTABLE outcome. Bound: {@code -Dexplore.invocations} schedules per race, a third of it for
 * the races whose every schedule runs a fast invalidation or a slot delete (EXPLORE.md).
 */
@Tag(Explorer.TAG)
class RaceTwinsTest
{
    @Test
    void twoFaultsOneGfn()
    {
        Explorer.explore(TwoFaultsOneGfn.class);
    }

    @Test
    void twoVcpusLinkSameTable()
    {
        Explorer.explore(TwoVcpusLinkSameTable.class);
    }

    @Test
    void faultVsAtomicZap()
    {
        Explorer.explore(FaultVsAtomicZap.class);
    }

    @Test
    void faultVsFrozenSpte()
    {
        Explorer.explore(FaultVsFrozenSpte.class);
    }

    @Test
    void walkerVsTableFree()
    {
        Explorer.explore(WalkerVsTableFree.class);
    }

    @Test
    void faultVsInvalidation()
    {
        Explorer.explore(FaultVsInvalidation.class);
    }

    @Test
    void nestedInvalidationVsSample()
    {
        Explorer.explore(NestedInvalidationVsSample.class);
    }

    @Test
    void flushVsTlbFill()
    {
        Explorer.explore(FlushVsTlbFill.class);
    }

    /**
     * The catalogue's EnterGuestVsFlushRequest with an arbiter (its actors report per thread): the
     * request/entry Dekker pair, whose requester half is the atomic OR of VcpuState.orRequests.
     */
    @Test
    void enterGuestVsFlushRequest()
    {
        Explorer.explore(EnterGuestVsRequest.class);
    }

    @Test
    void dbitVsHarvest()
    {
        Explorer.explore(DbitVsHarvest.class);
    }

    /** The bitmap's fast write fault against KVM_GET_DIRTY_LOG (the twin of ringResetVsWriteFault). */
    @Test
    void getDirtyLogVsWriteFault()
    {
        Explorer.explore(GetDirtyLogVsWriteFault.class);
    }

    @Test
    void dbitVsRemovedPt()
    {
        Explorer.explore(DbitVsRemovedPt.class);
    }

    @Test
    void promoteVsFault()
    {
        Explorer.explore(PromoteVsFault.class);
    }

    @Test
    void promoteVsInvalidation()
    {
        Explorer.explore(PromoteVsInvalidation.class);
    }

    @Test
    void eagerSplitVsWrite()
    {
        Explorer.explore(EagerSplitVsWrite.class);
    }

    @Test
    void enableLoggingVsFault()
    {
        Explorer.explore(EnableLoggingVsFault.class);
    }

    @Test
    void rcuCallbackVsLateReader()
    {
        Explorer.explore(RcuCallbackVsLateReader.class);
    }

    @Test
    void faultZapHarvest()
    {
        Explorer.explore(FaultZapHarvest.class);
    }

    @Test
    void sweepYieldVsInvalidation()
    {
        Explorer.explore(SweepYieldVsInvalidation.class);
    }

    @Test
    void twoFaultsOneEntry()
    {
        Explorer.explore(TwoFaultsOneEntry.class);
    }

    @Test
    void nestedInvalidationsVsFault()
    {
        Explorer.explore(NestedInvalidationsVsFault.class);
    }

    @Test
    void testYoungVsAtomicZap()
    {
        Explorer.explore(TestYoungVsAtomicZap.class);
    }

    @Test
    void ageVsHarvest()
    {
        Explorer.explore(AgeVsHarvest.class);
    }

    @Test
    void ageVsEagerSplit()
    {
        Explorer.explore(AgeVsEagerSplit.class);
    }

    // Dirty rings: their shared pages are one of the doors (Explorer: Agrona's UnsafeBuffer as atomic steps).
    @Test
    void ringPushVsCollect()
    {
        Explorer.explore(RingPushVsCollect.class);
    }

    @Test
    void ringResetVsWriteFault()
    {
        Explorer.explore(RingResetVsWriteFault.class);
    }

    @Test
    void ringFullVsReset()
    {
        Explorer.explore(RingFullVsReset.class);
    }

    // memslot changes at runtime

    @Test
    void faultVsSlotDelete()
    {
        Explorer.explore(FaultVsSlotDelete.class);
    }

    /**
     * The catalogue's race with KVM_X86_QUIRK_SLOT_ZAP_ALL off ({@link HarvestVsSlotRangeZap}): with
     * the quirk on, the delete's zap of the invalidated root (4 KiB first, handle_removed_pt's
     * 512-entry loops) is what Lincheck's loop heuristic reports as a livelock of every unfinished
     * thread, with no bug seeded; the bitmap's lifetime, which is the race, is the same either way.
     */
    @Test
    void harvestVsSlotDelete()
    {
        Explorer.explore(HarvestVsSlotRangeZap.class, Explorer.invocations() / 3);
    }

    /** The catalogue's race cut down to the fault handler (MEMSLOT_FLUSH_WITHOUT_SRCU_SYNC's twin), a third of the bound. */
    @Test
    void slotDeleteVsBareFault()
    {
        Explorer.explore(SlotDeleteVsBareFault.class, Explorer.invocations() / 3);
    }

    @Test
    void moveVsFastPageFault()
    {
        Explorer.explore(MoveVsFastPageFault.class);
    }

    /** The catalogue's race with its window forced (FAST_PF_PLAIN_STORE's twin). */
    @Test
    void fastFaultVsSlotMove()
    {
        Explorer.explore(FastFaultVsSlotMove.class);
    }

    /** The aging race cut down to the split of one huge page (AGE_TRACK_PLAIN_STORE's twin). */
    @Test
    void ageTrackVsSplit()
    {
        Explorer.explore(AgeTrackVsSplit.class);
    }

    // The aging races cut down to one gfn (the seeded aging bugs' twins, SeededBugsExploreTest).
    @Test
    void ageOneGfnVsRemovedPt()
    {
        Explorer.explore(AgeOneGfnVsRemovedPt.class);
    }

    @Test
    void ageOneGfnVsDirtyWrite()
    {
        Explorer.explore(AgeOneGfnVsDirtyWrite.class);
    }

    /**
     * The two root races at a third of the bound: each schedule runs a whole fast invalidation
     * over a populated root, about 5 s of CPU under the checker, and their seeded bugs are caught
     * by the cut-downs below (EXPLORE.md, CI budget).
     */
    @Test
    void rootReloadVsInvalidRootZap()
    {
        Explorer.explore(RootReloadVsInvalidRootZap.class, Explorer.invocations() / 3);
    }

    @Test
    void fastInvalidationVsEagerSplit()
    {
        Explorer.explore(FastInvalidationVsEagerSplit.class, Explorer.invocations() / 3);
    }

    /**
     * The root races cut down to their steps (the seeded root bugs' twins, SeededBugsExploreTest),
     * at a third of the bound: every schedule runs a whole fast invalidation (four passes over the
     * root), 2–4 s of CPU each under the checker (EXPLORE.md, CI budget).
     */
    @Test
    void staleRootFault()
    {
        Explorer.explore(StaleRootFault.class, Explorer.invocations() / 3);
    }

    @Test
    void splitInInvalidRoot()
    {
        Explorer.explore(SplitInInvalidRoot.class, Explorer.invocations() / 3);
    }
}
