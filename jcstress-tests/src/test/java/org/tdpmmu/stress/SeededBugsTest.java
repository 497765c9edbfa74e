package org.tdpmmu.stress;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.reflect.Method;
import java.util.EnumSet;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.FutureTask;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.tdpmmu.stress.Latches.await;
import static org.tdpmmu.stress.Latches.join;
import static org.tdpmmu.stress.Latches.start;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.tdpmmu.core.Backing;
import org.tdpmmu.core.DirtyLogging;
import org.tdpmmu.core.Memslot;
import org.tdpmmu.core.RecoveryStrategy;
import org.tdpmmu.core.SafetyChecks;
import org.tdpmmu.core.SeededBug;
import org.tdpmmu.core.Spte;
import org.tdpmmu.core.StaleTranslationException;
import org.tdpmmu.core.TdpIter;
import org.tdpmmu.core.TdpMmu;
import org.tdpmmu.core.TdpMmuAge;
import org.tdpmmu.core.TestHook;
import org.tdpmmu.core.UseAfterFreeException;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;
import org.tdpmmu.stress.Latches.Pause;

/**
 * The deterministic half of the seeded-bug check: for each {@link SeededBug}, the interleaving that
 * exposes it is forced with latches (and {@link TestHook} pause points inside the MMU), then run
 * once with the bug, where the violation must be reported, and once without, where it must not.
 * Every wait is bounded (5 s) and fails the test on timeout; nothing sleeps for correctness.
 *
 * <p>Test method names are the bugs' names in lower camel case; {@code scripts/seeded-bugs.sh}
 * reads the surefire report by those names.
 */
@Timeout(value = 20, unit = SECONDS)
class SeededBugsTest
{
    private static final long WAIT_SECONDS = 5;
    private static final Set<SeededBug> NONE = EnumSet.noneOf(SeededBug.class);

    @Test
    void everySeededBugHasALatchTest() throws Exception
    {
        for (final SeededBug bug : SeededBug.values())
        {
            final Method m = SeededBugsTest.class.getDeclaredMethod(methodName(bug));
            assertNotNull(m.getAnnotation(Test.class), "no @Test for " + bug);
        }
    }

    /** A fault resolved the old pfn, the host migrated the page, the fault then installs without the retry check. */
    @Test
    void skipInvalidationRetry() throws Exception
    {
        assertTrue(faultAcrossMigrationInstallsStalePfn(EnumSet.of(SeededBug.SKIP_INVALIDATION_RETRY)),
            "with the bug the fault installs the freed pfn");
        assertFalse(faultAcrossMigrationInstallsStalePfn(NONE), "without the bug the fault retries");
    }

    private static boolean faultAcrossMigrationInstallsStalePfn(final Set<SeededBug> bugs) throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(bugs)))
        {
            final Memslot slot = vm.addMemslot(0, 1024, Backing.PAGE_4K);
            final Pause pause = new Pause(TestHook.Point.FAULT_AFTER_PFN_RESOLVED, "fault");
            vm.mmu().setTestHook(pause);
            final FutureTask<Integer> fault = start("fault", () -> vm.mmu().pageFault(new TdpIter(vm.store()), 7, true));
            pause.awaitReached();
            vm.migrate(slot, 7, 1);
            pause.release();
            final int result = join(fault);
            final boolean stale = Probe.stalePfn(vm, slot, 7);
            assertEquals(stale ? TdpMmu.RET_PF_FIXED : TdpMmu.RET_PF_RETRY, result);
            return stale;
        }
    }

    /**
     * A fault read a huge leaf in a level-2 table and is about to link its split table over it;
     * meanwhile an atomic zap unlinks the level-2 table and handle_removed_pt passes that entry.
     */
    @Test
    void noFreezeInRemovedPt() throws Exception
    {
        assertTrue(splitIntoRemovedTableLeaks(EnumSet.of(SeededBug.NO_FREEZE_IN_REMOVED_PT)),
            "with the bug the split table is linked into the removed table and leaks");
        assertFalse(splitIntoRemovedTableLeaks(NONE), "without the bug the split's cmpxchg meets the frozen entry");
    }

    private static boolean splitIntoRemovedTableLeaks(final Set<SeededBug> bugs) throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(bugs)))
        {
            final Memslot slot = vm.addMemslot(0, 512, Backing.PAGE_2M);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(0, 1);
            vcpu.exitGuest();
            new DirtyLogging(vm).enable(slot, Memslot.LOG_WRPROT, false);
            // The fault's first set_spte_atomic is the split's link over the write-protected huge leaf.
            final Pause pause = new Pause(TestHook.Point.BEFORE_SET_SPTE, "fault");
            vm.mmu().setTestHook(pause);
            final FutureTask<Integer> fault = start("fault", () -> vm.mmu().pageFault(new TdpIter(vm.store()), 7, true));
            pause.awaitReached();
            assertTrue(Probe.zapAtomic(vm, 7, Spte.PG_LEVEL_1G));
            pause.release();
            join(fault);
            return Probe.leakedAfterDestroy(vm) != 0;
        }
    }

    /**
     * A lockless walker (RCU section only) is inside the last-level table when another thread
     * unlinks the tables above it and runs the reclaimer; then the walker reads on. (A vCPU's own
     * hardware walk is also covered by the zap's TLB-flush handshake, so a tdp_iter walker is used.)
     */
    @Test
    void noRcuDeferredFree() throws Exception
    {
        final Throwable withBug = walkerAcrossReclaim(EnumSet.of(SeededBug.NO_RCU_DEFERRED_FREE));
        assertTrue(withBug instanceof UseAfterFreeException, "with the bug the walker reads a freed table: " + withBug);
        assertEquals(null, walkerAcrossReclaim(NONE), "without the bug the free waits for the walker");
    }

    private static Throwable walkerAcrossReclaim(final Set<SeededBug> bugs) throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(bugs)))
        {
            vm.addMemslot(0, 1024, Backing.PAGE_4K);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.read(5);
            vcpu.exitGuest();
            final CountDownLatch inside = new CountDownLatch(1);
            final CountDownLatch reclaimed = new CountDownLatch(1);
            final TdpMmu mmu = vm.mmu();
            final FutureTask<Throwable> walker = start("walker", () ->
            {
                final TdpIter iter = new TdpIter(vm.store());
                mmu.rcu().readLock();
                try
                {
                    for (iter.start(mmu.rootPfn(), mmu.rootLevel(), Spte.PG_LEVEL_4K, 0, 512); iter.valid(); iter.next())
                    {
                        if (iter.level() == Spte.PG_LEVEL_4K && inside.getCount() > 0)
                        {
                            inside.countDown();
                            await(reclaimed);
                        }
                    }
                    return null;
                }
                catch (final UseAfterFreeException ex)
                {
                    return ex;
                }
                finally
                {
                    mmu.rcu().readUnlock();
                }
            });
            await(inside);
            assertTrue(Probe.zapAtomic(vm, 5, Spte.PG_LEVEL_1G));
            mmu.rcu().tryReclaim();
            reclaimed.countDown();
            return join(walker);
        }
    }

    /** A vCPU keeps a TLB entry across a VM exit while the host migrates the page behind it. */
    @Test
    void noFlushAfterZap() throws Exception
    {
        final Throwable withBug = writeAfterMigration(EnumSet.of(SeededBug.NO_FLUSH_AFTER_ZAP));
        assertTrue(withBug instanceof StaleTranslationException, "with the bug the TLB entry survives: " + withBug);
        assertEquals(null, writeAfterMigration(NONE), "without the bug the flush drops the TLB entry");
    }

    private static Throwable writeAfterMigration(final Set<SeededBug> bugs) throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(bugs)))
        {
            final Memslot slot = vm.addMemslot(0, 1024, Backing.PAGE_4K);
            final Vcpu vcpu = vm.createVcpu();
            final CountDownLatch filled = new CountDownLatch(1);
            final CountDownLatch migrated = new CountDownLatch(1);
            final FutureTask<Throwable> guest = start("vcpu", () ->
            {
                try
                {
                    vcpu.write(7, 1);
                    // The TLB entry outlives the exit (VPID); a flush requested meanwhile is taken at entry.
                    vcpu.exitGuest();
                    filled.countDown();
                    await(migrated);
                    vcpu.write(7, 2);
                    assertEquals(2, Probe.content(vm, slot, 7));
                    return null;
                }
                catch (final StaleTranslationException ex)
                {
                    return ex;
                }
                finally
                {
                    vcpu.exitGuest();
                }
            });
            await(filled);
            vm.migrate(slot, 7, 1);
            migrated.countDown();
            return join(guest);
        }
    }

    /**
     * Two faults link a table into the same empty entry. Both are held together at the set point,
     * which with the seeded read-compare-store lies after the compare: both compares pass, both
     * stores land, one table is orphaned. With cmpxchg the point lies before it and one cmpxchg
     * fails. One round each, no timing: issue 14 saw the old version (rounds until a deadline of
     * 0.7 s, hoping both threads would pass the compare together) miss the race on a loaded machine.
     */
    @Test
    void plainStoreInsteadOfCmpxchg() throws Exception
    {
        assertTrue(racingLinksLeak(EnumSet.of(SeededBug.PLAIN_STORE_INSTEAD_OF_CMPXCHG)),
            "with the bug both links are stored and one table is orphaned");
        assertFalse(racingLinksLeak(NONE), "without the bug one cmpxchg fails and its table is freed");
    }

    private static boolean racingLinksLeak(final Set<SeededBug> bugs) throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(bugs)))
        {
            vm.addMemslot(0, 1024, Backing.PAGE_4K);
            final SpinMeet meet = new SpinMeet(TestHook.Point.BEFORE_SET_SPTE);
            vm.mmu().setTestHook(meet);
            final FutureTask<Integer> a = start("link-a", () -> vm.mmu().pageFault(new TdpIter(vm.store()), 7, true));
            final FutureTask<Integer> b = start("link-b", () -> vm.mmu().pageFault(new TdpIter(vm.store()), 7, false));
            join(a);
            join(b);
            return Probe.leakedAfterDestroy(vm) != 0;
        }
    }

    /** An atomic zap froze a level-3 entry and waits to finish; a fault meets the frozen entry. */
    @Test
    void noFrozenCheckBeforeInstall() throws Exception
    {
        assertTrue(faultOverFrozenEntryLeaks(EnumSet.of(SeededBug.NO_FROZEN_CHECK_BEFORE_INSTALL)),
            "with the bug the fault links a table over the frozen entry and the zap orphans it");
        assertFalse(faultOverFrozenEntryLeaks(NONE), "without the bug the fault retries");
    }

    private static boolean faultOverFrozenEntryLeaks(final Set<SeededBug> bugs) throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(bugs)))
        {
            vm.addMemslot(0, 1024, Backing.PAGE_4K);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.read(512 + 5);
            vcpu.exitGuest();
            final Pause pause = new Pause(TestHook.Point.ZAP_AFTER_FREEZE, "zap");
            vm.mmu().setTestHook(pause);
            final FutureTask<Boolean> zap = start("zap", () -> Probe.zapAtomic(vm, 7, Spte.PG_LEVEL_1G));
            pause.awaitReached();
            final int result = vm.mmu().pageFault(new TdpIter(vm.store()), 7, true);
            pause.release();
            assertTrue(join(zap));
            final boolean leaked = Probe.leakedAfterDestroy(vm) != 0;
            assertEquals(leaked ? TdpMmu.RET_PF_FIXED : TdpMmu.RET_PF_RETRY, result);
            return leaked;
        }
    }

    /** Hardware set D on a clean writable leaf (D-bit logging), then an atomic zap removes its table. */
    @Test
    void noDirtyCarryOnZap() throws Exception
    {
        assertTrue(dirtyLostWithRemovedTable(EnumSet.of(SeededBug.NO_DIRTY_CARRY_ON_ZAP)),
            "with the bug the D bit is dropped with the table");
        assertFalse(dirtyLostWithRemovedTable(NONE), "without the bug the removal carries D into the bitmap");
    }

    private static boolean dirtyLostWithRemovedTable(final Set<SeededBug> bugs) throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(bugs)))
        {
            final Memslot slot = vm.addMemslot(0, 1024, Backing.PAGE_4K);
            final DirtyLogging log = new DirtyLogging(vm);
            log.enable(slot, Memslot.LOG_DBIT, false);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.read(7);
            vcpu.exitGuest();
            final AtomicBoolean removalReachedLeaf = new AtomicBoolean();
            vm.mmu().setTestHook((point, gfn) ->
            {
                if (point == TestHook.Point.REMOVED_PT_BEFORE_ENTRY && gfn == 7)
                {
                    removalReachedLeaf.set(true);
                }
            });
            final FutureTask<Void> guest = start("vcpu", () ->
            {
                try
                {
                    vcpu.write(7, 5);
                }
                finally
                {
                    vcpu.exitGuest();
                }
                return null;
            });
            join(guest);
            assertTrue(Spte.isDirty(Probe.entryFor(vm, 7)), "the walk set D on the leaf");
            assertTrue(Probe.zapAtomic(vm, 7, Spte.PG_LEVEL_2M));
            assertTrue(removalReachedLeaf.get(), "handle_removed_pt reached the dirty leaf");
            return !Probe.dirty(log.getDirtyLog(slot, false), 7);
        }
    }

    /**
     * Get-dirty-log took the bitmap word (the page's bit with it) and stops before re-protecting;
     * the vCPU writes the page meanwhile (allowed: it is being harvested), then again after the
     * harvest returned. That last write must reach the next harvest.
     */
    @Test
    void noReprotectBeforeHarvest() throws Exception
    {
        assertTrue(writeAfterHarvestLost(EnumSet.of(SeededBug.NO_REPROTECT_BEFORE_HARVEST)),
            "with the bug the page stays writable and the later write is never logged");
        assertFalse(writeAfterHarvestLost(NONE), "without the bug the later write faults and is logged");
    }

    private static boolean writeAfterHarvestLost(final Set<SeededBug> bugs) throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(bugs)))
        {
            final Memslot slot = vm.addMemslot(0, 1024, Backing.PAGE_4K);
            final DirtyLogging log = new DirtyLogging(vm);
            log.enable(slot, Memslot.LOG_WRPROT, false);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(7, 1);
            vcpu.exitGuest();
            final Pause pause = new Pause(TestHook.Point.HARVEST_AFTER_XCHG, "harvest");
            vm.mmu().setTestHook(pause);
            final FutureTask<long[]> harvest = start("harvest", () -> log.getDirtyLog(slot, false));
            pause.awaitReached();
            vcpu.write(7, 2);
            vcpu.exitGuest();
            pause.release();
            assertTrue(Probe.dirty(join(harvest), 7), "the harvest reports the first write");
            vcpu.write(7, 3);
            vcpu.exitGuest();
            return !Probe.dirty(log.getDirtyLog(slot, false), 7);
        }
    }

    /** Promotion runs while an invalidation of one page of its 2 MiB region is in progress. */
    @Test
    void promoteDuringInvalidation() throws Exception
    {
        assertTrue(promotionMapsPageUnderInvalidation(EnumSet.of(SeededBug.PROMOTE_DURING_INVALIDATION)),
            "with the bug the huge leaf maps the page under invalidation");
        assertFalse(promotionMapsPageUnderInvalidation(NONE), "without the bug promotion skips the region");
    }

    private static boolean promotionMapsPageUnderInvalidation(final Set<SeededBug> bugs) throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(bugs)))
        {
            final Memslot slot = vm.addMemslot(0, 512, Backing.PAGE_2M);
            final DirtyLogging log = new DirtyLogging(vm);
            log.enable(slot, Memslot.LOG_WRPROT, false);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(0, 1);
            vcpu.write(8, 8);
            vcpu.exitGuest();
            log.disable(slot, Probe.NO_RECOVERY);
            final AtomicInteger sets = new AtomicInteger();
            vm.mmu().setTestHook((point, gfn) ->
            {
                if (point == TestHook.Point.PROMOTE_BEFORE_SET)
                {
                    sets.incrementAndGet();
                }
            });
            vm.mmu().invalidateRangeStart(8, 9);
            try
            {
                final FutureTask<Void> promote = start("promote", () ->
                {
                    RecoveryStrategy.PROMOTE_IN_PLACE.recovery().recover(vm.mmu(), slot);
                    return null;
                });
                join(promote);
                final boolean mapped = Probe.mapped(vm, 8);
                assertEquals(mapped ? 1 : 0, sets.get());
                return mapped;
            }
            finally
            {
                vm.mmu().invalidateRangeEnd(8, 9);
            }
        }
    }

    /** A fault stops before linking a last-level table; another fault links one there first. */
    @Test
    void leakLoserTable() throws Exception
    {
        assertTrue(losingLinkLeaks(EnumSet.of(SeededBug.LEAK_LOSER_TABLE)), "with the bug the loser's table leaks");
        assertFalse(losingLinkLeaks(NONE), "without the bug the loser frees its table");
    }

    private static boolean losingLinkLeaks(final Set<SeededBug> bugs) throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(bugs)))
        {
            vm.addMemslot(0, 1024, Backing.PAGE_4K);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.read(5);
            vcpu.exitGuest();
            final Pause pause = new Pause(TestHook.Point.BEFORE_SET_SPTE, "loser");
            vm.mmu().setTestHook(pause);
            final FutureTask<Integer> loser = start("loser", () -> vm.mmu().pageFault(new TdpIter(vm.store()), 512, true));
            pause.awaitReached();
            assertEquals(TdpMmu.RET_PF_FIXED, vm.mmu().pageFault(new TdpIter(vm.store()), 513, true));
            pause.release();
            assertEquals(TdpMmu.RET_PF_RETRY, join(loser));
            return Probe.leakedAfterDestroy(vm) != 0;
        }
    }

    static String methodName(final SeededBug bug)
    {
        final StringBuilder sb = new StringBuilder();
        for (final String word : bug.name().toLowerCase(Locale.ROOT).split("_"))
        {
            sb.append(sb.length() == 0 ? word : Character.toUpperCase(word.charAt(0)) + word.substring(1));
        }
        return sb.toString();
    }

    /**
     * A lockless ager (6.15) paused on a young leaf while an atomic zap unlinks the tables above it
     * and the RCU callbacks run: inside its RCU read-side section the free waits for it; without
     * the section it touches a freed table.
     */
    @Test
    void locklessAgeWithoutRcu() throws Exception
    {
        final Throwable withBug = agerAcrossReclaim(EnumSet.of(SeededBug.LOCKLESS_AGE_WITHOUT_RCU));
        assertTrue(withBug instanceof UseAfterFreeException, "with the bug the ager touches a freed table: " + withBug);
        assertEquals(null, agerAcrossReclaim(NONE), "without the bug the free waits for the ager");
    }

    private static Throwable agerAcrossReclaim(final Set<SeededBug> bugs) throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(bugs).withLocklessAging(true)))
        {
            vm.addMemslot(0, 1024, Backing.PAGE_4K);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.read(5);
            vcpu.exitGuest();
            final TdpMmuAge age = new TdpMmuAge(vm);
            final Pause pause = new Pause(TestHook.Point.AGE_BEFORE_CLEAR, "ager");
            vm.mmu().setTestHook(pause);
            final FutureTask<Throwable> ager = start("ager", () ->
            {
                try
                {
                    assertTrue(age.clearYoung(0, 1024));
                    return null;
                }
                catch (final UseAfterFreeException ex)
                {
                    return ex;
                }
            });
            pause.awaitReached();
            assertTrue(Probe.zapAtomic(vm, 5, Spte.PG_LEVEL_1G), "the zap does not wait for a lockless ager");
            vm.rcu().tryReclaim();
            pause.release();
            return join(ager);
        }
    }

    /**
     * D-bit dirty logging, a clean writable leaf: a lockless ager reads it young, the vCPU writes
     * (hardware sets D with a cmpxchg), then the ager clears A. The atomic bit clear keeps D; a
     * store of the ager's snapshot drops it, and the harvest misses the write.
     */
    @Test
    void agePlainStore() throws Exception
    {
        assertTrue(dirtyLostToAging(EnumSet.of(SeededBug.AGE_PLAIN_STORE)), "with the bug the ager's store drops D");
        assertFalse(dirtyLostToAging(NONE), "without the bug the atomic clear keeps D");
        // The same guard against the harvest (AgeVsHarvest): the ager's stale snapshot gives W back.
        assertTrue(reprotectLostToAging(EnumSet.of(SeededBug.AGE_PLAIN_STORE)),
            "with the bug the ager's store undoes the harvest's re-protection");
        assertFalse(reprotectLostToAging(NONE), "without the bug the atomic clear leaves W clear");
    }

    /**
     * Write-protect logging: the ager paused at AGE_BEFORE_CLEAR on a written (writable) leaf, a
     * KVM_GET_DIRTY_LOG reports the page and re-protects it, the ager finishes; is the next write
     * missing from the next harvest?
     */
    private static boolean reprotectLostToAging(final Set<SeededBug> bugs) throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(bugs).withLocklessAging(true)))
        {
            final Memslot slot = vm.addMemslot(0, 1024, Backing.PAGE_4K);
            final DirtyLogging log = new DirtyLogging(vm);
            log.enable(slot, Memslot.LOG_WRPROT, false);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(7, 1);
            vcpu.exitGuest();
            final TdpMmuAge age = new TdpMmuAge(vm);
            final Pause pause = new Pause(TestHook.Point.AGE_BEFORE_CLEAR, "ager");
            vm.mmu().setTestHook(pause);
            final FutureTask<Boolean> ager = start("ager", () -> age.clearYoung(0, 1024));
            pause.awaitReached();
            assertTrue(Probe.dirty(log.getDirtyLog(slot, false), 7), "the harvest reports the first write");
            assertFalse(Spte.isWritable(Probe.entryFor(vm, 7)), "and re-protected the leaf");
            pause.release();
            assertTrue(join(ager));
            vcpu.write(7, 2);
            vcpu.exitGuest();
            return !Probe.dirty(log.getDirtyLog(slot, false), 7);
        }
    }

    private static boolean dirtyLostToAging(final Set<SeededBug> bugs) throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(bugs).withLocklessAging(true)))
        {
            final Memslot slot = vm.addMemslot(0, 1024, Backing.PAGE_4K);
            final DirtyLogging log = new DirtyLogging(vm);
            log.enable(slot, Memslot.LOG_DBIT, false);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(7, 1);
            vcpu.exitGuest();
            log.getDirtyLog(slot, false);
            assertFalse(Spte.isDirty(Probe.entryFor(vm, 7)), "the harvest cleaned the leaf");
            final TdpMmuAge age = new TdpMmuAge(vm);
            final Pause pause = new Pause(TestHook.Point.AGE_BEFORE_CLEAR, "ager");
            vm.mmu().setTestHook(pause);
            final FutureTask<Boolean> ager = start("ager", () -> age.clearYoung(0, 1024));
            pause.awaitReached();
            vcpu.write(7, 2);
            vcpu.exitGuest();
            assertTrue(Spte.isDirty(Probe.entryFor(vm, 7)), "the walk set D while the ager waited");
            pause.release();
            assertTrue(join(ager));
            return !Probe.dirty(log.getDirtyLog(slot, false), 7);
        }
    }


    /**
     * Lockless test_young meets the leaf an atomic zap has frozen and not yet cleared; the leaf
     * was aged before (A clear). With the bug the frozen value's A bit reads as a young leaf.
     */
    @Test
    void testYoungWithoutPresentCheck() throws Exception
    {
        assertTrue(testYoungOfFrozenLeaf(EnumSet.of(SeededBug.TEST_YOUNG_WITHOUT_PRESENT_CHECK)),
            "with the bug test_young reports the frozen entry young");
        assertFalse(testYoungOfFrozenLeaf(NONE), "without the bug a frozen entry is not present, so not young");
    }

    private static boolean testYoungOfFrozenLeaf(final Set<SeededBug> bugs) throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(bugs).withLocklessAging(true)))
        {
            vm.addMemslot(0, 1024, Backing.PAGE_4K);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.read(7);
            vcpu.exitGuest();
            final TdpMmuAge age = new TdpMmuAge(vm);
            assertTrue(age.clearYoung(7, 8), "the read set A");
            assertFalse(age.testYoung(7, 8), "aged: the leaf is idle");
            final Pause pause = new Pause(TestHook.Point.ZAP_AFTER_FREEZE, "zap");
            vm.mmu().setTestHook(pause);
            final FutureTask<Boolean> zap = start("zap", () -> Probe.zapAtomic(vm, 7, Spte.PG_LEVEL_4K));
            pause.awaitReached();
            final boolean young = age.testYoung(7, 8);
            pause.release();
            assertTrue(join(zap));
            assertFalse(age.testYoung(7, 8), "zapped: nothing mapped");
            return young;
        }
    }

    /**
     * EPT without A/D bits: the ager paused at AGE_BEFORE_CLEAR on a 2 MiB leaf, the eager
     * splitter's step (tdp_mmu_split_huge_page under the read lock) replaces it with a table, the
     * ager finishes its access tracking. With the bug its store of the marked snapshot overwrites
     * the split's table: the huge leaf is back and the table leaks. (The split is called directly:
     * enabling logging first waits for a grace period, which the paused ager's read-side section
     * holds up; the jcstress twin races the whole enable.)
     */
    @Test
    void ageTrackPlainStore() throws Exception
    {
        assertTrue(splitUndoneByAging(EnumSet.of(SeededBug.AGE_TRACK_PLAIN_STORE)),
            "with the bug the ager's store puts the huge leaf back over the table");
        assertFalse(splitUndoneByAging(NONE), "without the bug the ager's cmpxchg fails and leaves the table");
    }

    private static boolean splitUndoneByAging(final Set<SeededBug> bugs) throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(80, StressVm.FRAMES, bugs).withLocklessAging(true).withEptAdBits(false)))
        {
            vm.addMemslot(0, 512, Backing.PAGE_2M);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.read(5);
            vcpu.exitGuest();
            assertTrue(Probe.mappedHuge(vm, 5), "a 2 MiB leaf before enable");
            final TdpMmuAge age = new TdpMmuAge(vm);
            final Pause pause = new Pause(TestHook.Point.AGE_BEFORE_CLEAR, "ager");
            vm.mmu().setTestHook(pause);
            final FutureTask<Boolean> ager = start("ager", () -> age.clearYoung(0, 512));
            pause.awaitReached();
            assertTrue(splitHuge(vm, 5), "the split linked its table");
            assertFalse(Probe.mappedHuge(vm, 5), "4 KiB leaves after the split");
            pause.release();
            assertTrue(join(ager), "the ager found the huge leaf young");
            final boolean huge = Probe.mappedHuge(vm, 5);
            final boolean leaked = Probe.leakedAfterDestroy(vm) != 0;
            assertEquals(huge, leaked, "the overwritten table is the one that leaks");
            return huge;
        }
    }

    /** One eager-split step on the 2 MiB leaf over {@code gfn}, under the read lock and RCU. */
    private static boolean splitHuge(final Vm vm, final long gfn)
    {
        final TdpMmu mmu = vm.mmu();
        final TdpIter iter = new TdpIter(vm.store());
        final long child = mmu.allocTable();
        mmu.lock().readLock();
        mmu.rcu().readLock();
        try
        {
            for (iter.start(mmu.rootPfn(), mmu.rootLevel(), Spte.PG_LEVEL_2M, gfn, gfn + 1); iter.valid(); iter.next())
            {
                if (iter.level() == Spte.PG_LEVEL_2M && Spte.isPresentLeaf(iter.oldSpte(), iter.level()))
                {
                    return mmu.splitHugePage(iter, child);
                }
            }
            return false;
        }
        finally
        {
            mmu.rcu().readUnlock();
            mmu.lock().readUnlock();
        }
    }

    /**
     * The vCPU's push is half done (with the bug: DIRTY published, slot and offset not yet written);
     * the collector reads the ring meanwhile, then again after the push completed. The page must be
     * reported once, with its own offset.
     */
    @Test
    void ringDirtyBeforeEntry() throws Exception
    {
        assertTrue(collectMidPushLosesPage(EnumSet.of(SeededBug.RING_DIRTY_BEFORE_ENTRY)),
            "with the bug the collector takes the entry before its offset is written");
        assertFalse(collectMidPushLosesPage(NONE), "without the bug the entry is not yet visible, the next collect has it");
    }

    private static boolean collectMidPushLosesPage(final Set<SeededBug> bugs) throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(bugs)))
        {
            final RingVm r = new RingVm(vm).mapReadOnly(7);
            final Pause pause = new Pause(TestHook.Point.RING_PUSH_BEFORE_ENTRY, "vcpu");
            final FutureTask<String> write = pausedWrite(r, pause);
            final long during = r.collectMask();
            pause.release();
            assertEquals(null, join(write));
            final long after = r.collectMask();
            final boolean lost = ((during | after) & 1L << 7) == 0;
            if (!lost)
            {
                assertEquals(0, during, "a half-done push is not visible");
                assertEquals(1L << 7, after);
            }
            return lost;
        }
    }

    /**
     * The fast fault of a write is between its push (with the bug: already done) and the cmpxchg
     * that restores W; the collector harvests and resets meanwhile. A write after both must be logged.
     */
    @Test
    void ringPushBeforeWritable() throws Exception
    {
        assertTrue(writeAfterRingResetLost(EnumSet.of(SeededBug.RING_PUSH_BEFORE_WRITABLE)),
            "with the bug the reset re-protects nothing and W stays: the later write is not logged");
        assertFalse(writeAfterRingResetLost(NONE), "without the bug the entry is pushed after W, the reset finds it");
    }

    private static boolean writeAfterRingResetLost(final Set<SeededBug> bugs) throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(bugs)))
        {
            final RingVm r = new RingVm(vm).mapReadOnly(7);
            final Pause pause = new Pause(TestHook.Point.FAST_PF_BEFORE_CMPXCHG, "vcpu");
            final FutureTask<String> write = pausedWrite(r, pause);
            final long during = r.harvest();
            pause.release();
            assertEquals(null, join(write));
            assertEquals(null, Probe.guestWrite(r.vcpu, 7, 3));
            final long after = r.harvest();
            assertEquals(3, Probe.content(vm, r.slot, 7));
            assertEquals(bugs.isEmpty() ? 0 : 1L << 7, during, "the mid-fault harvest sees the entry only with the bug");
            return after != 1L << 7;
        }
    }

    /**
     * The vCPU's write pushes the entry that reaches the soft limit and exits; its userspace lets
     * the exit go without reaping. Without the bug every re-entry is refused until the test resets
     * the ring; with it the vCPU re-enters at once and the write finishes with the ring soft full.
     */
    @Test
    void ringReenterBeforeReset() throws Exception
    {
        assertTrue(vcpuReentersSoftFull(EnumSet.of(SeededBug.RING_REENTER_BEFORE_RESET)),
            "with the bug the write finishes before the reset");
        assertFalse(vcpuReentersSoftFull(NONE), "without the bug the vCPU waits for the reset");
    }

    private static boolean vcpuReentersSoftFull(final Set<SeededBug> bugs) throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(bugs)))
        {
            final RingVm r = new RingVm(vm);
            final int limit = r.ring().softLimit();
            for (int i = 1; i < limit; i++)
            {
                r.vcpu.write(i, 1);
            }
            r.vcpu.exitGuest();
            final CountDownLatch secondExit = new CountDownLatch(1);
            final CountDownLatch resetDone = new CountDownLatch(1);
            r.vcpu.setDirtyRingFullHandler(v ->
            {
                if (v.dirtyRingFullExits() == 2)
                {
                    secondExit.countDown();
                    await(resetDone);
                }
            });
            final AtomicBoolean softFullAfterWrite = new AtomicBoolean();
            final FutureTask<String> write = start("vcpu", () ->
            {
                final String failure = Probe.guestWrite(r.vcpu, limit, 2);
                softFullAfterWrite.set(r.ring().softFull());
                return failure;
            });
            final long deadline = System.nanoTime() + SECONDS.toNanos(WAIT_SECONDS);
            while (!write.isDone() && secondExit.getCount() != 0 && System.nanoTime() < deadline)
            {
                Thread.onSpinWait();
            }
            final boolean finishedFirst = write.isDone();
            r.harvest();
            resetDone.countDown();
            assertEquals(null, join(write));
            assertEquals(finishedFirst, softFullAfterWrite.get(), "a write that finished before the reset found the ring soft full");
            return finishedFirst;
        }
    }

    // Roots (TdpMmuRoots, TdpMmu#zapAllFast); the interleavings are in RootRaceLatches.

    /** vCPU root reload vs zap of the invalidated root: a fault that began on the root installs after its zap. */
    @Test
    void skipStaleRootCheck() throws Exception
    {
        assertTrue(RootRaceLatches.faultOnZappedRootLeaks(EnumSet.of(SeededBug.SKIP_STALE_ROOT_CHECK)) != 0,
            "with the bug the fault links tables into the zapped root, which leak when the vCPU drops it");
        assertEquals(0, RootRaceLatches.faultOnZappedRootLeaks(NONE), "without the bug the fault is stale and retries");
    }

    /** Fast invalidation vs eager split: the zap of the invalidated root overwrites the split's new table. */
    @Test
    void invalidRootZapNotAtomic() throws Exception
    {
        assertEquals(1, RootRaceLatches.splitUnderInvalidRootZapLeaks(EnumSet.of(SeededBug.INVALID_ROOT_ZAP_NOT_ATOMIC)),
            "with the bug the zap's store overwrites the split table, which leaks");
        assertEquals(0, RootRaceLatches.splitUnderInvalidRootZapLeaks(NONE),
            "without the bug the zap's cmpxchg fails, it re-reads the table and zaps it");
    }

    /** Starts the vCPU's write of 2 to page 7 on thread "vcpu" and waits until it stops at {@code pause}. */
    private static FutureTask<String> pausedWrite(final RingVm r, final Pause pause)
    {
        r.vm.mmu().setTestHook(pause);
        final FutureTask<String> write = start("vcpu", () -> Probe.guestWrite(r.vcpu, 7, 2));
        pause.awaitReached();
        return write;
    }

    // memslot changes at runtime (KvmSetMemoryRegion)

    /**
     * A fault found its slot valid and resolved the pfn; the host deletes the slot. With the guard
     * the delete waits in synchronize_srcu for the fault and flushes after its install; with the
     * bug it flushes at once, the fault installs after the flush, and the SPTE outlives the slot.
     */
    @Test
    void memslotFlushWithoutSrcuSync() throws Exception
    {
        assertTrue(faultAcrossDeleteMapsTheDeletedSlot(EnumSet.of(SeededBug.MEMSLOT_FLUSH_WITHOUT_SRCU_SYNC)),
            "with the bug the fault installs after the delete's flush");
        assertFalse(faultAcrossDeleteMapsTheDeletedSlot(NONE), "without the bug the flush follows the install");
    }

    private static boolean faultAcrossDeleteMapsTheDeletedSlot(final Set<SeededBug> bugs) throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(bugs)))
        {
            // Quirk off: with it on, the fast invalidation makes the fault stale (its root went
            // invalid), a second guard that hides the missing SRCU wait (FaultVsSlotDelete).
            vm.memoryRegions().setSlotZapAll(false);
            final Memslot slot = vm.memoryRegions().create(1, 0, 1024, Backing.PAGE_4K);
            final SafetyChecks.DeletedSlotCheck check = new SafetyChecks.DeletedSlotCheck(vm, slot);
            final Pause pause = new Pause(TestHook.Point.FAULT_AFTER_PFN_RESOLVED, "fault");
            vm.mmu().setTestHook(pause);
            final FutureTask<Integer> fault = start("fault", () -> vm.mmu().pageFault(new TdpIter(vm.store()), 7, true));
            pause.awaitReached();
            final FutureTask<Void> delete = start("delete", () ->
            {
                vm.memoryRegions().delete(1);
                return null;
            });
            // Either wait is for the paused fault: with the guard the one before the flush, with
            // the bug the one after it.
            Latches.awaitTrue("the delete waits for the fault's SRCU section", () -> vm.memslots().srcu().waitingWriters() == 1);
            pause.release();
            assertEquals(TdpMmu.RET_PF_FIXED, (int)join(fault));
            join(delete);
            return !check.check(vm).isEmpty();
        }
    }

    /**
     * A harvest looked its slot up; the host deletes the slot. With the guard the harvest holds
     * slots_lock, so the delete waits for it; with the bug the delete frees the bitmap first and
     * the harvest reads the freed bitmap.
     */
    @Test
    void harvestWithoutSlotsLock() throws Exception
    {
        assertTrue(harvestAcrossDeleteTouchesFreedBitmap(EnumSet.of(SeededBug.HARVEST_WITHOUT_SLOTS_LOCK)),
            "with the bug the harvest reads the freed bitmap");
        assertFalse(harvestAcrossDeleteTouchesFreedBitmap(NONE), "without the bug the delete waits for slots_lock");
    }

    private static boolean harvestAcrossDeleteTouchesFreedBitmap(final Set<SeededBug> bugs) throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(bugs)))
        {
            final Memslot slot = vm.memoryRegions().create(1, 0, 1024, Backing.PAGE_4K);
            final DirtyLogging log = new DirtyLogging(vm);
            log.enable(slot, Memslot.LOG_WRPROT, false);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(5, 1);
            vcpu.exitGuest();
            final Pause pause = new Pause(TestHook.Point.HARVEST_SLOT_LOOKED_UP, "harvest");
            vm.mmu().setTestHook(pause);
            final FutureTask<Boolean> harvest = start("harvest", () ->
            {
                try
                {
                    return Probe.dirty(log.getDirtyLog(slot, false), 5) ? Boolean.FALSE : null;
                }
                catch (final UseAfterFreeException e)
                {
                    return Boolean.TRUE;
                }
            });
            pause.awaitReached();
            final FutureTask<Void> delete = start("delete", () ->
            {
                vm.memoryRegions().delete(1);
                return null;
            });
            Latches.awaitTrue("the delete finished or waits for slots_lock",
                () -> delete.isDone() || vm.memslots().slotsLock().hasQueuedThreads());
            pause.release();
            join(delete);
            final Boolean touchedFreed = join(harvest);
            assertNotNull(touchedFreed, "the harvest lost the page written before it");
            return touchedFreed;
        }
    }

    /**
     * On a VM without A/D bits a write fast-faults to restore an access-tracked leaf; the host
     * moves the slot. The fast fault read the leaf after the move's SRCU wait and stops before its
     * cmpxchg; the move zaps the leaf. With the guard the cmpxchg fails and the old gfn stays
     * unmapped; with the bug the fix is stored over the zap and maps the old gfn to the moved
     * slot's frame.
     */
    @Test
    void fastPfPlainStore() throws Exception
    {
        assertTrue(fastFaultAcrossMoveRemapsOldGfn(EnumSet.of(SeededBug.FAST_PF_PLAIN_STORE)),
            "with the bug the zapped leaf comes back at the old gfn");
        assertFalse(fastFaultAcrossMoveRemapsOldGfn(NONE), "without the bug the cmpxchg loses to the zap");
    }

    private static boolean fastFaultAcrossMoveRemapsOldGfn(final Set<SeededBug> bugs) throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(bugs).withEptAdBits(false)))
        {
            final Memslot slot = vm.memoryRegions().create(0, 0, 1024, Backing.PAGE_4K);
            final Vcpu setup = vm.createVcpu();
            setup.write(7, 1);
            setup.exitGuest();
            new TdpMmuAge(vm).clearYoung(7, 8);
            assertTrue(Spte.isAccessTrack(Probe.entryFor(vm, 7)), "aging access-tracked the leaf");
            vm.memoryRegions().setSlotZapAll(false);
            final SafetyChecks.DeletedSlotCheck check = new SafetyChecks.DeletedSlotCheck(vm, slot);
            final Pause movePause = new Pause(TestHook.Point.MEMSLOT_BEFORE_FLUSH, "move");
            final Pause faultPause = new Pause(TestHook.Point.FAST_PF_BEFORE_CMPXCHG, "fault");
            vm.mmu().setTestHook((p, g) ->
            {
                movePause.at(p, g);
                faultPause.at(p, g);
            });
            final FutureTask<Void> move = start("move", () ->
            {
                vm.memoryRegions().move(0, 2048);
                return null;
            });
            movePause.awaitReached();
            final FutureTask<Integer> fault = start("fault", () ->
            {
                final TdpIter iter = new TdpIter(vm.store());
                int r;
                while ((r = vm.mmu().pageFault(iter, 7, true)) == TdpMmu.RET_PF_RETRY)
                {
                    Thread.onSpinWait();
                }
                return r;
            });
            faultPause.awaitReached();
            movePause.release();
            // The move zapped the leaf and now waits, after its swap, for the fault's SRCU section.
            Latches.awaitTrue("the move flushed and waits for the fault", () -> vm.memslots().srcu().waitingWriters() == 1);
            faultPause.release();
            join(move);
            final int r = join(fault);
            final boolean remapped = !check.check(vm).isEmpty();
            assertEquals(remapped ? TdpMmu.RET_PF_FIXED : TdpMmu.RET_PF_EMULATE, r);
            return remapped;
        }
    }

    /**
     * Holds the first two threads that reach {@code point} until both are there, spinning (a
     * parked thread would wake microseconds after the other), so they leave it within nanoseconds.
     */
    private static final class SpinMeet implements TestHook
    {
        private final Point point;
        private final AtomicInteger arrived = new AtomicInteger();

        SpinMeet(final Point point)
        {
            this.point = point;
        }

        @Override
        public void at(final Point p, final long gfn)
        {
            if (p != point || arrived.get() >= 2 || arrived.incrementAndGet() > 2)
            {
                return;
            }
            final long deadline = System.nanoTime() + SECONDS.toNanos(WAIT_SECONDS);
            while (arrived.get() < 2)
            {
                if (System.nanoTime() > deadline)
                {
                    fail("the other thread never reached " + point);
                }
                Thread.onSpinWait();
            }
        }
    }
}
