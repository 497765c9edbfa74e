package org.tdpmmu.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * Aging ({@link TdpMmuAge}): clear/test young in both locking modes, with and without EPT A/D bits,
 * and the atomic-update rule each locking mode imposes on write-locked writers.
 */
class TdpMmuAgeTest
{
    private static final long BASE = 0x200000;
    private static final int PAGES = 16;

    private static VmConfig config(final boolean lockless, final boolean adBits)
    {
        return VmConfig.small().withLocklessAging(lockless).withSpteNeedsAtomicUpdate(lockless).withEptAdBits(adBits);
    }

    private static long leaf(final Vm vm, final long gfn)
    {
        return SafetyChecks.lookup(vm, gfn).spte();
    }

    private static void readAll(final Vcpu vcpu)
    {
        for (int i = 0; i < PAGES; i++)
        {
            vcpu.read(BASE + i);
        }
        vcpu.exitGuest();
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void clearYoungClearsAccessedWithoutAFlushAndTestYoungChangesNothing(final boolean lockless)
    {
        try (Vm vm = new Vm(config(lockless, true)))
        {
            vm.addMemslot(BASE, PAGES, Backing.PAGE_4K);
            final Vcpu vcpu = vm.createVcpu();
            readAll(vcpu);
            final TdpMmuAge age = new TdpMmuAge(vm);
            final MmuCounters c = vm.counters();
            final long flushes = c.tlbFlushRequests.sum();
            assertTrue(age.testYoung(BASE, BASE + PAGES));
            assertTrue(Spte.isAccessed(leaf(vm, BASE + 3)), "test_young changes nothing");
            assertTrue(age.clearYoung(BASE, BASE + PAGES));
            assertEquals(flushes, c.tlbFlushRequests.sum(), "clear_young does not flush");
            assertEquals(PAGES, c.ageYoung.sum());
            for (int i = 0; i < PAGES; i++)
            {
                final long spte = leaf(vm, BASE + i);
                assertTrue(Spte.isPresent(spte) && !Spte.isAccessed(spte), Spte.describe(spte, 1));
            }
            assertFalse(age.testYoung(BASE, BASE + PAGES));
            assertFalse(age.clearYoung(BASE, BASE + PAGES));
            assertEquals(PAGES, c.ageIdle.sum());

            // A cached translation sets no A: the page looks idle until the vCPU walks again.
            vcpu.read(BASE + 3);
            vcpu.exitGuest();
            assertFalse(age.testYoung(BASE + 3, BASE + 4));
            vcpu.flushTlb();
            vcpu.read(BASE + 3);
            vcpu.exitGuest();
            assertTrue(age.testYoung(BASE, BASE + PAGES));
            assertFalse(age.testYoung(BASE + 4, BASE + PAGES), "only the walked page is young");

            assertTrue(age.clearFlushYoung(BASE, BASE + PAGES));
            assertEquals(flushes + 1, c.tlbFlushRequests.sum(), "clear_flush_young flushes when it found one young");
            assertFalse(age.clearFlushYoung(BASE, BASE + PAGES));
            assertEquals(flushes + 1, c.tlbFlushRequests.sum(), "and only then");
            SafetyChecksTest.assertClean(SafetyChecks.structure(vm));
        }
    }

    /** The two rules differ exactly where the 6.15 change says: A, and A/D-disabled leaves. */
    @Test
    void theTwoAtomicUpdateRules()
    {
        final long base = Spte.makeLeaf(0x10, Spte.PG_LEVEL_4K, Spte.LEAF_WRITABLE);
        final long writtenNoA = base | Spte.DIRTY;
        assertTrue(Spte.hasVolatileBits(writtenNoA), "before 6.15 a clear A is volatile");
        assertFalse(Spte.needsAtomicUpdate(writtenNoA), "6.15 tolerates a lost A");
        final long written = writtenNoA | Spte.ACCESSED;
        assertFalse(Spte.hasVolatileBits(written) || Spte.needsAtomicUpdate(written), "a written leaf: neither");
        assertTrue(Spte.hasVolatileBits(base | Spte.ACCESSED) && Spte.needsAtomicUpdate(base | Spte.ACCESSED),
            "D clear on a writable leaf: both");
        final long noAd = Spte.makeLeaf(0x10, Spte.PG_LEVEL_4K, Spte.LEAF_WRITABLE | Spte.LEAF_AD_DISABLED);
        assertFalse(Spte.hasVolatileBits(noAd), "before 6.15 only the lock holder access-tracks");
        assertTrue(Spte.needsAtomicUpdate(noAd), "6.15: a lockless ager may access-track it");
        final long tracked = Spte.markForAccessTrack(noAd);
        assertTrue(Spte.hasVolatileBits(tracked) && Spte.needsAtomicUpdate(tracked), "the fast path restores it");
        assertEquals(tracked, Spte.markForAccessTrack(tracked), "tracking twice changes nothing");
        assertEquals(noAd & ~Spte.WRITABLE, Spte.restoreAccessTrack(tracked), "R and X back, W not saved");
        assertTrue(Spte.isYoung(noAd) && !Spte.isYoung(tracked));
        assertEquals(written & ~Spte.ACCESSED, Spte.markForAccessTrack(written), "with A/D bits: A cleared");
        assertFalse((Spte.FROZEN & Spte.STABLE_DIRTY_LEAF) == Spte.STABLE_DIRTY_LEAF);
        assertTrue(Spte.needAtomicWrite(writtenNoA, Spte.PG_LEVEL_4K, false));
        assertFalse(Spte.needAtomicWrite(writtenNoA, Spte.PG_LEVEL_4K, true));
    }

    /** The lockless A clear leaves a frozen or non-present entry alone and keeps bits set meanwhile. */
    @Test
    void atomicBitClearTouchesOnlyPresentEntries()
    {
        final PageTableStore store = new PageTableStore(4);
        final long t = store.allocate();
        store.soSpte(t, 0, Spte.FROZEN);
        assertEquals(Spte.FROZEN, store.clearBitsAtomic(t, 0, Spte.ACCESSED));
        assertEquals(Spte.FROZEN, store.lvSpte(t, 0), "bit 8 of the frozen value kept");
        final long leaf = Spte.makeLeaf(0x10, Spte.PG_LEVEL_4K, Spte.LEAF_WRITABLE | Spte.LEAF_ACCESSED | Spte.LEAF_DIRTY);
        store.soSpte(t, 1, leaf);
        assertEquals(leaf, store.clearBitsAtomic(t, 1, Spte.ACCESSED));
        assertEquals(leaf & ~Spte.ACCESSED, store.lvSpte(t, 1));
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void agingTakesTheWriteLockOnlyBefore615(final boolean lockless)
    {
        try (Vm vm = new Vm(config(lockless, true)))
        {
            vm.addMemslot(BASE, PAGES, Backing.PAGE_4K);
            readAll(vm.createVcpu());
            final AtomicInteger checked = new AtomicInteger();
            vm.mmu().setTestHook((point, gfn) ->
            {
                if (point == TestHook.Point.AGE_BEFORE_CLEAR)
                {
                    assertEquals(!lockless, vm.lock().heldForWrite(), "mmu_lock held for write");
                    assertEquals(!lockless, vm.lock().held());
                    assertTrue(vm.rcu().inReadSection(), "inside an RCU read-side section");
                    checked.incrementAndGet();
                }
            });
            assertTrue(new TdpMmuAge(vm).clearYoung(BASE, BASE + PAGES));
            assertEquals(PAGES, checked.get());
        }
    }

    @Test
    void agingRangeIsChecked()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            final IllegalArgumentException ex = assertThrows(IllegalArgumentException.class,
                () -> new TdpMmuAge(vm).clearYoung(10, 5));
            assertTrue(ex.getMessage().contains("[0xa, 0x5)"), ex.getMessage());
        }
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void withoutAdBitsAgingAccessTracksAndTheFastPathRestores(final boolean lockless)
    {
        try (Vm vm = new Vm(config(lockless, false)))
        {
            vm.addMemslot(BASE, PAGES, Backing.PAGE_4K);
            final Vcpu vcpu = vm.createVcpu();
            readAll(vcpu);
            final long fresh = leaf(vm, BASE + 2);
            assertFalse(Spte.isAdEnabled(fresh));
            assertFalse(Spte.isAccessed(fresh) || Spte.isDirty(fresh), "hardware sets no A/D: " + Spte.describe(fresh, 1));
            final TdpMmuAge age = new TdpMmuAge(vm);
            assertTrue(age.testYoung(BASE, BASE + PAGES), "not access-tracked counts as young");
            assertTrue(age.clearFlushYoung(BASE, BASE + PAGES));
            final long tracked = leaf(vm, BASE + 2);
            assertTrue(Spte.isAccessTrack(tracked), Spte.describe(tracked, 1));
            assertEquals(0, tracked & Spte.ACC_TRACK_MASK, "R/W/X cleared");
            assertEquals(Spte.ACC_TRACK_SAVED_MASK << Spte.ACC_TRACK_SAVED_SHIFT,
                tracked & (Spte.ACC_TRACK_SAVED_MASK << Spte.ACC_TRACK_SAVED_SHIFT), "R and X saved");
            assertEquals(fresh & ~Spte.ACC_TRACK_MASK, tracked & ~(Spte.ACC_TRACK_SAVED_MASK << Spte.ACC_TRACK_SAVED_SHIFT),
                "nothing else changed");
            assertFalse(age.testYoung(BASE, BASE + PAGES));

            final long exits = vm.counters().vmExits.sum();
            vcpu.read(BASE + 2);
            vcpu.exitGuest();
            assertEquals(exits + 1, vm.counters().vmExits.sum(), "an access-tracked leaf faults");
            assertEquals(1, vm.counters().accessTrackRestored.sum(), "and the fast path restores it");
            assertEquals(fresh & ~Spte.WRITABLE, leaf(vm, BASE + 2),
                "R and X back, the saved bits cleared; W is not saved, a write gets it back");
            assertTrue(age.testYoung(BASE + 2, BASE + 3));
            assertFalse(age.testYoung(BASE + 3, BASE + PAGES));

            // A write to a tracked leaf that was writable: R/X restored and W given back.
            vcpu.write(BASE + 5, 9);
            vcpu.exitGuest();
            final long written = leaf(vm, BASE + 5);
            assertTrue(Spte.isWritable(written) && !Spte.isAccessTrack(written), Spte.describe(written, 1));
            SafetyChecksTest.assertClean(SafetyChecks.structure(vm));
        }
    }

    @Test
    void withoutAdBitsDirtyLoggingIsWriteProtectionOnly()
    {
        try (Vm vm = new Vm(config(true, false)))
        {
            final Memslot slot = vm.addMemslot(BASE, PAGES, Backing.PAGE_4K);
            final DirtyLogging log = new DirtyLogging(vm);
            final IllegalArgumentException ex = assertThrows(IllegalArgumentException.class,
                () -> log.enable(slot, Memslot.LOG_DBIT, false));
            assertTrue(ex.getMessage().contains("LOG_DBIT") && ex.getMessage().contains("eptAdBits=false"), ex.getMessage());
            assertFalse(slot.dirtyLogging(), "the refusal changed nothing");
            log.enable(slot, Memslot.LOG_WRPROT, false);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(BASE + 1, 4);
            vcpu.exitGuest();
            assertTrue(slot.dirtyBitmap().lvBit(1));
        }
    }

    /**
     * Without A/D bits, aging a writable leaf clears W (access tracking) and flushes nothing, so
     * the vCPU keeps a writable translation in its TLB. Enabling write-protect logging then finds
     * no leaf with W to protect; only its unconditional flush (kvm_mmu_slot_apply_flags) makes the
     * next write fault and be logged. Found by the AgeVsEagerSplit race: with the flush made
     * conditional on a changed leaf, the write went through the TLB, unlogged.
     */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void enablingLoggingFlushesEvenWhenAgingLeftNothingWritable(final boolean lockless)
    {
        try (Vm vm = new Vm(config(lockless, false)))
        {
            final Memslot slot = vm.addMemslot(BASE, PAGES, Backing.PAGE_4K);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(BASE + 3, 1);
            vcpu.exitGuest();
            assertTrue(new TdpMmuAge(vm).clearYoung(BASE, BASE + PAGES));
            assertTrue(Spte.isAccessTrack(leaf(vm, BASE + 3)), "aged: W, R and X cleared, no flush");
            final DirtyLogging log = new DirtyLogging(vm);
            log.enable(slot, Memslot.LOG_WRPROT, false);
            vcpu.write(BASE + 3, 2);
            vcpu.exitGuest();
            assertTrue(slot.dirtyBitmap().lvBit(3), "the write after enable is logged");
        }
    }

    /** A lockless cmpxchg that loses a race leaves the leaf young and is not retried. */
    @Test
    void locklessAccessTrackingGivesUpOnALostCmpxchg()
    {
        try (Vm vm = new Vm(config(true, false)))
        {
            vm.addMemslot(BASE, PAGES, Backing.PAGE_4K);
            readAll(vm.createVcpu());
            final PageTableStore store = vm.store();
            vm.mmu().setTestHook((point, gfn) ->
            {
                if (point == TestHook.Point.AGE_BEFORE_CLEAR && gfn == BASE + 4)
                {
                    // Another lockless writer changes the leaf between the ager's read and its cmpxchg.
                    final SafetyChecks.Mapping m = lookupLockless(vm, gfn);
                    assertEquals(m.spte(), store.cmpxchgSpte(m.tablePfn(), m.index(), m.spte(), m.spte() & ~Spte.WRITABLE));
                }
            });
            new TdpMmuAge(vm).clearYoung(BASE, BASE + PAGES);
            assertEquals(1, vm.counters().ageCmpxchgLost.sum());
            vm.mmu().setTestHook(null);
            assertFalse(Spte.isAccessTrack(leaf(vm, BASE + 4)), "left young");
            assertTrue(Spte.isAccessTrack(leaf(vm, BASE + 5)));
        }
    }

    private static SafetyChecks.Mapping lookupLockless(final Vm vm, final long gfn)
    {
        final TdpIter it = new TdpIter(vm.store());
        it.start(vm.mmu().rootPfn(), vm.mmu().rootLevel(), Spte.PG_LEVEL_4K, gfn, gfn + 1);
        while (it.level() > Spte.PG_LEVEL_4K)
        {
            it.next();
        }
        return new SafetyChecks.Mapping(gfn, it.level(), it.oldSpte(), it.sptepTable(), it.sptepIndex());
    }

    /**
     * Before 6.15 a write-locked writer must keep an A bit hardware sets after its snapshot: A is
     * volatile (spte_has_volatile_bits). The 6.15 rule would plain-store a writable dirty leaf and
     * drop it, so this fails if the rule ignores the locking mode.
     */
    @Test
    void writeLockedWriterKeepsHardwareAccessedBeforeLocklessAging()
    {
        final long after = writeLockedClearOverConcurrentChange(config(false, true), snapshot -> snapshot & ~Spte.ACCESSED,
            current -> current | Spte.ACCESSED, Spte.DIRTY);
        assertTrue(Spte.isAccessed(after), "A set by hardware kept: " + Spte.describe(after, 1));
    }

    /**
     * With lockless aging (6.15) on an A/D-disabled VM, a write-locked writer must keep an
     * access-tracking mark aging made after its snapshot (spte_needs_atomic_update: every A/D-disabled
     * leaf needs an atomic update). The older rule would plain-store the snapshot and make the page
     * young again, so this fails if the rule ignores the locking mode.
     */
    @Test
    void writeLockedWriterKeepsLocklessAccessTracking()
    {
        final long after = writeLockedClearOverConcurrentChange(config(true, false), snapshot -> snapshot,
            Spte::markForAccessTrack, Spte.WRITABLE);
        assertTrue(Spte.isAccessTrack(after), "aging's mark kept: " + Spte.describe(after, 1));
    }

    /**
     * The rule is its own switch (VmConfig#spteNeedsAtomicUpdate), not the aging mode: with the
     * 6.15 rule but aging under the lock, the writer plain-stores a writable dirty leaf and the A
     * bit hardware set behind its snapshot is lost; with the older rule and lockless aging it is
     * kept. Fails if the writer followed locklessAging instead.
     */
    @Test
    void theAtomicUpdateRuleFollowsItsOwnSwitch()
    {
        final long rule615 = writeLockedClearOverConcurrentChange(
            VmConfig.small().withLocklessAging(false).withSpteNeedsAtomicUpdate(true),
            snapshot -> snapshot & ~Spte.ACCESSED, current -> current | Spte.ACCESSED, Spte.DIRTY);
        assertFalse(Spte.isAccessed(rule615), "6.15 rule: A is not a reason for an atomic: " + Spte.describe(rule615, 1));
        final long older = writeLockedClearOverConcurrentChange(
            VmConfig.small().withLocklessAging(true).withSpteNeedsAtomicUpdate(false),
            snapshot -> snapshot & ~Spte.ACCESSED, current -> current | Spte.ACCESSED, Spte.DIRTY);
        assertTrue(Spte.isAccessed(older), "older rule: A is volatile: " + Spte.describe(older, 1));
    }

    /**
     * Maps a writable page, gives the leaf the value {@code prepare} makes of it, takes a write-locked
     * iterator snapshot, lets {@code concurrent} change the entry behind the snapshot (as hardware or
     * a lockless ager would), then clears {@code bit} through {@link TdpMmu#clearSpteBits}.
     */
    private static long writeLockedClearOverConcurrentChange(final VmConfig cfg,
        final java.util.function.LongUnaryOperator prepare, final java.util.function.LongUnaryOperator concurrent,
        final long bit)
    {
        try (Vm vm = new Vm(cfg))
        {
            vm.addMemslot(BASE, PAGES, Backing.PAGE_4K);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(BASE + 1, 1);
            vcpu.exitGuest();
            final TdpIter it = new TdpIter(vm.store());
            vm.lock().writeLock();
            vm.rcu().readLock();
            try
            {
                it.start(vm.mmu().rootPfn(), vm.mmu().rootLevel(), Spte.PG_LEVEL_4K, BASE + 1, BASE + 2);
                while (it.level() > Spte.PG_LEVEL_4K)
                {
                    it.next();
                }
                final long snapshot = prepare.applyAsLong(it.oldSpte());
                vm.store().soSpte(it.sptepTable(), it.sptepIndex(), snapshot);
                it.refreshOldSpte(snapshot);
                final long changed = concurrent.applyAsLong(snapshot);
                assertEquals(snapshot, vm.store().cmpxchgSpte(it.sptepTable(), it.sptepIndex(), snapshot, changed));
                vm.mmu().clearSpteBits(it, bit);
                return vm.store().lvSpte(it.sptepTable(), it.sptepIndex());
            }
            finally
            {
                vm.rcu().readUnlock();
                vm.lock().writeUnlock();
            }
        }
    }
}
