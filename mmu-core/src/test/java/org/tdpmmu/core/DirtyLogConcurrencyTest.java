package org.tdpmmu.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * vCPU threads keep writing while dirty logging is on, a harvester takes the log several times
 * (alternating KVM_GET_DIRTY_LOG with and without manual protect), another thread migrates host
 * pages; then logging is disabled with each recovery strategy while vCPUs still run. No dirty page
 * is missed (property 2), no write is lost (1), no translation is stale or too large (5, 6), and
 * nothing leaks (4).
 */
class DirtyLogConcurrencyTest
{
    private static final long BASE = 0x100000;
    private static final long HUGE_PAGES = 8;
    /** 8 aligned 2 MiB pages and a 4K tail that can never be mapped huge. */
    private static final long PAGES = HUGE_PAGES * 512 + 77;
    private static final int WRITERS = 3;
    private static final int WRITES_PER_WRITER = 4000;
    private static final int HARVESTS = 8;
    private static final int MAX_MIGRATIONS = 200;

    static Stream<Arguments> cases()
    {
        final List<Arguments> out = new ArrayList<>();
        for (final int mode : new int[] {Memslot.LOG_WRPROT, Memslot.LOG_DBIT})
        {
            for (final boolean eager : new boolean[] {false, true})
            {
                for (final RecoveryStrategy s : RecoveryStrategy.values())
                {
                    out.add(Arguments.of(mode == Memslot.LOG_WRPROT ? "LOG_WRPROT" : "LOG_DBIT", mode, eager, s));
                }
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} eagerSplit={2} {3}")
    @MethodSource("cases")
    void noMissedDirtyPageNoLostWriteNoLeak(final String modeName, final int mode, final boolean eager,
        final RecoveryStrategy strategy)
    {
        final long seed = mode * 100 + (eager ? 10 : 0) + strategy.ordinal();
        try (Vm vm = new Vm(VmConfig.small()))
        {
            final Memslot slot = vm.addMemslot(BASE, PAGES, Backing.PAGE_2M);
            final SafetyChecks.LostWriteTracker lost = new SafetyChecks.LostWriteTracker(slot);
            final SafetyChecks.DirtyLogTracker dirty = new SafetyChecks.DirtyLogTracker(slot);
            final DirtyLogging log = new DirtyLogging(vm);

            final Vcpu populate = vm.createVcpu();
            for (long g = slot.baseGfn(); g < slot.endGfn(); g++)
            {
                populate.write(g, g);
                lost.wrote(g, g);
            }
            populate.exitGuest();
            assertEquals(HUGE_PAGES, countHugeLeaves(vm, slot), "populated with 2 MiB leaves");

            log.enable(slot, mode, eager);
            SafetyChecksTest.assertClean(SafetyChecks.noOversizedMapping(vm), "enable left no writable huge leaf");
            if (eager)
            {
                assertEquals(0, countHugeLeaves(vm, slot), "eager split at enable");
            }

            // Phase 1: writers, a migrator, and the harvester (this thread).
            final Vcpu[] writers = new Vcpu[WRITERS];
            for (int i = 0; i < WRITERS; i++)
            {
                writers[i] = vm.createVcpu();
            }
            final AtomicLong writesDone = new AtomicLong();
            final AtomicInteger writersLeft = new AtomicInteger(WRITERS);
            final Runnable[] tasks = new Runnable[WRITERS + 2];
            for (int i = 0; i < WRITERS; i++)
            {
                final int t = i;
                tasks[i] = () ->
                {
                    final SplittableRandom rnd = new SplittableRandom(seed * 7 + t);
                    final Vcpu vcpu = writers[t];
                    try
                    {
                        for (int n = 0; n < WRITES_PER_WRITER; n++)
                        {
                            final long gfn = ownedGfn(slot, rnd, t);
                            final long value = ((long)(t + 1) << 40) | n;
                            dirty.beginWrite(gfn);
                            vcpu.write(gfn, value);
                            dirty.endWrite(gfn);
                            lost.wrote(gfn, value);
                            writesDone.incrementAndGet();
                            if ((n & 3) == 0)
                            {
                                vcpu.read(slot.baseGfn() + rnd.nextLong(PAGES));
                            }
                        }
                    }
                    finally
                    {
                        vcpu.exitGuest();
                        writersLeft.decrementAndGet();
                    }
                };
            }
            tasks[WRITERS] = () ->
            {
                final SplittableRandom rnd = new SplittableRandom(seed * 13);
                // Bounded: at least 5, at most MAX_MIGRATIONS, no more once the writers are done.
                for (int i = 0; i < MAX_MIGRATIONS && (i < 5 || writersLeft.get() > 0); i++)
                {
                    final long start = slot.baseGfn() + rnd.nextLong(PAGES);
                    final long count = 1 + rnd.nextLong(Math.min(600, slot.endGfn() - start));
                    vm.migrate(slot, start, count);
                }
            };
            final AtomicLong reported = new AtomicLong();
            tasks[WRITERS + 1] = () ->
            {
                final long total = (long)WRITERS * WRITES_PER_WRITER;
                for (int h = 0; h < HARVESTS; h++)
                {
                    // Spread the harvests over the writers' progress (bounded by it, not by time).
                    final long target = total * (h + 1) / (HARVESTS + 1);
                    while (writesDone.get() < target && writersLeft.get() > 0)
                    {
                        Thread.yield();
                    }
                    reported.addAndGet(harvest(log, slot, dirty, (h & 1) == 1));
                    vm.rcu().tryReclaim();
                }
            };
            ConcurrentFaultTest.runThreads("dirty-" + modeName, tasks);

            // Touch one page of every 2 MiB region so each has a 4K leaf, then the final harvest,
            // which begins after every write has finished: every write must be reported by now.
            final Vcpu toucher = vm.createVcpu();
            for (long g = slot.baseGfn() + 3; g < slot.endGfn(); g += 512)
            {
                dirty.beginWrite(g);
                toucher.write(g, -g);
                dirty.endWrite(g);
                lost.wrote(g, -g);
            }
            toucher.exitGuest();
            reported.addAndGet(harvest(log, slot, dirty, false));
            SafetyChecksTest.assertClean(dirty.check(vm), "no missed dirty page");
            SafetyChecksTest.assertClean(dirty.extra(), "no extra dirty page");
            assertEquals(HARVESTS + 1, dirty.harvests());
            assertTrue(reported.get() >= HUGE_PAGES + 1, "harvests reported pages: " + reported.get());
            SafetyChecksTest.assertClean(lost.check(vm));
            SafetyChecksTest.assertClean(SafetyChecks.structure(vm));
            assertEquals(0, countWritableHugeLeaves(vm, slot));

            // Phase 2: disable with the strategy while two vCPUs keep reading and writing.
            final Vcpu[] late = {vm.createVcpu(), vm.createVcpu()};
            final AtomicBoolean disabled = new AtomicBoolean();
            final Runnable[] phase2 = new Runnable[4];
            for (int i = 0; i < 2; i++)
            {
                final int t = i;
                phase2[i] = () ->
                {
                    final SplittableRandom rnd = new SplittableRandom(seed * 5 + t);
                    try
                    {
                        for (int n = 0; n < 800; n++)
                        {
                            final long gfn = ownedGfn(slot, rnd, t);
                            if (rnd.nextBoolean())
                            {
                                final long value = ((long)(t + 9) << 40) | n;
                                late[t].write(gfn, value);
                                lost.wrote(gfn, value);
                            }
                            else
                            {
                                final long v = late[t].read(gfn);
                                if (v != lost.expected(gfn))
                                {
                                    throw new AssertionError("read 0x" + Long.toHexString(v) + " from gfn 0x" +
                                        Long.toHexString(gfn) + ", last written 0x" +
                                        Long.toHexString(lost.expected(gfn)));
                                }
                            }
                        }
                    }
                    finally
                    {
                        late[t].exitGuest();
                    }
                };
            }
            phase2[2] = () ->
            {
                log.disable(slot, strategy.recovery());
                disabled.set(true);
            };
            phase2[3] = () ->
            {
                // Host migrations race the recovery (bounded: 3 to 40, none once disable returned).
                final SplittableRandom rnd = new SplittableRandom(seed * 29);
                for (int i = 0; i < 40 && (i < 3 || !disabled.get()); i++)
                {
                    final long start = slot.baseGfn() + rnd.nextLong(PAGES);
                    vm.migrate(slot, start, 1 + rnd.nextLong(Math.min(600, slot.endGfn() - start)));
                }
            };
            ConcurrentFaultTest.runThreads("disable-" + strategy, phase2);
            assertTrue(disabled.get());

            SafetyChecksTest.assertClean(lost.check(vm));
            SafetyChecksTest.assertClean(SafetyChecks.structure(vm));
            final Vcpu reader = vm.createVcpu();
            for (long g = slot.baseGfn(); g < slot.endGfn(); g++)
            {
                assertEquals(lost.expected(g), reader.read(g), "gfn 0x" + Long.toHexString(g));
            }
            reader.exitGuest();
            assertEquals(HUGE_PAGES, countHugeLeaves(vm, slot), "every aligned 2 MiB region is huge again");
            SafetyChecksTest.assertClean(SafetyChecks.structure(vm));

            vm.destroy();
            SafetyChecksTest.assertClean(SafetyChecks.noLeak(vm));
        }
    }

    /** A gfn that writer {@code t} of {@link #WRITERS} (or of 2 in phase 2) owns: page % 3 == t. */
    private static long ownedGfn(final Memslot slot, final SplittableRandom rnd, final int t)
    {
        final long page = rnd.nextLong(PAGES / WRITERS) * WRITERS + t;
        return slot.baseGfn() + page;
    }

    /** One harvest: plain get (which re-protects), or manual get + clear of what it returned. */
    static long harvest(final DirtyLogging log, final Memslot slot, final SafetyChecks.DirtyLogTracker dirty,
        final boolean manual)
    {
        dirty.beginHarvest();
        final long[] bitmap = log.getDirtyLog(slot, manual);
        if (manual)
        {
            log.clearDirtyLog(slot, 0, bitmap);
        }
        return dirty.endHarvest(bitmap);
    }

    static long countHugeLeaves(final Vm vm, final Memslot slot)
    {
        long n = 0;
        for (long g = Spte.roundGfn(slot.baseGfn(), 2); g < slot.endGfn(); g += 512)
        {
            final SafetyChecks.Mapping m = SafetyChecks.lookup(vm, Math.max(g, slot.baseGfn()));
            if (m != null && m.level() > Spte.PG_LEVEL_4K)
            {
                n++;
            }
        }
        return n;
    }

    static long countWritableHugeLeaves(final Vm vm, final Memslot slot)
    {
        long n = 0;
        for (long g = Spte.roundGfn(slot.baseGfn(), 2); g < slot.endGfn(); g += 512)
        {
            final SafetyChecks.Mapping m = SafetyChecks.lookup(vm, Math.max(g, slot.baseGfn()));
            if (m != null && m.level() > Spte.PG_LEVEL_4K && Spte.isWritable(m.spte()))
            {
                n++;
            }
        }
        return n;
    }

    /**
     * Logging is enabled while a fault is between its pfn lookup and taking the MMU lock (run at the
     * FAULT_AFTER_PFN_RESOLVED pause point, on the faulting thread). The fault must not install the
     * 2 MiB mapping it would have chosen before logging was on: that huge writable leaf would let
     * every later write to its other 511 pages go unlogged.
     */
    @ParameterizedTest
    @EnumSource(LogModeName.class)
    void enableRacingAFaultLeavesNoHugeWritableLeafAndMissesNoPage(final LogModeName modeName)
    {
        final int mode = modeName.mode;
        try (Vm vm = new Vm(VmConfig.small()))
        {
            final Memslot slot = vm.addMemslot(BASE, 512, Backing.PAGE_2M);
            final DirtyLogging log = new DirtyLogging(vm);
            final AtomicBoolean once = new AtomicBoolean(true);
            vm.mmu().setTestHook((point, gfn) ->
            {
                if (point == TestHook.Point.FAULT_AFTER_PFN_RESOLVED && once.compareAndSet(true, false))
                {
                    log.enable(slot, mode, false);
                }
            });
            final Vcpu vcpu = vm.createVcpu();
            final SafetyChecks.DirtyLogTracker dirty = new SafetyChecks.DirtyLogTracker(slot);
            // Tracked too: this write races the enable, so a harvest may report it (property 7).
            dirty.beginWrite(BASE);
            vcpu.write(BASE, 1);
            dirty.endWrite(BASE);
            assertTrue(slot.dirtyLogging());
            for (long g = BASE + 1; g < BASE + 8; g++)
            {
                dirty.beginWrite(g);
                vcpu.write(g, g);
                dirty.endWrite(g);
            }
            vcpu.exitGuest();
            SafetyChecksTest.assertClean(SafetyChecks.noOversizedMapping(vm));
            harvest(log, slot, dirty, false);
            SafetyChecksTest.assertClean(dirty.check(vm));
            SafetyChecksTest.assertClean(dirty.extra(), "no extra dirty page");
        }
    }

    /**
     * The other half of the same race: the fault already holds the MMU read lock and chose 2 MiB
     * (logging was off) when enable runs on another thread. Enable must not write-protect the slot
     * until that fault has installed its leaf (kernel: the memslot update waits for SRCU readers
     * before kvm_mmu_slot_apply_flags); otherwise the writable 2 MiB leaf lands after the walk.
     */
    @ParameterizedTest
    @EnumSource(LogModeName.class)
    void enableWaitsForAFaultThatHoldsTheReadLock(final LogModeName modeName) throws InterruptedException
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            final Memslot slot = vm.addMemslot(BASE, 2 * 512, Backing.PAGE_2M);
            final DirtyLogging log = new DirtyLogging(vm);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.read(BASE); // the tables above the second 2 MiB page exist: its fault sets one SPTE
            final AtomicBoolean once = new AtomicBoolean(true);
            final Thread enabler = new Thread(() -> log.enable(slot, modeName.mode, false), "enabler");
            vm.mmu().setTestHook((point, gfn) ->
            {
                if (point == TestHook.Point.BEFORE_SET_SPTE && Thread.currentThread() != enabler &&
                    once.compareAndSet(true, false))
                {
                    // About to install the 2 MiB leaf, read lock held: enable now, and go on once
                    // enable has finished or is queued behind our read lock.
                    enabler.start();
                    while (enabler.isAlive() && !vm.lock().isContended())
                    {
                        Thread.yield();
                    }
                }
            });
            final SafetyChecks.DirtyLogTracker dirty = new SafetyChecks.DirtyLogTracker(slot);
            // Tracked: the write races the enable, so a harvest may report it (property 7).
            dirty.beginWrite(BASE + 512);
            vcpu.write(BASE + 512, 1);
            dirty.endWrite(BASE + 512);
            vcpu.exitGuest(); // enable's flush must not wait for this thread while it joins
            assertTrue(!once.get());
            enabler.join(30_000);
            assertTrue(!enabler.isAlive() && slot.dirtyLogging());
            for (long g = BASE + 513; g < BASE + 520; g++)
            {
                dirty.beginWrite(g);
                vcpu.write(g, g);
                dirty.endWrite(g);
            }
            vcpu.exitGuest();
            SafetyChecksTest.assertClean(SafetyChecks.noOversizedMapping(vm));
            harvest(log, slot, dirty, false);
            SafetyChecksTest.assertClean(dirty.check(vm), "missed dirty pages");
            SafetyChecksTest.assertClean(dirty.extra(), "no extra dirty page");
        }
    }

    /** The two dirty-log modes by name, for {@link EnumSource}. */
    enum LogModeName
    {
        LOG_WRPROT(Memslot.LOG_WRPROT),
        LOG_DBIT(Memslot.LOG_DBIT);

        final int mode;

        LogModeName(final int mode)
        {
            this.mode = mode;
        }
    }

    /** A harvest in manual-protect mode reports pages only once cleared; writes after the clear are reported again. */
    @Test
    void manualProtectWritesBetweenGetAndClearAreCoveredByTheClear()
    {
        for (final int mode : new int[] {Memslot.LOG_WRPROT, Memslot.LOG_DBIT})
        {
            try (Vm vm = new Vm(VmConfig.small()))
            {
                final Memslot slot = vm.addMemslot(BASE, 512, Backing.PAGE_4K);
                final DirtyLogging log = new DirtyLogging(vm);
                final Vcpu vcpu = vm.createVcpu();
                log.enable(slot, mode, false);
                vcpu.write(BASE + 1, 1);
                final long[] got = log.getDirtyLog(slot, true);
                assertEquals(1L << 1, got[0]);
                assertEquals(1L << 1, log.getDirtyLog(slot, true)[0], "manual get does not clear");
                assertEquals(1, log.clearDirtyLog(slot, 0, got));
                vcpu.write(BASE + 1, 2);
                assertEquals(1L << 1, log.getDirtyLog(slot, false)[0], "the write after the clear is logged again");
                assertEquals(0, log.getDirtyLog(slot, false)[0]);
                vcpu.exitGuest();
            }
        }
    }
}
