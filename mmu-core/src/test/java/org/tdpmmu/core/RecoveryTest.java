package org.tdpmmu.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Huge-page recovery when dirty logging is turned off: the faults each strategy costs afterwards,
 * its TLB flushes, and when in-place promotion must decline.
 *
 * <p>The common state: 8 aligned 2 MiB pages populated huge, logging enabled, every page written
 * (so every huge page is split into 512 4K leaves) and the log harvested with re-protection (W
 * cleared in LOG_WRPROT mode, D cleared in LOG_DBIT mode).
 */
class RecoveryTest
{
    private static final long BASE = 0x100000;
    private static final int HUGE = 8;
    private static final long PAGES = HUGE * 512L;

    private record Logged(Vm vm, Memslot slot, Vcpu vcpu, DirtyLogging log)
    {
    }

    private static Logged loggedAndHarvested(final int mode, final boolean eager, final Backing backing)
    {
        final Vm vm = new Vm(VmConfig.small());
        final Memslot slot = vm.addMemslot(BASE, PAGES, backing);
        final Vcpu vcpu = vm.createVcpu();
        for (long g = BASE; g < BASE + PAGES; g++)
        {
            vcpu.write(g, g);
        }
        final DirtyLogging log = new DirtyLogging(vm);
        log.enable(slot, mode, eager);
        for (long g = BASE; g < BASE + PAGES; g++)
        {
            vcpu.write(g, g + 1);
        }
        final long[] bitmap = log.getDirtyLog(slot, false);
        for (final long w : bitmap)
        {
            assertEquals(-1L, w, "every page reported dirty");
        }
        vcpu.exitGuest();
        assertEquals(0, DirtyLogConcurrencyTest.countHugeLeaves(vm, slot), "all split while logging");
        return new Logged(vm, slot, vcpu, log);
    }

    private static long readPass(final Logged l)
    {
        final long before = l.vcpu().faults();
        for (long g = BASE; g < BASE + PAGES; g++)
        {
            assertEquals(g + 1, l.vcpu().read(g), "gfn 0x" + Long.toHexString(g));
        }
        l.vcpu().exitGuest();
        return l.vcpu().faults() - before;
    }

    private static long writePass(final Logged l, final long delta)
    {
        final long before = l.vcpu().faults();
        for (long g = BASE; g < BASE + PAGES; g++)
        {
            l.vcpu().write(g, g + delta);
        }
        l.vcpu().exitGuest();
        return l.vcpu().faults() - before;
    }

    private static void destroyClean(final Logged l)
    {
        SafetyChecksTest.assertClean(SafetyChecks.structure(l.vm()));
        l.vm().destroy();
        SafetyChecksTest.assertClean(SafetyChecks.noLeak(l.vm()));
        l.vm().close();
    }

    static Stream<Arguments> modeAndStrategy()
    {
        final List<Arguments> out = new ArrayList<>();
        for (final int mode : new int[] {Memslot.LOG_WRPROT, Memslot.LOG_DBIT})
        {
            for (final RecoveryStrategy s : RecoveryStrategy.values())
            {
                out.add(Arguments.of(mode == Memslot.LOG_WRPROT ? "LOG_WRPROT" : "LOG_DBIT", mode, s));
            }
        }
        return out.stream();
    }

    /**
     * The point: after PROMOTE_IN_PLACE a read pass takes no fault, after either zap one per
     * huge page. A write pass then: after promotion in LOG_WRPROT mode the huge leaves inherited the
     * harvest's write-protection (MMU-writable kept), so one lockless fast fault per huge page, as in
     * the kernel; in LOG_DBIT mode W was never taken, so none; after a zap the refault mapped writable.
     */
    @ParameterizedTest(name = "{0} {2}")
    @MethodSource("modeAndStrategy")
    void faultsAfterDisable(final String modeName, final int mode, final RecoveryStrategy strategy)
    {
        final Logged l = loggedAndHarvested(mode, mode == Memslot.LOG_DBIT, Backing.PAGE_2M);
        final MmuCounters c = l.vm().counters();
        l.log().disable(l.slot(), strategy.recovery());
        SafetyChecksTest.assertClean(SafetyChecks.structure(l.vm()));
        final long promotedBefore = DirtyLogConcurrencyTest.countHugeLeaves(l.vm(), l.slot());
        assertEquals(strategy == RecoveryStrategy.PROMOTE_IN_PLACE ? HUGE : 0, promotedBefore);
        assertEquals(strategy == RecoveryStrategy.PROMOTE_IN_PLACE ? HUGE : 0, c.promotions.sum());

        final long readFaults = readPass(l);
        assertEquals(strategy == RecoveryStrategy.PROMOTE_IN_PLACE ? 0 : HUGE, readFaults, "read pass faults");
        assertEquals(HUGE, DirtyLogConcurrencyTest.countHugeLeaves(l.vm(), l.slot()));

        final long fastBefore = c.faultFast.sum();
        final long writeFaults = writePass(l, 7);
        final long expectedWrite = strategy == RecoveryStrategy.PROMOTE_IN_PLACE && mode == Memslot.LOG_WRPROT ? HUGE : 0;
        assertEquals(expectedWrite, writeFaults, "write pass faults");
        assertEquals(expectedWrite, c.faultFast.sum() - fastBefore, "they are fast-path faults");
        assertEquals(0, writePass(l, 8), "a second write pass takes none");
        assertEquals(HUGE, DirtyLogConcurrencyTest.countHugeLeaves(l.vm(), l.slot()));
        destroyClean(l);
    }

    /** ZAP_HUGE one flush per huge page, PROMOTE_IN_PLACE one per slot, ZAP_LEAFS one per 4K leaf zapped. */
    @ParameterizedTest
    @EnumSource(RecoveryStrategy.class)
    void tlbFlushesDuringDisable(final RecoveryStrategy strategy)
    {
        final Logged l = loggedAndHarvested(Memslot.LOG_WRPROT, false, Backing.PAGE_2M);
        final MmuCounters c = l.vm().counters();
        final long flushes = c.tlbFlushRequests.sum();
        final long zapLeaf = c.zapLeaf.sum();
        final long zapNonLeaf = c.zapNonLeaf.sum();
        final long removedEntries = c.removedPtEntries.sum();
        l.log().disable(l.slot(), strategy.recovery());
        final long flushed = c.tlbFlushRequests.sum() - flushes;
        final long removed = c.removedPtEntries.sum() - removedEntries;
        switch (strategy)
        {
            case ZAP_HUGE:
                assertEquals(HUGE, flushed);
                assertEquals(HUGE, c.zapNonLeaf.sum() - zapNonLeaf, "the 8 L1 tables torn down");
                assertEquals(HUGE * 512L, removed, "handle_removed_pt visits all 512 entries of each");
                break;
            case PROMOTE_IN_PLACE:
                assertEquals(1, flushed);
                assertEquals(HUGE, c.zapNonLeaf.sum() - zapNonLeaf);
                assertEquals(HUGE * 512L, removed, "a promotion frees the same tables a zap does");
                break;
            default:
                assertEquals(PAGES, c.zapLeaf.sum() - zapLeaf, "every 4K leaf zapped");
                assertEquals(PAGES, flushed, "one flush per zap");
                assertEquals(0, c.zapNonLeaf.sum() - zapNonLeaf, "the tables stay");
                assertEquals(0, removed, "no table is unlinked");
        }
        SafetyChecksTest.assertClean(SafetyChecks.structure(l.vm()));
        readPass(l);
        destroyClean(l);
    }

    @Test
    void promotionSkipsRegionsUnderAnInvalidationInProgress()
    {
        final Logged l = loggedAndHarvested(Memslot.LOG_WRPROT, false, Backing.PAGE_2M);
        final Vm vm = l.vm();
        final long start = BASE + 2 * 512;
        final long end = BASE + 3 * 512 + 1; // all of region 2, one page of region 3
        vm.lock().writeLock();
        try
        {
            vm.invalidation().begin(start, end);
        }
        finally
        {
            vm.lock().writeUnlock();
        }
        l.log().disable(l.slot(), RecoveryStrategy.PROMOTE_IN_PLACE.recovery());
        final MmuCounters c = vm.counters();
        assertEquals(2, c.promoteSkipInvalidation.sum());
        assertEquals(HUGE - 2, c.promotions.sum());
        for (int r = 0; r < HUGE; r++)
        {
            final SafetyChecks.Mapping m = SafetyChecks.lookup(vm, BASE + r * 512L + 100);
            assertNotNull(m);
            assertEquals(r == 2 || r == 3 ? Spte.PG_LEVEL_4K : Spte.PG_LEVEL_2M, m.level(), "region " + r);
        }
        SafetyChecksTest.assertClean(SafetyChecks.structure(vm));
        vm.lock().writeLock();
        try
        {
            vm.invalidation().end(start, end);
        }
        finally
        {
            vm.lock().writeUnlock();
        }
        assertEquals(0, readPass(l), "the skipped regions still have their 4K leaves");
        destroyClean(l);
    }

    @ParameterizedTest
    @EnumSource(RecoveryStrategy.class)
    void nothingIsRecoveredOn4kBacking(final RecoveryStrategy strategy)
    {
        final Logged l = loggedAndHarvested(Memslot.LOG_WRPROT, false, Backing.PAGE_4K);
        final MmuCounters c = l.vm().counters();
        final long flushes = c.tlbFlushRequests.sum();
        l.log().disable(l.slot(), strategy.recovery());
        assertEquals(0, c.tlbFlushRequests.sum() - flushes);
        assertEquals(0, c.promotions.sum());
        assertEquals(strategy == RecoveryStrategy.PROMOTE_IN_PLACE ? HUGE : 0, c.promoteSkipBacking.sum(),
            "one skip per L1 table");
        assertEquals(0, readPass(l));
        assertEquals(0, DirtyLogConcurrencyTest.countHugeLeaves(l.vm(), l.slot()));
        destroyClean(l);
    }

    @Test
    void promotionSkipsARegionWhoseLeafDisagrees()
    {
        final Logged l = loggedAndHarvested(Memslot.LOG_WRPROT, false, Backing.PAGE_2M);
        final Vm vm = l.vm();
        final long odd = BASE + 5 * 512 + 7;
        final SafetyChecks.Mapping m = SafetyChecks.lookup(vm, odd);
        final long foreign = vm.host().resolvePfn(l.slot(), BASE + 7); // region 0's frame: not contiguous
        final long bad = (m.spte() & ~Spte.PFN_MASK) | (foreign << Spte.PFN_SHIFT);
        vm.store().soSpte(m.tablePfn(), m.index(), bad);
        final List<String> stale = SafetyChecks.noStaleTranslation(vm);
        assertEquals(1, stale.size(), stale::toString);
        assertTrue(stale.get(0).contains("gfn 0x" + Long.toHexString(odd)), stale.get(0));

        l.log().disable(l.slot(), RecoveryStrategy.PROMOTE_IN_PLACE.recovery());
        final MmuCounters c = vm.counters();
        assertEquals(1, c.promoteSkipMismatch.sum());
        assertEquals(HUGE - 1, c.promotions.sum());
        assertEquals(Spte.PG_LEVEL_4K, SafetyChecks.lookup(vm, odd).level(), "no huge leaf over the odd one");
        assertEquals(Spte.PG_LEVEL_4K, SafetyChecks.lookup(vm, BASE + 5 * 512).level());
        assertEquals(Spte.PG_LEVEL_2M, SafetyChecks.lookup(vm, BASE + 4 * 512).level());
        assertEquals(stale, SafetyChecks.noStaleTranslation(vm), "the promotion added no stale entry");
        SafetyChecksTest.assertClean(SafetyChecks.noOversizedMapping(vm));
        vm.destroy();
        SafetyChecksTest.assertClean(SafetyChecks.noLeak(vm));
        vm.close();
    }

    /**
     * Each promoted huge leaf carries its own region's bits: W the AND of its leaves' (cleared by
     * the write-protection), A and D the OR; D only where a page of that region was written, so the
     * accumulator one pass reuses across regions starts afresh for each.
     */
    @Test
    void promotedLeavesCarryTheirOwnRegionsBits()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            final Memslot slot = vm.addMemslot(BASE, 3 * 512, Backing.PAGE_2M);
            final Vcpu vcpu = vm.createVcpu();
            final long[] huge = new long[3];
            for (int r = 0; r < 3; r++)
            {
                vcpu.read(BASE + r * 512L);
                huge[r] = SafetyChecks.lookup(vm, BASE + r * 512L).spte();
                assertTrue(Spte.isLarge(huge[r]) && !Spte.isDirty(huge[r]), Spte.describe(huge[r], 2));
            }
            vcpu.exitGuest();
            final DirtyLogging log = new DirtyLogging(vm);
            log.enable(slot, Memslot.LOG_WRPROT, true);
            vcpu.write(BASE + 512 + 5, 1); // region 1 only: W back on one leaf, D set on it
            vcpu.exitGuest();
            log.disable(slot, RecoveryStrategy.PROMOTE_IN_PLACE.recovery());
            assertEquals(3, vm.counters().promotions.sum());
            for (int r = 0; r < 3; r++)
            {
                final SafetyChecks.Mapping m = SafetyChecks.lookup(vm, BASE + r * 512L + 100);
                assertEquals(Spte.PG_LEVEL_2M, m.level());
                final long expected = (huge[r] & ~Spte.WRITABLE) | (r == 1 ? Spte.DIRTY : 0);
                assertEquals(expected, m.spte(), "region " + r + ": " + Spte.describe(m.spte(), 2));
            }
            SafetyChecksTest.assertClean(SafetyChecks.structure(vm));
            vm.destroy();
            SafetyChecksTest.assertClean(SafetyChecks.noLeak(vm));
        }
    }

    @Test
    void promotionRefusesWhileLoggingIsOn()
    {
        final Logged l = loggedAndHarvested(Memslot.LOG_WRPROT, false, Backing.PAGE_2M);
        final Vm vm = l.vm();
        final long live = vm.store().liveCount();
        final IllegalStateException ex = assertThrows(IllegalStateException.class,
            () -> RecoveryStrategy.PROMOTE_IN_PLACE.recovery().recover(vm.mmu(), l.slot()));
        assertTrue(ex.getMessage().contains("dirty logging is on"), ex.getMessage());
        assertEquals(0, vm.counters().promotions.sum());
        assertEquals(live, vm.store().liveCount(), "nothing changed");
        assertEquals(0, DirtyLogConcurrencyTest.countHugeLeaves(vm, l.slot()));
        assertTrue(l.slot().dirtyLogging());
        destroyClean(l);
    }

    /**
     * A 1 GiB-backed slot with only a few 4K pages mapped while logging: promotion rebuilds one
     * 1 GiB leaf (a read then takes no fault); ZAP_HUGE zaps at the 1 GiB level with one flush and
     * the next fault maps 1 GiB.
     */
    @ParameterizedTest
    @EnumSource(value = RecoveryStrategy.class, names = {"PROMOTE_IN_PLACE", "ZAP_HUGE"})
    void oneGigabyteRegionRecovers(final RecoveryStrategy strategy)
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            final long base = 0x40000; // 1 GiB
            final Memslot slot = vm.addMemslot(base, 0x40000, Backing.PAGE_1G);
            final Vcpu vcpu = vm.createVcpu();
            final DirtyLogging log = new DirtyLogging(vm);
            log.enable(slot, Memslot.LOG_WRPROT, false);
            for (long g = base + 0x1234; g < base + 0x1234 + 10 * 0x801; g += 0x801)
            {
                vcpu.write(g, g);
            }
            log.getDirtyLog(slot, false);
            vcpu.exitGuest();
            assertEquals(Spte.PG_LEVEL_4K, SafetyChecks.lookup(vm, base + 0x1234).level());
            final long flushes = vm.counters().tlbFlushRequests.sum();
            log.disable(slot, strategy.recovery());
            assertEquals(1, vm.counters().tlbFlushRequests.sum() - flushes);
            final long before = vcpu.faults();
            for (long g = base + 0x1234; g < base + 0x1234 + 10 * 0x801; g += 0x801)
            {
                assertEquals(g, vcpu.read(g));
            }
            vcpu.exitGuest();
            assertEquals(strategy == RecoveryStrategy.PROMOTE_IN_PLACE ? 0 : 1, vcpu.faults() - before);
            assertEquals(Spte.PG_LEVEL_1G, SafetyChecks.lookup(vm, base + 0x1234).level());
            SafetyChecksTest.assertClean(SafetyChecks.structure(vm));
            vm.destroy();
            SafetyChecksTest.assertClean(SafetyChecks.noLeak(vm));
        }
    }
}
