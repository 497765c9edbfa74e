package org.tdpmmu.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * One test per kernel-era switch of {@link VmConfig} that fails when the switch is ignored, the SPTE
 * layout tests in each layout, and the preset table ({@link KernelRelease}).
 */
class KernelSwitchesTest
{
    private static final long BASE_2M = 0x100000;

    private static VmConfig layout(final boolean sve)
    {
        return VmConfig.small().withSuppressVeNonPresent(sve);
    }

    private static int fault(final Vm vm, final long gfn, final boolean write)
    {
        return vm.mmu().pageFault(new TdpIter(vm.store()), gfn, write);
    }

    // ------------------------------------------------------------------ the SPTE layout (6.11)

    @ParameterizedTest(name = "suppressVe={0}")
    @ValueSource(booleans = {false, true})
    void theLayoutsValuesAreNeitherPresentNorLeavesAndFrozenIsRecognised(final boolean sve)
    {
        final long np = Spte.nonPresent(sve);
        final long frozen = Spte.frozen(sve);
        assertFalse(Spte.isPresent(np));
        assertFalse(Spte.isPresent(frozen));
        assertFalse(Spte.isPresentLeaf(frozen, Spte.PG_LEVEL_2M));
        assertTrue(Spte.isFrozen(frozen));
        assertFalse(Spte.isFrozen(np));
        assertTrue(Spte.isNonPresentValue(np));
        assertFalse(Spte.isNonPresentValue(frozen));
        assertEquals(0L, frozen & Spte.PFN_MASK, "no pfn bits (L1TF)");
        assertEquals(0L, frozen & (Spte.READABLE | Spte.WRITABLE | Spte.EXECUTABLE), "no RWX: not present to hardware");
        assertEquals(sve ? 0x80000000000005a0L : 0x5a0L, frozen);
        assertEquals(sve ? Long.MIN_VALUE : 0L, np);
        assertTrue(Spte.describe(frozen, 1).contains("FROZEN"), Spte.describe(frozen, 1));
        assertTrue(Spte.describe(np, 1).contains("[not-present]"), Spte.describe(np, 1));
    }

    @ParameterizedTest(name = "suppressVe={0}")
    @ValueSource(booleans = {false, true})
    void leavesAndTablesOfALayoutCarryItsBitAndDecodeTheSame(final boolean sve)
    {
        final int extra = sve ? Spte.LEAF_SUPPRESS_VE : 0;
        final long leaf = Spte.makeLeaf(0x200, Spte.PG_LEVEL_2M, Spte.LEAF_WRITABLE | Spte.LEAF_ACCESSED | extra);
        assertEquals(sve, (leaf & Spte.SUPPRESS_VE) != 0);
        assertTrue(Spte.isPresentLeaf(leaf, Spte.PG_LEVEL_2M));
        assertEquals(0x200, Spte.pfn(leaf));
        final long child = Spte.makeSplitChild(leaf, Spte.PG_LEVEL_2M, 3);
        assertEquals(0x203, Spte.pfn(child));
        assertEquals(sve, (child & Spte.SUPPRESS_VE) != 0, "a split child keeps the bit");
        assertEquals(leaf, Spte.makeHuge(Spte.makeSplitChild(leaf, Spte.PG_LEVEL_2M, 0), Spte.PG_LEVEL_2M));
        final long table = Spte.makeNonLeaf(PageTableStore.PFN_BASE, Spte.presentExtra(sve));
        assertTrue(Spte.isPresentTable(table, 2));
        assertEquals(PageTableStore.PFN_BASE, Spte.pfn(table));
        assertEquals(sve, (table & Spte.SUPPRESS_VE) != 0);
        assertFalse(Spte.isFrozen(leaf) || Spte.isFrozen(table));
    }

    /** Fails if the switch is ignored: tables start, and zaps leave, the layout's own value. */
    @ParameterizedTest(name = "suppressVe={0}")
    @ValueSource(booleans = {false, true})
    void aVmWritesItsLayoutsNonPresentValueAndMarksItsEntries(final boolean sve)
    {
        try (Vm vm = new Vm(layout(sve)))
        {
            assertEquals(Spte.nonPresent(sve), vm.store().initValue());
            for (int i = 0; i < Spte.ENTRIES_PER_TABLE; i++)
            {
                assertEquals(Spte.nonPresent(sve), vm.store().lvSpte(vm.mmu().rootPfn(), i), "root entry " + i);
            }
            vm.addMemslot(BASE_2M, 1024, Backing.PAGE_4K);
            assertEquals(TdpMmu.RET_PF_FIXED, fault(vm, BASE_2M + 7, true));
            final SafetyChecks.Mapping m = SafetyChecks.lookup(vm, BASE_2M + 7);
            assertEquals(sve, (m.spte() & Spte.SUPPRESS_VE) != 0, Spte.describe(m.spte(), m.level()));
            assertEquals(Spte.nonPresent(sve), vm.store().lvSpte(m.tablePfn(), m.index() + 1), "a sibling never mapped");
            final long rootEntry = vm.store().lvSpte(vm.mmu().rootPfn(), Spte.index(BASE_2M, vm.mmu().rootLevel()));
            assertEquals(sve, (rootEntry & Spte.SUPPRESS_VE) != 0, "the table entry too");
            vm.invalidate(BASE_2M + 7, BASE_2M + 8);
            assertEquals(Spte.nonPresent(sve), vm.store().lvSpte(m.tablePfn(), m.index()), "zapped to the layout's value");
            SafetyChecksTest.assertClean(SafetyChecks.structure(vm));
        }
    }

    /** A freed page that is reused starts with the init value again, not the poison of the free. */
    @ParameterizedTest(name = "init=0x{0}")
    @ValueSource(longs = {0L, Long.MIN_VALUE})
    void aReusedPageIsRefilledWithTheInitValue(final long init)
    {
        final PageTableStore store = new PageTableStore(4, FaultInjection.NONE, init);
        final long a = store.allocate();
        store.soSpte(a, 3, Spte.makeLeaf(1, 1, 0));
        store.free(a);
        final long b = store.allocate();
        assertEquals(a, b, "the free list hands the page back");
        for (int i = 0; i < Spte.ENTRIES_PER_TABLE; i++)
        {
            assertEquals(init, store.lvSpte(b, i), "entry " + i);
        }
        assertThrows(IllegalArgumentException.class, () -> new PageTableStore(4, FaultInjection.NONE, 1L));
    }

    // ------------------------------------------------------------------ mmu_notifier check before mmu_lock (6.8)

    /**
     * With an invalidation of the gfn in progress the fault retries either way; from 6.8 it does so
     * before the pfn lookup and without taking mmu_lock. This thread holds the lock for write while
     * it faults: the 6.8 fault returns without touching the lock, the older one tries to take it
     * for read, which the lock refuses as a re-entry (no timing involved).
     */
    @ParameterizedTest(name = "retryBeforeMmuLock={0}")
    @ValueSource(booleans = {false, true})
    void aFaultOnAChangingMappingRetriesBeforeTheLockFrom68(final boolean before)
    {
        try (Vm vm = new Vm(VmConfig.small().withRetryBeforeMmuLock(before)))
        {
            vm.addMemslot(BASE_2M, 512, Backing.PAGE_4K);
            vm.invalidation().begin(BASE_2M, BASE_2M + 512);
            vm.lock().writeLock();
            try
            {
                if (before)
                {
                    assertEquals(TdpMmu.RET_PF_RETRY, fault(vm, BASE_2M + 1, true));
                    assertEquals(1, vm.counters().faultRetryBeforeLock.sum());
                    assertEquals(1, vm.counters().faultRetryInvalidation.sum());
                }
                else
                {
                    final IllegalStateException e = assertThrows(IllegalStateException.class,
                        () -> fault(vm, BASE_2M + 1, true), "the fault went for mmu_lock");
                    assertTrue(e.getMessage().startsWith("mmu_lock"), e.getMessage());
                    assertEquals(0, vm.counters().faultRetryBeforeLock.sum());
                }
            }
            finally
            {
                vm.lock().writeUnlock();
            }
            if (!before)
            {
                assertEquals(TdpMmu.RET_PF_RETRY, fault(vm, BASE_2M + 1, true), "the check under the lock");
                assertEquals(1, vm.counters().faultRetryInvalidation.sum());
            }
            vm.invalidation().end(BASE_2M, BASE_2M + 512);
            assertEquals(TdpMmu.RET_PF_FIXED, fault(vm, BASE_2M + 1, true), "after the invalidation");
        }
    }

    // ------------------------------------------------------------------ eager page splitting (2022)

    /** Without the kernel's eager splitting, a request to split at enable leaves the huge leaf. */
    @ParameterizedTest(name = "eagerPageSplit={0}")
    @ValueSource(booleans = {false, true})
    void eagerSplittingAtEnableNeedsTheKernelToHaveIt(final boolean eager)
    {
        try (Vm vm = new Vm(VmConfig.small().withEagerPageSplit(eager)))
        {
            final Memslot slot = vm.addMemslot(BASE_2M, 512, Backing.PAGE_2M);
            assertEquals(TdpMmu.RET_PF_FIXED, fault(vm, BASE_2M + 3, true));
            assertEquals(Spte.PG_LEVEL_2M, SafetyChecks.lookup(vm, BASE_2M + 3).level());
            new DirtyLogging(vm).enable(slot, Memslot.LOG_WRPROT, true);
            assertEquals(eager ? Spte.PG_LEVEL_4K : Spte.PG_LEVEL_2M, SafetyChecks.lookup(vm, BASE_2M + 3).level());
            assertEquals(eager ? 1 : 0, vm.counters().splits.sum());
        }
    }

    // ------------------------------------------------------------------ a huge leaf at fault time (6.2)

    /**
     * A write to a write-protected 2 MiB leaf in a logged slot: from 6.2 the fault splits it and the
     * other 511 pages stay mapped; before, it zaps it (a flush) and maps only the faulting page, so
     * the next page takes a fault of its own that installs a new leaf.
     */
    @ParameterizedTest(name = "splitHugeOnFault={0}")
    @ValueSource(booleans = {false, true})
    void aFaultBelowAHugeLeafSplitsItFrom62AndZapsItBefore(final boolean split)
    {
        try (Vm vm = new Vm(VmConfig.small().withSplitHugeOnFault(split)))
        {
            final Memslot slot = vm.addMemslot(BASE_2M, 512, Backing.PAGE_2M);
            assertEquals(TdpMmu.RET_PF_FIXED, fault(vm, BASE_2M + 3, false));
            assertEquals(Spte.PG_LEVEL_2M, SafetyChecks.lookup(vm, BASE_2M + 3).level());
            new DirtyLogging(vm).enable(slot, Memslot.LOG_WRPROT, false);
            final long flushes = vm.counters().tlbFlushRequests.sum();
            final long installed = vm.counters().faultInstalled.sum();
            assertEquals(TdpMmu.RET_PF_FIXED, fault(vm, BASE_2M + 3, true));
            assertEquals(Spte.PG_LEVEL_4K, SafetyChecks.lookup(vm, BASE_2M + 3).level());
            assertEquals(split ? 1 : 0, vm.counters().splits.sum());
            assertEquals(split ? 0 : 1, vm.counters().faultZapHuge.sum());
            assertEquals(split ? 0 : 1, vm.counters().tlbFlushRequests.sum() - flushes, "a zap flushes, a split does not");
            final SafetyChecks.Mapping sibling = SafetyChecks.lookup(vm, BASE_2M + 4);
            assertEquals(split, sibling != null && Spte.isPresent(sibling.spte()), "the next page still mapped");
            assertEquals(split ? TdpMmu.RET_PF_SPURIOUS : TdpMmu.RET_PF_FIXED, fault(vm, BASE_2M + 4, false));
            assertEquals(split ? 1 : 2, vm.counters().faultInstalled.sum() - installed,
                "before 6.2 the next page's fault installs a leaf of its own");
            SafetyChecksTest.assertClean(SafetyChecks.structure(vm));
        }
    }

    // ------------------------------------------------------------------ faults under the read lock (5.12)

    /** Before 5.12 each fault takes mmu_lock for write; from 5.12 for read. */
    @ParameterizedTest(name = "faultUnderWriteLock={0}")
    @ValueSource(booleans = {false, true})
    void aFaultTakesMmuLockForWriteBefore512(final boolean underWrite)
    {
        try (Vm vm = new Vm(VmConfig.small().withFaultUnderWriteLock(underWrite)))
        {
            vm.addMemslot(BASE_2M, 1024, Backing.PAGE_4K);
            final long writes = vm.lock().writeAcquisitions();
            final long reads = vm.lock().readAcquisitions();
            for (int i = 0; i < 8; i++)
            {
                assertEquals(TdpMmu.RET_PF_FIXED, fault(vm, BASE_2M + 3 * i, i % 2 == 0));
            }
            assertEquals(underWrite ? 8 : 0, vm.lock().writeAcquisitions() - writes);
            assertEquals(underWrite ? 0 : 8, vm.lock().readAcquisitions() - reads);
            assertEquals(8, vm.counters().faultInstalled.sum());
            SafetyChecksTest.assertClean(SafetyChecks.structure(vm));
        }
    }

    // ------------------------------------------------------------------ the preset table

    @Test
    void presetsFollowTheReleasesThatChangedEachBehaviour()
    {
        final VmConfig oldest = KernelRelease.V5_15.apply(VmConfig.small());
        assertFalse(oldest.suppressVeNonPresent() || oldest.spteNeedsAtomicUpdate() || oldest.retryBeforeMmuLock()
            || oldest.eagerPageSplit() || oldest.locklessAging() || oldest.splitHugeOnFault());
        assertFalse(oldest.faultUnderWriteLock(), "5.15 faults under the read lock (5.12)");
        assertFalse(KernelRelease.V6_1.apply(VmConfig.small()).splitHugeOnFault(), "split on fault came with 6.2");
        assertEquals(RecoveryStrategy.ZAP_LEAFS, KernelRelease.V5_15.recovery());
        final VmConfig v66 = KernelRelease.V6_6.apply(VmConfig.small());
        assertTrue(v66.eagerPageSplit() && v66.splitHugeOnFault());
        assertFalse(v66.retryBeforeMmuLock() || v66.suppressVeNonPresent());
        assertEquals(RecoveryStrategy.ZAP_HUGE, KernelRelease.V6_6.recovery());
        final VmConfig v612 = KernelRelease.V6_12.apply(VmConfig.small());
        assertTrue(v612.retryBeforeMmuLock() && v612.suppressVeNonPresent());
        assertFalse(v612.locklessAging() || v612.spteNeedsAtomicUpdate());
        assertEquals(RecoveryStrategy.ZAP_HUGE, KernelRelease.V6_12.recovery());
        assertEquals(VmConfig.small(), KernelRelease.NEWEST.apply(VmConfig.small()), "the defaults are the newest");
        assertEquals(RecoveryStrategy.PROMOTE_IN_PLACE, KernelRelease.NEWEST.recovery());
    }

    @ParameterizedTest
    @EnumSource(KernelRelease.class)
    void aReleaseParsesFromItsVersion(final KernelRelease r)
    {
        assertEquals(r, KernelRelease.parse(r.version()));
        assertEquals(r, KernelRelease.parse("v" + r.version()));
        try (Vm vm = new Vm(r.apply(VmConfig.small())))
        {
            assertEquals(Spte.nonPresent(r.atLeast(6, 11)), vm.mmu().nonPresent());
        }
    }

    @Test
    void anUnknownReleaseNamesTheKnownOnes()
    {
        final IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> KernelRelease.parse("6.7"));
        assertEquals("unknown kernel release \"6.7\"; known: 5.15, 6.1, 6.6, 6.12, 6.18", e.getMessage());
        assertNotEquals(KernelRelease.V6_1, KernelRelease.parse("6.12"));
    }
}
