package org.tdpmmu.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;

/** The TDP MMU's fault results, atomic updates, frozen entries, change propagation and teardown. */
class TdpMmuTest
{
    private static final long BASE_2M = 0x100000;
    private static final long BASE_4K = 0x200000;

    /** Puts {@code it} on the 4 KiB entry of {@code gfn}; the caller holds the lock and an RCU section. */
    private static void seekLeaf(final TdpMmu mmu, final TdpIter it, final long gfn)
    {
        it.start(mmu.rootPfn(), mmu.rootLevel(), Spte.PG_LEVEL_4K, gfn, gfn + 1);
        while (it.level() > Spte.PG_LEVEL_4K)
        {
            it.next();
        }
    }

    private static int fault(final Vm vm, final long gfn, final boolean write)
    {
        return vm.mmu().pageFault(new TdpIter(vm.store()), gfn, write);
    }

    @Test
    void faultResultsFixedThenSpurious()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            vm.addMemslot(BASE_2M, 512, Backing.PAGE_2M);
            vm.addMemslot(BASE_4K, 16, Backing.PAGE_4K);
            final MmuCounters c = vm.counters();
            assertEquals(TdpMmu.RET_PF_FIXED, fault(vm, BASE_2M + 3, false));
            assertEquals(Spte.PG_LEVEL_2M, SafetyChecks.lookup(vm, BASE_2M + 3).level());
            assertEquals(TdpMmu.RET_PF_SPURIOUS, fault(vm, BASE_2M + 3, false), "the same fault again");
            assertEquals(TdpMmu.RET_PF_SPURIOUS, fault(vm, BASE_2M + 400, true), "covered, and writable");
            assertEquals(TdpMmu.RET_PF_FIXED, fault(vm, BASE_4K + 1, true));
            assertEquals(TdpMmu.RET_PF_SPURIOUS, fault(vm, BASE_4K + 1, true));
            assertEquals(TdpMmu.RET_PF_FIXED, fault(vm, BASE_4K + 2, false), "the next 4K page is its own");
            assertEquals(3, c.faultInstalled.sum());
            assertEquals(3, c.faultSpurious.sum());
            assertEquals(0, c.faultRetry.sum());
            // A gfn in no memslot is MMIO (a slot deleted while the vCPU ran): emulated, nothing mapped.
            assertEquals(TdpMmu.RET_PF_EMULATE, fault(vm, BASE_4K + 16, false));
            assertEquals(1, c.faultEmulate.sum());
            assertEquals(null, SafetyChecks.lookup(vm, BASE_4K + 16));
            SafetyChecksTest.assertClean(SafetyChecks.structure(vm));
        }
    }

    @Test
    void writeToAWriteProtectedLeafIsFixedByTheFastPathAndLogged()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            final Memslot s = vm.addMemslot(BASE_4K, 16, Backing.PAGE_4K);
            new DirtyLogging(vm).enable(s, Memslot.LOG_WRPROT, false);
            assertEquals(TdpMmu.RET_PF_FIXED, fault(vm, BASE_4K + 5, false));
            final long leaf = SafetyChecks.lookup(vm, BASE_4K + 5).spte();
            assertTrue(Spte.isMmuWritable(leaf) && !Spte.isWritable(leaf), Spte.describe(leaf, 1));
            assertFalse(s.dirtyBitmap().lvBit(5), "a read is not logged");
            assertEquals(TdpMmu.RET_PF_FIXED, fault(vm, BASE_4K + 5, true));
            assertEquals(1, vm.counters().faultFast.sum());
            assertTrue(Spte.isWritable(SafetyChecks.lookup(vm, BASE_4K + 5).spte()));
            assertTrue(s.dirtyBitmap().lvBit(5));
        }
    }

    /**
     * The fault path's split (a write to a write-protected 2 MiB leaf in a logged slot) fills the
     * new table with exactly the children the per-entry encoding gives; only the faulting page
     * then gains W.
     */
    @Test
    void faultSplitOfA2mLeafWritesEveryChildOfTheHugeLeaf()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            final Memslot s = vm.addMemslot(BASE_2M, 512, Backing.PAGE_2M);
            assertEquals(TdpMmu.RET_PF_FIXED, fault(vm, BASE_2M + 9, false));
            new DirtyLogging(vm).enable(s, Memslot.LOG_WRPROT, false);
            final long huge = SafetyChecks.lookup(vm, BASE_2M).spte();
            assertTrue(Spte.isLarge(huge) && !Spte.isWritable(huge), Spte.describe(huge, 2));
            final long splitsBefore = vm.counters().splits.sum();
            assertEquals(TdpMmu.RET_PF_FIXED, fault(vm, BASE_2M + 77, true));
            assertEquals(splitsBefore + 1, vm.counters().splits.sum());
            for (int i = 0; i < Spte.ENTRIES_PER_TABLE; i++)
            {
                final SafetyChecks.Mapping m = SafetyChecks.lookup(vm, BASE_2M + i);
                assertEquals(Spte.PG_LEVEL_4K, m.level());
                final long expected = Spte.makeSplitChild(huge, Spte.PG_LEVEL_2M, i);
                if (i == 77)
                {
                    assertEquals(expected | Spte.WRITABLE, m.spte(), "the written page: " + Spte.describe(m.spte(), 1));
                }
                else
                {
                    assertEquals(expected, m.spte(), "child " + i + ": " + Spte.describe(m.spte(), 1));
                }
            }
            SafetyChecksTest.assertClean(SafetyChecks.structure(vm));
        }
    }

    /**
     * Eager split of a 1 GiB leaf: a table of 512 2 MiB children (large bit kept), each split again
     * into 512 4 KiB leaves; every leaf is the per-entry encoding of its parent, W taken away by
     * the write-protection that follows the split.
     */
    @Test
    void eagerSplitOfA1gLeafWritesEveryChildAtBothLevels()
    {
        final long base = 1L << 18;
        final long pages = Spte.pagesPerLevel(Spte.PG_LEVEL_1G);
        try (Vm vm = new Vm(VmConfig.small().withHostFrameLimit(2 * pages)))
        {
            final Memslot s = vm.addMemslot(base, pages, Backing.PAGE_1G);
            assertEquals(TdpMmu.RET_PF_FIXED, fault(vm, base + 5, true));
            final long huge = SafetyChecks.lookup(vm, base).spte();
            assertEquals(Spte.PG_LEVEL_1G, SafetyChecks.lookup(vm, base).level());
            new DirtyLogging(vm).enable(s, Memslot.LOG_WRPROT, true);
            assertEquals(1 + 512, vm.counters().splits.sum());
            for (int i = 0; i < Spte.ENTRIES_PER_TABLE; i++)
            {
                final long child2m = Spte.makeSplitChild(huge, Spte.PG_LEVEL_1G, i);
                assertTrue(Spte.isLarge(child2m));
                // two 4 KiB leaves of each 2 MiB region, and all 512 of the first and the last region
                final boolean every = i == 0 || i == Spte.ENTRIES_PER_TABLE - 1;
                for (int j = 0; j < Spte.ENTRIES_PER_TABLE; j += every ? 1 : 311)
                {
                    final long gfn = base + i * 512L + j;
                    final SafetyChecks.Mapping m = SafetyChecks.lookup(vm, gfn);
                    assertEquals(Spte.PG_LEVEL_4K, m.level());
                    assertEquals(Spte.makeSplitChild(child2m, Spte.PG_LEVEL_2M, j) & ~Spte.WRITABLE, m.spte(),
                        "gfn 0x" + Long.toHexString(gfn) + ": " + Spte.describe(m.spte(), 1));
                }
            }
            SafetyChecksTest.assertClean(SafetyChecks.structure(vm));
        }
    }

    /** An invalidation that runs between the pfn lookup and the lock makes the fault retry. */
    @Test
    void faultRetriesWhenTheInvalidationSequenceMoved()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            vm.addMemslot(BASE_2M, 512, Backing.PAGE_2M);
            final AtomicInteger hooks = new AtomicInteger();
            vm.mmu().setTestHook((point, gfn) ->
            {
                if (point == TestHook.Point.FAULT_AFTER_PFN_RESOLVED && hooks.getAndIncrement() == 0)
                {
                    vm.invalidate(gfn, gfn + 1);
                }
            });
            final long seq = vm.invalidation().sequence();
            assertEquals(TdpMmu.RET_PF_RETRY, fault(vm, BASE_2M + 9, true));
            assertEquals(seq + 1, vm.invalidation().sequence());
            assertEquals(1, vm.counters().faultRetryInvalidation.sum());
            assertEquals(1, vm.counters().faultRetry.sum());
            assertNull(SafetyChecks.lookup(vm, BASE_2M + 9), "nothing installed");
            assertEquals(TdpMmu.RET_PF_FIXED, fault(vm, BASE_2M + 9, true), "the retry succeeds");
            assertEquals(2, hooks.get());
        }
    }

    /**
     * A migration in the same window: the retry keeps the dead pfn out of the SPTE. With the check
     * seeded away the fault installs it, and {@link SafetyChecks#noStaleTranslation} reports it.
     */
    @Test
    void migrationDuringAFaultRetriesAndWithoutTheCheckLeavesAStaleSpte()
    {
        for (final boolean seeded : new boolean[] {false, true})
        {
            final VmConfig config = seeded ? VmConfig.small().withSeededBugs(Set.of(SeededBug.SKIP_INVALIDATION_RETRY)) :
                VmConfig.small();
            try (Vm vm = new Vm(config))
            {
                final Memslot s = vm.addMemslot(BASE_2M, 512, Backing.PAGE_2M);
                final AtomicBoolean once = new AtomicBoolean(true);
                vm.mmu().setTestHook((point, gfn) ->
                {
                    if (point == TestHook.Point.FAULT_AFTER_PFN_RESOLVED && once.compareAndSet(true, false))
                    {
                        vm.migrate(s, gfn, 1);
                    }
                });
                final long oldPfn = vm.host().resolvePfn(s, BASE_2M + 9);
                final int r = fault(vm, BASE_2M + 9, false);
                assertFalse(once.get());
                assertNotEquals(oldPfn, vm.host().resolvePfn(s, BASE_2M + 9));
                if (seeded)
                {
                    assertEquals(TdpMmu.RET_PF_FIXED, r);
                    final List<String> v = SafetyChecks.noStaleTranslation(vm);
                    assertEquals(1, v.size(), v::toString);
                    assertTrue(v.get(0).contains("freed (dead)") && v.get(0).contains("level 2"), v.get(0));
                }
                else
                {
                    assertEquals(TdpMmu.RET_PF_RETRY, r);
                    assertEquals(TdpMmu.RET_PF_FIXED, fault(vm, BASE_2M + 9, false));
                    assertEquals(vm.host().resolvePfn(s, BASE_2M + 9), SafetyChecks.lookup(vm, BASE_2M + 9).pfn());
                    SafetyChecksTest.assertClean(SafetyChecks.structure(vm));
                }
            }
        }
    }

    @Test
    void faultRetriesWhileAnInvalidationCoveringItsGfnIsInProgress()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            vm.addMemslot(BASE_2M, 2 * 512, Backing.PAGE_2M);
            final long g = BASE_2M + 9;
            vm.lock().writeLock();
            vm.invalidation().begin(g, g + 1);
            vm.lock().writeUnlock();
            assertEquals(TdpMmu.RET_PF_RETRY, fault(vm, g, false));
            assertEquals(TdpMmu.RET_PF_FIXED, fault(vm, BASE_2M + 512, false), "outside the range");
            vm.lock().writeLock();
            vm.invalidation().end(g, g + 1);
            vm.lock().writeUnlock();
            assertEquals(TdpMmu.RET_PF_FIXED, fault(vm, g, false));
            assertEquals(1, vm.counters().faultRetryInvalidation.sum());
        }
    }

    /** A lost cmpxchg: false, the iterator holds the current value, the entry and the rest unchanged. */
    @Test
    void setSpteAtomicFailureRefreshesTheSnapshotAndChangesNothing()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            final Memslot s = vm.addMemslot(BASE_4K, 16, Backing.PAGE_4K);
            new DirtyLogging(vm).enable(s, Memslot.LOG_DBIT, false);
            assertEquals(TdpMmu.RET_PF_FIXED, fault(vm, BASE_4K + 3, true));
            s.dirtyBitmap().xchgWord(0, 0);
            final TdpMmu mmu = vm.mmu();
            final TdpIter it = new TdpIter(vm.store());
            vm.lock().readLock();
            vm.rcu().readLock();
            try
            {
                seekLeaf(mmu, it, BASE_4K + 3);
                final long snapshot = it.oldSpte();
                assertTrue(Spte.isPresentLeaf(snapshot, 1) && Spte.isDirty(snapshot), Spte.describe(snapshot, 1));
                // Another agent (hardware, another thread) changes the entry: here, clears A.
                final long current = snapshot & ~Spte.ACCESSED;
                assertEquals(snapshot, vm.store().cmpxchgSpte(it.sptepTable(), it.sptepIndex(), snapshot, current));
                final long live = vm.store().liveCount();
                final long failures = vm.counters().cmpxchgFailures.sum();

                assertFalse(mmu.setSpteAtomic(it, Spte.NONPRESENT), "lost the race");
                assertEquals(current, it.oldSpte(), "snapshot refreshed with the witness");
                assertEquals(current, vm.store().lvSpte(it.sptepTable(), it.sptepIndex()), "entry unchanged");
                assertEquals(failures + 1, vm.counters().cmpxchgFailures.sum());
                assertEquals(live, vm.store().liveCount());
                assertEquals(0, s.dirtyBitmap().lvWord(0), "no dirty bit carried by a failed zap");
                assertEquals(0, vm.counters().dirtyCarried.sum());

                // Retried with the fresh snapshot it succeeds and propagates (the D bit reaches the log).
                assertTrue(mmu.setSpteAtomic(it, Spte.NONPRESENT));
                assertEquals(Spte.NONPRESENT, vm.store().lvSpte(it.sptepTable(), it.sptepIndex()));
                assertTrue(s.dirtyBitmap().lvBit(3));
                assertEquals(1, vm.counters().dirtyCarried.sum());
            }
            finally
            {
                vm.rcu().readUnlock();
                vm.lock().readUnlock();
            }
        }
    }

    /**
     * Under the write lock, clearing W of a writable clean leaf must stay atomic: hardware may set D
     * between the iterator's read and the write (kernel: spte_has_volatile_bits). A leaf with W, A
     * and D set has nothing volatile left, and the clear is a plain store of the snapshot.
     */
    @Test
    void writeLockedClearKeepsADirtyBitHardwareSetAfterTheSnapshot()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            vm.addMemslot(BASE_4K, 16, Backing.PAGE_4K);
            assertEquals(TdpMmu.RET_PF_FIXED, fault(vm, BASE_4K + 5, false));
            final TdpMmu mmu = vm.mmu();
            final TdpIter it = new TdpIter(vm.store());
            vm.lock().writeLock();
            vm.rcu().readLock();
            try
            {
                seekLeaf(mmu, it, BASE_4K + 5);
                // Make the leaf writable, accessed and clean: D is the bit hardware may still set.
                final long clean = (it.oldSpte() | Spte.WRITABLE | Spte.MMU_WRITABLE | Spte.ACCESSED) & ~Spte.DIRTY;
                vm.store().soSpte(it.sptepTable(), it.sptepIndex(), clean);
                it.refreshOldSpte(clean);
                assertTrue(Spte.hasVolatileBits(clean));
                // The hardware walk of a write sets D after the sweep read the entry.
                assertEquals(clean, vm.store().cmpxchgSpte(it.sptepTable(), it.sptepIndex(), clean, clean | Spte.DIRTY));

                final long before = mmu.clearSpteBits(it, Spte.WRITABLE);
                assertTrue(Spte.isDirty(before), "the value returned is the one replaced, D included");
                final long now = vm.store().lvSpte(it.sptepTable(), it.sptepIndex());
                assertTrue(Spte.isDirty(now) && !Spte.isWritable(now), "D kept, W cleared: " + Spte.describe(now, 1));

                // W, A and D all set: nothing volatile, so a plain store of the snapshot is exact.
                final long full = now | Spte.WRITABLE;
                vm.store().soSpte(it.sptepTable(), it.sptepIndex(), full);
                it.refreshOldSpte(full);
                assertFalse(Spte.hasVolatileBits(full));
                assertEquals(full, mmu.clearSpteBits(it, Spte.DIRTY));
                assertEquals(full & ~Spte.DIRTY, vm.store().lvSpte(it.sptepTable(), it.sptepIndex()));
                assertEquals(full & ~Spte.DIRTY, it.oldSpte());
            }
            finally
            {
                vm.rcu().readUnlock();
                vm.lock().writeUnlock();
            }
        }
    }

    /** A frozen entry anywhere on the fault's path: RETRY, no table allocated for nothing. */
    @Test
    void aFrozenEntryMakesTheFaultRetry()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            vm.addMemslot(BASE_4K, 16, Backing.PAGE_4K);
            final long root = vm.mmu().rootPfn();
            final int rootIndex = Spte.index(BASE_4K, vm.mmu().rootLevel());
            vm.store().soSpte(root, rootIndex, Spte.FROZEN);
            final long live = vm.store().liveCount();
            assertEquals(TdpMmu.RET_PF_RETRY, fault(vm, BASE_4K, true));
            assertEquals(0, vm.counters().cacheTaken.sum(), "no table taken for a link that could not happen");
            assertEquals(0, vm.counters().tablesLinked.sum());
            assertEquals(live, vm.store().liveCount(), "the fault's cache went back");
            vm.store().soSpte(root, rootIndex, Spte.NONPRESENT);
            assertEquals(TdpMmu.RET_PF_FIXED, fault(vm, BASE_4K, true));

            final SafetyChecks.Mapping m = SafetyChecks.lookup(vm, BASE_4K);
            vm.store().soSpte(m.tablePfn(), Spte.index(BASE_4K + 1, 1), Spte.FROZEN);
            assertEquals(TdpMmu.RET_PF_RETRY, fault(vm, BASE_4K + 1, false), "frozen at the goal level");
            assertEquals(Spte.FROZEN, vm.store().lvSpte(m.tablePfn(), Spte.index(BASE_4K + 1, 1)), "left alone");
            vm.store().soSpte(m.tablePfn(), Spte.index(BASE_4K + 1, 1), Spte.NONPRESENT);
            assertEquals(TdpMmu.RET_PF_FIXED, fault(vm, BASE_4K + 1, false));
            assertEquals(2, vm.counters().faultRetry.sum());
        }
    }

    /** A zap in progress (frozen, flush pending) on one thread: a fault on another thread retries. */
    @Test
    void aFaultDuringAnAtomicZapRetries() throws InterruptedException
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            vm.addMemslot(BASE_2M, 512, Backing.PAGE_2M);
            final long g = BASE_2M + 77;
            assertEquals(TdpMmu.RET_PF_FIXED, fault(vm, g, true));
            final CountDownLatch frozen = new CountDownLatch(1);
            final CountDownLatch faulted = new CountDownLatch(1);
            vm.mmu().setTestHook((point, gfn) ->
            {
                if (point == TestHook.Point.ZAP_AFTER_FREEZE)
                {
                    frozen.countDown();
                    ConcurrentFaultTest.await(faulted);
                }
            });
            final AtomicInteger during = new AtomicInteger(-1);
            final AtomicInteger seen = new AtomicInteger();
            final Thread faulter = new Thread(() ->
            {
                ConcurrentFaultTest.await(frozen);
                seen.set((int)entryAt(vm, g, Spte.PG_LEVEL_2M));
                during.set(fault(vm, g, false));
                faulted.countDown();
            });
            faulter.start();
            final TdpMmu mmu = vm.mmu();
            final TdpIter it = new TdpIter(vm.store());
            vm.lock().readLock();
            vm.rcu().readLock();
            try
            {
                it.start(mmu.rootPfn(), mmu.rootLevel(), Spte.PG_LEVEL_2M, g, g + 1);
                while (it.level() > Spte.PG_LEVEL_2M)
                {
                    it.next();
                }
                assertTrue(mmu.zapSpteAtomic(it));
            }
            finally
            {
                vm.rcu().readUnlock();
                vm.lock().readUnlock();
            }
            faulter.join(30_000);
            assertEquals(Spte.FROZEN, seen.get());
            assertEquals(TdpMmu.RET_PF_RETRY, during.get());
            assertNull(SafetyChecks.lookup(vm, g));
            vm.mmu().setTestHook(null);
            assertEquals(TdpMmu.RET_PF_FIXED, fault(vm, g, false));
        }
    }

    /** The raw entry on a gfn's path at a level (no lock: the tables on the path stay linked). */
    private static long entryAt(final Vm vm, final long gfn, final int level)
    {
        long table = vm.mmu().rootPfn();
        for (int l = vm.mmu().rootLevel(); l > level; l--)
        {
            table = Spte.pfn(vm.store().lvSpte(table, Spte.index(gfn, l)));
        }
        return vm.store().lvSpte(table, Spte.index(gfn, level));
    }

    @Test
    void aPresentLeafChangingPfnIsAnMmuBug()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            final TdpMmu mmu = vm.mmu();
            final long a = Spte.makeLeaf(0x1000, 1, Spte.LEAF_WRITABLE);
            final long b = Spte.makeLeaf(0x2000, 1, Spte.LEAF_WRITABLE);
            final MmuBugException ex = assertThrows(MmuBugException.class, () -> mmu.handleChangedSpte(0x55, a, b, 1, true));
            assertTrue(ex.getMessage().contains("gfn 0x55") && ex.getMessage().contains(Spte.describe(a, 1)) &&
                ex.getMessage().contains(Spte.describe(b, 1)), ex.getMessage());
            final long hugeA = Spte.makeLeaf(0x200, 2, 0);
            final long hugeB = Spte.makeLeaf(0x400, 2, 0);
            assertThrows(MmuBugException.class, () -> mmu.handleChangedSpte(0x200, hugeA, hugeB, 2, false));
            // Same pfn, other bits: fine; leaf to non-present: fine (nothing logged, slot not logging).
            mmu.handleChangedSpte(0x55, a, a & ~Spte.WRITABLE, 1, true);
            mmu.handleChangedSpte(0x55, a, Spte.NONPRESENT, 1, true);
            mmu.handleChangedSpte(0x55, Spte.NONPRESENT, b, 1, true);
        }
    }

    @Test
    void setSpteUnderTheWriteLockRefusesAFrozenEntry()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            vm.addMemslot(BASE_4K, 16, Backing.PAGE_4K);
            assertEquals(TdpMmu.RET_PF_FIXED, fault(vm, BASE_4K, false));
            final SafetyChecks.Mapping m = SafetyChecks.lookup(vm, BASE_4K);
            vm.store().soSpte(m.tablePfn(), m.index(), Spte.FROZEN);
            final TdpIter it = new TdpIter(vm.store());
            vm.lock().writeLock();
            vm.rcu().readLock();
            try
            {
                it.start(vm.mmu().rootPfn(), vm.mmu().rootLevel(), 1, BASE_4K, BASE_4K + 1);
                while (it.level() > 1)
                {
                    it.next();
                }
                assertThrows(MmuBugException.class, () -> vm.mmu().setSpte(it, Spte.NONPRESENT));
            }
            finally
            {
                vm.rcu().readUnlock();
                vm.lock().writeUnlock();
            }
            vm.store().soSpte(m.tablePfn(), m.index(), Spte.NONPRESENT);
        }
    }

    /**
     * Teardown while unlinked tables still wait for their grace period and a reader is inside an RCU
     * section: destroy waits for the reader, then every table is back (live count 0).
     */
    @Test
    void teardownWithTablesInFlightLeavesNothingLive() throws InterruptedException
    {
        final Vm vm = new Vm(VmConfig.small());
        try
        {
            final Memslot s = vm.addMemslot(BASE_2M, 4 * 512, Backing.PAGE_2M);
            final Vcpu vcpu = vm.createVcpu();
            final DirtyLogging log = new DirtyLogging(vm);
            log.enable(s, Memslot.LOG_WRPROT, false);
            for (int r = 0; r < 4; r++)
            {
                vcpu.write(BASE_2M + r * 512L + 1, r);
            }
            vcpu.exitGuest();
            log.disable(s, RecoveryStrategy.ZAP_HUGE.recovery());
            final long reachable = SafetyChecks.reachableTables(vm);
            assertEquals(3, reachable, "root, L3, L2; the four L1 tables are unlinked");
            assertEquals(reachable + 4 + vcpu.memoryCache().size(), vm.store().liveCount(),
                "four tables in flight, the rest linked or in the vCPU's cache");
            // The zap_huge sweep queued its four tables with one callback (DeferredTableFrees).
            assertTrue(vm.rcu().pendingCallbacks() >= 1);

            final CountDownLatch inside = new CountDownLatch(1);
            final CountDownLatch leave = new CountDownLatch(1);
            final Thread reader = new Thread(() ->
            {
                vm.rcu().readLock();
                inside.countDown();
                ConcurrentFaultTest.await(leave);
                vm.rcu().readUnlock();
            });
            reader.start();
            ConcurrentFaultTest.await(inside);
            final Thread destroyer = new Thread(vm::destroy);
            destroyer.start();
            destroyer.join(200);
            assertTrue(destroyer.isAlive(), "destroy waits for the reader's grace period");
            leave.countDown();
            destroyer.join(30_000);
            reader.join(30_000);
            assertFalse(destroyer.isAlive());
            assertEquals(0, vm.store().liveCount());
            SafetyChecksTest.assertClean(SafetyChecks.noLeak(vm));
            assertEquals(0, vm.rcu().pendingCallbacks());
            assertEquals(vm.store().allocatedCount(), vm.counters().tablesFreed.sum());
        }
        finally
        {
            vm.close();
        }
    }
}
