package org.tdpmmu.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.tdpmmu.core.FaultInjection.Site;

/**
 * Allocation failures on the MMU's own paths (issue 14.8): a fault whose memory-cache top-up fails,
 * an eager split that runs out, a huge-page recovery, VM creation, memslot backing and migration.
 * After each failure the MMU is consistent (no SPTE changed by the failed operation, no entry
 * frozen or half-linked, no stale or oversized mapping, no write of a completed access lost) and
 * the same operation retried succeeds; after teardown and an RCU barrier no table is leaked.
 */
class FaultInjectionTest
{
    private static final long BASE = 0x100000;
    private static final int HUGE = 8;
    private static final long PAGES = HUGE * 512L;

    /** Every structural check, empty when the MMU is consistent. */
    private static List<String> problems(final Vm vm)
    {
        final List<String> out = new ArrayList<>(SafetyChecks.structure(vm));
        out.addAll(SafetyChecks.noFrozenOrDanglingEntry(vm));
        return out;
    }

    private static void assertConsistentThenNoLeak(final Vm vm)
    {
        assertEquals(List.of(), problems(vm));
        vm.destroy();
        assertEquals(List.of(), SafetyChecks.noLeak(vm));
    }

    @Test
    void offIsTheSharedNoneAndArmedCountsEverySite()
    {
        final FaultInjection count = FaultInjection.counting();
        try (Vm vm = new Vm(VmConfig.small(), count))
        {
            assertEquals(1, count.allocations(Site.PAGE_TABLE), "the root");
            vm.addMemslot(0, 1024, Backing.PAGE_2M);
            assertEquals(2, count.allocations(Site.HOST_FRAME), "two 2 MiB host pages for 4 MiB");
            vm.createVcpu().write(5, 1);
            assertEquals(1 + 4, count.allocations(Site.PAGE_TABLE), "a fault tops its cache up to the root level");
        }
        assertFalse(count.fired());
        assertThrows(IllegalArgumentException.class, () -> FaultInjection.failNth(Site.PAGE_TABLE, 0));
    }

    /**
     * Off (and armed but not failing) the hook allocates nothing on the allocation path: 20,000
     * warm allocate/free pairs cost no heap bytes beyond the probe's own slack.
     */
    @Test
    void theHookAllocatesNothingOnTheAllocationPath()
    {
        final java.lang.management.ThreadMXBean bean = java.lang.management.ManagementFactory.getThreadMXBean();
        if (!(bean instanceof com.sun.management.ThreadMXBean threads) || !threads.isThreadAllocatedMemorySupported())
        {
            org.junit.jupiter.api.Assumptions.abort("this JVM cannot measure a thread's allocated bytes");
            return;
        }
        threads.setThreadAllocatedMemoryEnabled(true);
        for (final FaultInjection faults : List.of(FaultInjection.NONE, FaultInjection.counting()))
        {
            final PageTableStore store = new PageTableStore(4, faults);
            for (int i = 0; i < 5_000; i++)
            {
                store.free(store.allocate());
            }
            final long id = Thread.currentThread().getId();
            final long before = threads.getThreadAllocatedBytes(id);
            for (int i = 0; i < 20_000; i++)
            {
                store.free(store.allocate());
            }
            final long bytes = threads.getThreadAllocatedBytes(id) - before;
            assertTrue(bytes < 1024, faults + ": " + bytes + " bytes allocated by 20,000 allocate/free pairs");
        }
    }

    /**
     * The fault's top-up allocates tables #2..#5 (root is #1): failing any of them fails the access
     * before the MMU lock, with no SPTE changed; the retry maps it and the value lands.
     */
    @ParameterizedTest
    @ValueSource(ints = {2, 3, 4, 5})
    void aFaultWhoseTopUpFailsChangesNothingAndItsRetrySucceeds(final int n)
    {
        final FaultInjection fi = FaultInjection.failNth(Site.PAGE_TABLE, n);
        try (Vm vm = new Vm(VmConfig.small(), fi))
        {
            vm.addMemslot(0, 4096, Backing.PAGE_4K);
            final Vcpu vcpu = vm.createVcpu();
            final OutOfTablesException e = assertThrows(OutOfTablesException.class, () -> vcpu.write(7, 42));
            assertTrue(e.getMessage().contains("page-table allocation #" + n), e.getMessage());
            vcpu.exitGuest();
            for (int i = 0; i < Spte.ENTRIES_PER_TABLE; i++)
            {
                assertEquals(vm.mmu().nonPresent(), vm.store().lvSpte(vm.mmu().rootPfn(), i), "root entry " + i);
            }
            assertEquals(0, vm.counters().tablesLinked.sum());
            assertEquals(0, vm.invalidation().inProgress());
            assertFalse(vm.lock().heldForRead() || vm.lock().heldForWrite());
            assertEquals(n - 2, vcpu.memoryCache().size(), "the tables the top-up did get stay cached");
            vcpu.write(7, 42);
            assertEquals(42, vcpu.read(7));
            vcpu.exitGuest();
            assertEquals(List.of(), problems(vm));
            vm.destroy();
            assertEquals(List.of(), SafetyChecks.noLeak(vm));
        }
    }

    /** Populated with HUGE 2 MiB leaves; the page-table allocations that took, counted. */
    private static long allocationsToPopulate()
    {
        final FaultInjection count = FaultInjection.counting();
        try (Vm vm = new Vm(VmConfig.small(), count))
        {
            populate(vm);
            return count.allocations(Site.PAGE_TABLE);
        }
    }

    private static Memslot populate(final Vm vm)
    {
        final Memslot slot = vm.addMemslot(BASE, PAGES, Backing.PAGE_2M);
        final Vcpu vcpu = vm.createVcpu();
        for (long g = BASE; g < BASE + PAGES; g += 512)
        {
            vcpu.write(g, g);
        }
        vcpu.exitGuest();
        return slot;
    }

    /**
     * Eager split takes 9 tables in one top-up (8 huge pages: 4096 / 512 + 1). Failing its m-th
     * allocation leaves m - 1 tables, so m - 1 pages are split and the split stops (the kernel's
     * best effort); the rest stay huge and write-protected, and the first write to one splits it
     * through the fault path, logs it, and keeps every value.
     */
    @ParameterizedTest
    @ValueSource(ints = {1, 2, 5, 8, 9})
    void eagerSplitThatRunsOutStopsAndTheRestSplitOnTheirFirstWrite(final int m)
    {
        final long before = allocationsToPopulate();
        final FaultInjection fi = FaultInjection.failNth(Site.PAGE_TABLE, before + m);
        try (Vm vm = new Vm(VmConfig.small(), fi))
        {
            final Memslot slot = populate(vm);
            final Vcpu vcpu = vm.createVcpu();
            final DirtyLogging log = new DirtyLogging(vm);
            log.enable(slot, Memslot.LOG_WRPROT, true);
            assertTrue(fi.fired());
            assertEquals(1, vm.counters().splitAllocFailures.sum());
            assertEquals(Math.min(HUGE, m - 1), vm.counters().splits.sum(), "one split per table it did get");
            assertEquals(HUGE - Math.min(HUGE, m - 1), DirtyLogConcurrencyTest.countHugeLeaves(vm, slot));
            assertEquals(List.of(), problems(vm), "the huge leaves left are write-protected");
            for (long g = BASE; g < BASE + PAGES; g += 512)
            {
                assertEquals(g, vcpu.read(g), "no write lost at gfn 0x" + Long.toHexString(g));
                vcpu.write(g + 1, g + 1);
            }
            vcpu.exitGuest();
            assertEquals(0, DirtyLogConcurrencyTest.countHugeLeaves(vm, slot), "each write split its page");
            final long[] bitmap = log.getDirtyLog(slot, false);
            for (long g = BASE; g < BASE + PAGES; g += 512)
            {
                final long page = g + 1 - BASE;
                assertTrue((bitmap[(int)(page >>> 6)] & (1L << (page & 63))) != 0, "write logged at 0x" +
                    Long.toHexString(g + 1));
            }
            assertConsistentThenNoLeak(vm);
        }
    }

    /**
     * No recovery strategy allocates a table (promotion frees the split tables, the zaps free
     * them): an injection armed for the next allocation does not fire during disable; the first
     * fault after it that needs a table fails on it, and its retry succeeds.
     */
    @ParameterizedTest
    @EnumSource(RecoveryStrategy.class)
    void recoveryAllocatesNothingAndAFailedFaultAfterItRetries(final RecoveryStrategy strategy)
    {
        final FaultInjection count = FaultInjection.counting();
        final long beforeDisable;
        try (Vm vm = new Vm(VmConfig.small(), count))
        {
            splitAndHarvest(vm);
            beforeDisable = count.allocations(Site.PAGE_TABLE);
        }
        final FaultInjection fi = FaultInjection.failNth(Site.PAGE_TABLE, beforeDisable + 1);
        try (Vm vm = new Vm(VmConfig.small(), fi))
        {
            final Memslot slot = splitAndHarvest(vm);
            final DirtyLogging log = new DirtyLogging(vm);
            log.disable(slot, strategy.recovery());
            assertFalse(fi.fired(), strategy + " allocated a table");
            assertEquals(List.of(), problems(vm));
            final Vcpu vcpu = vm.createVcpu();
            // A gfn of another 1 GiB region: the walk needs new tables below the root.
            final Memslot far = vm.addMemslot(BASE + (1L << 18), 512, Backing.PAGE_4K);
            assertThrows(OutOfTablesException.class, () -> vcpu.write(far.baseGfn(), 9));
            vcpu.exitGuest();
            assertEquals(List.of(), problems(vm));
            vcpu.write(far.baseGfn(), 9);
            for (long g = BASE; g < BASE + PAGES; g += 97)
            {
                assertEquals(g + 1, vcpu.read(g), "gfn 0x" + Long.toHexString(g) + " after " + strategy);
            }
            vcpu.exitGuest();
            assertConsistentThenNoLeak(vm);
        }
    }

    /** HUGE huge pages populated, logged without eager split, every page written (all split), harvested. */
    private static Memslot splitAndHarvest(final Vm vm)
    {
        final Memslot slot = populate(vm);
        final Vcpu vcpu = vm.createVcpu();
        final DirtyLogging log = new DirtyLogging(vm);
        log.enable(slot, Memslot.LOG_WRPROT, false);
        for (long g = BASE; g < BASE + PAGES; g++)
        {
            vcpu.write(g, g + 1);
        }
        vcpu.exitGuest();
        log.getDirtyLog(slot, false);
        return slot;
    }

    @Test
    void aVmWhoseRootCannotBeAllocatedLeavesNoThreadRunning() throws InterruptedException
    {
        final VmConfig config = VmConfig.small().withRcuReclaimer(true);
        assertThrows(OutOfTablesException.class, () -> new Vm(config, FaultInjection.failNth(Site.PAGE_TABLE, 1)));
        for (int attempt = 0; rcuThreads() > 0; attempt++)
        {
            assertTrue(attempt < 200, "the RCU reclaimer of the failed VM still runs");
            Thread.sleep(10);
        }
    }

    private static long rcuThreads()
    {
        return Thread.getAllStackTraces().keySet().stream()
            .filter(t -> t.isAlive() && t.getName().equals("tdpmmu-rcu")).count();
    }

    /** The 3rd of 4 host pages fails: the slot is not installed and its 2 pages are given back; a retry backs it. */
    @Test
    void aMemslotWhoseBackingFailsIsNotInstalledAndItsRetrySucceeds()
    {
        try (Vm vm = new Vm(VmConfig.small(), FaultInjection.failNth(Site.HOST_FRAME, 3)))
        {
            assertThrows(ResourceExhaustedException.class, () -> vm.addMemslot(BASE, 4 * 512, Backing.PAGE_2M));
            assertNull(vm.memslots().find(BASE));
            assertEquals(0, vm.memslots().all().length);
            assertEquals(0, vm.host().framesInUse(), "the pages it took were given back");
            final Memslot slot = vm.addMemslot(BASE, 4 * 512, Backing.PAGE_2M);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(BASE + 3 * 512, 5);
            assertEquals(5, vcpu.read(BASE + 3 * 512));
            vcpu.exitGuest();
            assertEquals(4 * 512, vm.host().framesInUse());
            assertTrue(slot.contains(BASE + 3 * 512));
            assertConsistentThenNoLeak(vm);
        }
    }

    /**
     * A migration of 3 host pages whose 2nd target cannot be allocated: the first page moved, the
     * others stay, the invalidation ended, every value is still there, and the migration retried
     * moves them all.
     */
    @Test
    void aMigrationThatRunsOutLeavesEveryPageWholeAndItsRetrySucceeds()
    {
        // Backing takes host pages #1..#8; the migration's targets are #9, #10, #11.
        try (Vm vm = new Vm(VmConfig.small(), FaultInjection.failNth(Site.HOST_FRAME, HUGE + 2)))
        {
            final Memslot slot = populate(vm);
            final Vcpu vcpu = vm.createVcpu();
            final long first = vm.host().resolvePfn(slot, BASE);
            final long second = vm.host().resolvePfn(slot, BASE + 512);
            final long inUse = vm.host().framesInUse();
            assertThrows(ResourceExhaustedException.class, () -> vm.migrate(slot, BASE, 3 * 512));
            assertEquals(inUse, vm.host().framesInUse(), "the moved page's old frames were freed, nothing else taken");
            assertEquals(0, vm.invalidation().inProgress(), "the invalidation ended");
            assertEquals(vm.invalidation().begins(), vm.invalidation().ends());
            assertTrue(first != vm.host().resolvePfn(slot, BASE), "the first page moved");
            assertEquals(second, vm.host().resolvePfn(slot, BASE + 512), "the second stayed");
            assertEquals(List.of(), problems(vm));
            for (long g = BASE; g < BASE + PAGES; g += 512)
            {
                assertEquals(g, vcpu.read(g), "gfn 0x" + Long.toHexString(g));
            }
            assertEquals(3, vm.migrate(slot, BASE, 3 * 512));
            for (long g = BASE; g < BASE + PAGES; g += 512)
            {
                assertEquals(g, vcpu.read(g), "gfn 0x" + Long.toHexString(g) + " after the retry");
            }
            vcpu.exitGuest();
            assertConsistentThenNoLeak(vm);
        }
    }

    /** The check itself: a frozen entry and a pointer to a freed table are both reported. */
    @Test
    void theFrozenAndHalfLinkedCheckFindsBoth()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            vm.addMemslot(0, 4096, Backing.PAGE_4K);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(5, 1);
            vcpu.exitGuest();
            assertEquals(List.of(), SafetyChecks.noFrozenOrDanglingEntry(vm));
            final SafetyChecks.Mapping leaf = SafetyChecks.lookup(vm, 5);
            final long saved = vm.store().xchgSpte(leaf.tablePfn(), leaf.index(), vm.mmu().frozen());
            final List<String> frozen = SafetyChecks.noFrozenOrDanglingEntry(vm);
            assertEquals(1, frozen.size(), frozen.toString());
            assertTrue(frozen.get(0).startsWith("frozen entry left behind: gfn 0x5 level 1"), frozen.get(0));
            vm.store().xchgSpte(leaf.tablePfn(), leaf.index(), saved);
            final long orphan = vm.mmu().allocTable();
            final long rootEntry = vm.store().lvSpte(vm.mmu().rootPfn(), 1);
            assertEquals(vm.mmu().nonPresent(), rootEntry);
            vm.store().soSpte(vm.mmu().rootPfn(), 1, Spte.makeNonLeaf(orphan));
            vm.store().free(orphan);
            final List<String> dangling = SafetyChecks.noFrozenOrDanglingEntry(vm);
            assertEquals(1, dangling.size(), dangling.toString());
            assertTrue(dangling.get(0).startsWith("half-linked table:"), dangling.get(0));
            vm.store().soSpte(vm.mmu().rootPfn(), 1, Spte.NONPRESENT);
            vm.destroy();
        }
    }
}
