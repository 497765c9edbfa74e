package org.tdpmmu.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * Property 7, no extra dirty page: a harvest reports only pages written since the previous harvest
 * that reported them. Each case is one kvm-check found against a real KVM, where the model reported
 * pages the kernel did not; each fails if its fix is undone.
 */
class NoExtraDirtyPageTest
{
    private static final long BASE = 0x100000;
    /** Two 2 MiB pages. */
    private static final long PAGES = 1024;

    private static int count(final long[] bitmap)
    {
        int n = 0;
        for (final long w : bitmap)
        {
            n += Long.bitCount(w);
        }
        return n;
    }

    private static boolean dirty(final long[] bitmap, final long page)
    {
        return (bitmap[(int)(page >>> 6)] & (1L << (page & 63))) != 0;
    }

    /**
     * D-bit logging, huge pages split by their first write (no eager split): the children of the
     * split inherit the huge page's D bit, set by a write before logging. Reporting them made the
     * whole 2 MiB page dirty; the kernel (PML) reports the written page only. With initially-set the
     * first clear write-protects the huge page and the same split follows.
     */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void aSplitHugePageIsNotReportedWhole(final boolean initiallySet)
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            final Memslot slot = vm.addMemslot(BASE, PAGES, Backing.PAGE_2M);
            final Vcpu vcpu = vm.createVcpu();
            for (long g = BASE; g < BASE + PAGES; g++)
            {
                vcpu.write(g, g);
            }
            vcpu.exitGuest();
            final DirtyLogging log = new DirtyLogging(vm);
            log.enable(slot, Memslot.LOG_DBIT, false, initiallySet);
            final SafetyChecks.DirtyLogTracker tracker = new SafetyChecks.DirtyLogTracker(slot);
            if (initiallySet)
            {
                tracker.initiallySet();
                tracker.beginHarvest();
                final long[] all = log.getDirtyLog(slot, true);
                assertEquals(PAGES, count(all), "initially set: the first harvest reports every page");
                log.clearDirtyLog(slot, 0, all);
                tracker.endHarvest(all);
            }
            tracker.beginWrite(BASE + 5);
            vcpu.write(BASE + 5, 1);
            tracker.endWrite(BASE + 5);
            vcpu.exitGuest();
            tracker.beginHarvest();
            final long[] got = log.getDirtyLog(slot, true);
            log.clearDirtyLog(slot, 0, got);
            tracker.endHarvest(got);
            assertTrue(dirty(got, 5), "the written page");
            assertEquals(1, count(got), "only the written page, not the other 511 of its huge page");
            assertEquals(List.of(), tracker.extra());
            assertEquals(List.of(), tracker.check());
            // A later write to another child takes the fast path and is reported alone.
            tracker.beginWrite(BASE + 6);
            vcpu.write(BASE + 6, 2);
            tracker.endWrite(BASE + 6);
            vcpu.exitGuest();
            tracker.beginHarvest();
            final long[] next = log.getDirtyLog(slot, false);
            tracker.endHarvest(next);
            assertEquals(1, count(next));
            assertTrue(dirty(next, 6));
            assertEquals(List.of(), tracker.extra());
        }
    }

    /**
     * Write-protect logging: a host invalidation zaps a leaf whose D bit is left from a write
     * before logging was enabled. Carrying that D bit into the log reported a page nobody wrote
     * since; only a D-bit logged slot's writable leaf carries D.
     */
    @Test
    void aZapDoesNotReportAWriteFromBeforeLogging()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            final Memslot slot = vm.addMemslot(BASE, 64, Backing.PAGE_4K);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(BASE + 3, 1);
            vcpu.exitGuest();
            final DirtyLogging log = new DirtyLogging(vm);
            log.enable(slot, Memslot.LOG_WRPROT, false);
            vm.invalidate(BASE, BASE + 64);
            assertFalse(dirty(log.getDirtyLog(slot, false), 3), "the zapped page was not written while logging");
        }
    }

    /**
     * Pages written after the last harvest of one logging period are no writes of the next: KVM
     * gives each enable a fresh bitmap. The model kept one bitmap per slot across periods.
     */
    @Test
    void aReEnabledLogStartsEmpty()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            final Memslot slot = vm.addMemslot(BASE, 64, Backing.PAGE_4K);
            final Vcpu vcpu = vm.createVcpu();
            final DirtyLogging log = new DirtyLogging(vm);
            log.enable(slot, Memslot.LOG_WRPROT, false);
            vcpu.write(BASE + 9, 1);
            vcpu.exitGuest();
            log.disable(slot, RecoveryStrategy.ZAP_HUGE.recovery());
            log.enable(slot, Memslot.LOG_WRPROT, false);
            vcpu.write(BASE + 10, 2);
            vcpu.exitGuest();
            final long[] got = log.getDirtyLog(slot, false);
            assertFalse(dirty(got, 9), "written in the previous logging period");
            assertTrue(dirty(got, 10));
        }
    }

    /** The tracker itself: a page reported twice for one write is an extra page; the initially-set report is not. */
    @Test
    void theTrackerFindsAReportWithoutAWrite()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            final Memslot slot = vm.addMemslot(BASE, 64, Backing.PAGE_4K);
            final SafetyChecks.DirtyLogTracker tracker = new SafetyChecks.DirtyLogTracker(slot);
            tracker.beginWrite(BASE + 1);
            tracker.endWrite(BASE + 1);
            tracker.beginHarvest();
            tracker.endHarvest(new long[] {0b10});
            assertEquals(List.of(), tracker.extra(), "written, then reported");
            tracker.beginHarvest();
            tracker.endHarvest(new long[] {0b110});
            assertEquals(2, tracker.extra().size(), "page 1 again without a write, page 2 never written");
            final SafetyChecks.DirtyLogTracker init = new SafetyChecks.DirtyLogTracker(slot);
            init.initiallySet();
            init.beginHarvest();
            init.endHarvest(new long[] {-1L});
            assertEquals(List.of(), init.extra(), "the all-ones first harvest of initially-set is allowed");
            init.beginHarvest();
            init.endHarvest(new long[] {1});
            assertEquals(1, init.extra().size(), "but only once");
        }
    }
}
