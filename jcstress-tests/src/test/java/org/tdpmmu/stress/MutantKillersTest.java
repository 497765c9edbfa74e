package org.tdpmmu.stress;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.EnumSet;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.FutureTask;
import java.util.concurrent.atomic.AtomicInteger;

import static org.tdpmmu.stress.Latches.WAIT_SECONDS;
import static org.tdpmmu.stress.Latches.await;
import static org.tdpmmu.stress.Latches.awaitTrue;
import static org.tdpmmu.stress.Latches.join;
import static org.tdpmmu.stress.Latches.start;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.tdpmmu.core.Backing;
import org.tdpmmu.core.DirtyLogging;
import org.tdpmmu.core.Memslot;
import org.tdpmmu.core.MmuMemoryCache;
import org.tdpmmu.core.Prefault;
import org.tdpmmu.core.SeededBug;
import org.tdpmmu.core.Spte;
import org.tdpmmu.core.TdpIter;
import org.tdpmmu.core.TdpMmu;
import org.tdpmmu.core.TdpMmuAge;
import org.tdpmmu.core.TdpMmuRoots;
import org.tdpmmu.core.TestHook;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;
import org.tdpmmu.stress.Latches.Pause;

/**
 * Forced interleavings that kill the mutants of {@code mutants/} which the README's tests and the
 * jcstress short run let survive (JCSTRESS.md, "Mutants"): each test names the mutant it kills and
 * asserts the kernel property that mutant breaks, on the unmutated core it passes. Bounded waits
 * only; no timing.
 */
@Timeout(value = 30, unit = SECONDS)
class MutantKillersTest
{
    /**
     * Kills 01-fastpf-dirty-before-cmpxchg. A write fault takes the fast path on a page dirty
     * logging write-protected; a KVM_GET_DIRTY_LOG runs while the fast path is about to restore W.
     * Whichever harvest reports the page, the harvest after the fix must leave it write-protected,
     * so that the next write is logged again.
     */
    @Test
    void fastPathLogsThePageOnlyOnceWIsBack() throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(EnumSet.noneOf(SeededBug.class))))
        {
            final Memslot slot = vm.addMemslot(0, 512, Backing.PAGE_4K);
            final DirtyLogging log = new DirtyLogging(vm);
            final Vcpu vcpu = readMappedInLoggedSlot(vm, log, slot);
            log.getDirtyLog(slot, false);

            final Held fault = writeFaultHeldAt(vm, TestHook.Point.FAST_PF_BEFORE_CMPXCHG);
            final long[] during = log.getDirtyLog(slot, false);
            fault.pause().release();
            assertEquals(TdpMmu.RET_PF_FIXED, (int)join(fault.task()));
            final long[] after = log.getDirtyLog(slot, false);
            assertTrue(Probe.dirty(during, 7) || Probe.dirty(after, 7), "the write is in one of the two harvests");
            assertFalse(Spte.isWritable(Probe.entryFor(vm, 7)),
                "the harvest after the fast path left the page writable: " + Spte.describe(Probe.entryFor(vm, 7), 1));
            vcpu.write(7, 5);
            vcpu.exitGuest();
            assertTrue(Probe.dirty(log.getDirtyLog(slot, false), 7), "the next write is logged");
        }
    }

    /**
     * Kills 02-fastpf-no-rcu. The fast path has walked to a last-level table and is about to
     * cmpxchg in it; an atomic zap unlinks that table and the reclaimer runs. The table must not be
     * freed under the lockless walker: its RCU read-side section holds the grace period.
     */
    @Test
    void fastPathWalkHoldsTheGracePeriod() throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(EnumSet.noneOf(SeededBug.class))))
        {
            readMappedInLoggedSlot(vm, new DirtyLogging(vm), vm.addMemslot(0, 512, Backing.PAGE_4K));
            final Held fault = writeFaultHeldAt(vm, TestHook.Point.FAST_PF_BEFORE_CMPXCHG);
            assertEquals(null, Probe.zapAndReclaim(vm, 7, Spte.PG_LEVEL_2M), "the zap and the reclaim ran");
            fault.pause().release();
            assertEquals(TdpMmu.RET_PF_FIXED, (int)join(fault.task()), "the fault retried into the slow path and mapped");
            assertTrue(Probe.mapped(vm, 7));
            assertEquals(0, Probe.leakedAfterDestroy(vm));
        }
    }

    /**
     * Kills 03-prefault-skip-frozen-check. An atomic zap has frozen the leaf of gfn 7 and waits in
     * its flush; KVM_PRE_FAULT_MEMORY of gfn 7 runs meanwhile. It must back off the frozen entry
     * (set_spte_atomic over FROZEN asserts, and the zapper's final store would drop its leaf) and
     * map the page once the zap finished.
     */
    @Test
    void prefaultBacksOffAFrozenEntry() throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(EnumSet.noneOf(SeededBug.class))))
        {
            vm.addMemslot(0, 512, Backing.PAGE_4K);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(7, 1);
            vcpu.exitGuest();

            final CountDownLatch zapReached = new CountDownLatch(1);
            final CountDownLatch zapRelease = new CountDownLatch(1);
            final CountDownLatch zapDone = new CountDownLatch(1);
            final AtomicInteger attempts = new AtomicInteger();
            vm.mmu().setTestHook((point, gfn) ->
            {
                final String thread = Thread.currentThread().getName();
                if (point == TestHook.Point.ZAP_AFTER_FREEZE && thread.equals("zap"))
                {
                    zapReached.countDown();
                    await(zapRelease);
                }
                else if (point == TestHook.Point.FAULT_AFTER_PFN_RESOLVED && thread.equals("prefault") &&
                    attempts.incrementAndGet() == 2)
                {
                    // The first attempt met the frozen entry: let the zap finish before the retry.
                    zapRelease.countDown();
                    await(zapDone);
                }
            });
            final FutureTask<Boolean> zap = start("zap", () ->
            {
                try
                {
                    return Probe.zapAtomic(vm, 7, Spte.PG_LEVEL_4K);
                }
                finally
                {
                    zapDone.countDown();
                }
            });
            await(zapReached);
            final FutureTask<Prefault.Result> prefault = start("prefault", () -> new Prefault(vm).prefault(7L << 12, 8L << 12));
            try
            {
                join(prefault);
            }
            finally
            {
                zapRelease.countDown();
            }
            assertTrue(join(zap));
            assertTrue(attempts.get() >= 2, "the pre-fault retried after meeting the frozen entry");
            assertTrue(Probe.mapped(vm, 7), "pre-fault mapped the page after the zap");
            assertEquals(0, Probe.leakedAfterDestroy(vm));
        }
    }

    /**
     * Kills 04-prefault-skip-invalidation-retry. Pre-fault resolved gfn 7's pfn; the host migrates
     * the page before pre-fault takes the MMU lock. The mmu_notifier sequence check must send it
     * round again: no SPTE may map the freed frame.
     */
    @Test
    void prefaultRetriesAcrossAnInvalidation() throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(EnumSet.noneOf(SeededBug.class))))
        {
            final Memslot slot = vm.addMemslot(0, 1024, Backing.PAGE_4K);
            final Pause stop = new Pause(TestHook.Point.FAULT_AFTER_PFN_RESOLVED, "prefault");
            vm.mmu().setTestHook(stop);
            final FutureTask<Prefault.Result> prefault = start("prefault", () -> new Prefault(vm).prefault(7L << 12, 8L << 12));
            stop.awaitReached();
            vm.migrate(slot, 7, 1);
            stop.release();
            join(prefault);
            assertTrue(Probe.mapped(vm, 7));
            assertFalse(Probe.stalePfn(vm, slot, 7), "pre-fault installed the pfn the migration freed");
        }
    }

    /**
     * Kills 26-prefault-leak-lost-link. Pre-fault of gfn 7 on an empty VM is about to link the first
     * table; a fault of gfn 7 links every table first. Pre-fault's table lost its race and must go
     * back to its cache (which pre-fault frees): nothing leaks.
     */
    @Test
    void prefaultReturnsTheTableOfALostLink() throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(EnumSet.noneOf(SeededBug.class))))
        {
            vm.addMemslot(0, 512, Backing.PAGE_4K);
            final Pause stop = new Pause(TestHook.Point.BEFORE_SET_SPTE, "prefault");
            vm.mmu().setTestHook(stop);
            final FutureTask<Prefault.Result> prefault = start("prefault", () -> new Prefault(vm).prefault(7L << 12, 8L << 12));
            stop.awaitReached();
            assertEquals(TdpMmu.RET_PF_FIXED, vm.mmu().pageFault(new TdpIter(vm.store()), 7, true));
            stop.release();
            join(prefault);
            assertTrue(Probe.mapped(vm, 7));
            assertEquals(0, Probe.leakedAfterDestroy(vm), "a page-table page leaked");
        }
    }

    /**
     * Kills 06-clear-bits-plain-store-under-read-lock. A sweep under the read lock (as
     * clear_dirty_gfn_range) has read gfn 7's leaf and is about to clear its D bit; meanwhile an
     * atomic zap removes the leaf. The clear must not bring the zapped leaf back.
     */
    @Test
    void clearUnderTheReadLockDoesNotResurrectAZappedLeaf() throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(EnumSet.noneOf(SeededBug.class))))
        {
            vm.addMemslot(0, 512, Backing.PAGE_4K);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(7, 1); // W, A and D set: no volatile bit, the case a plain store would take
            vcpu.exitGuest();
            final CountDownLatch read = new CountDownLatch(1);
            final CountDownLatch zapped = new CountDownLatch(1);
            final TdpMmu mmu = vm.mmu();
            final FutureTask<Boolean> sweep = start("sweep", () -> mmu.walkShared(7, 8, Spte.PG_LEVEL_4K, iter ->
            {
                if (iter.level() != Spte.PG_LEVEL_4K || !Spte.isPresent(iter.oldSpte()))
                {
                    return false;
                }
                read.countDown();
                await(zapped);
                return (mmu.clearSpteBits(iter, Spte.DIRTY) & Spte.DIRTY) != 0;
            }));
            await(read);
            assertTrue(Probe.zapAtomic(vm, 7, Spte.PG_LEVEL_4K));
            zapped.countDown();
            join(sweep);
            assertFalse(Probe.mapped(vm, 7), "the clear stored the zapped leaf back: " +
                Spte.describe(Probe.entryFor(vm, 7), Probe.levelFor(vm, 7)));
        }
    }

    /**
     * Kills 10-condresched-no-restart. A sweep under the read lock yields to a waiting writer,
     * which unlinks the last-level table the sweep is in and lets RCU free it (the sweep is
     * outside its read-side section while it yields). The sweep must restart from the root, not
     * read on in the freed table.
     */
    @Test
    void sweepRestartsFromTheRootAfterAYield() throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(EnumSet.noneOf(SeededBug.class))))
        {
            vm.addMemslot(0, 512, Backing.PAGE_4K);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(0, 1);
            vcpu.write(1, 1);
            vcpu.exitGuest();
            final TdpMmu mmu = vm.mmu();
            final CountDownLatch atFirstLeaf = new CountDownLatch(1);
            final CountDownLatch writerQueued = new CountDownLatch(1);
            final FutureTask<Boolean> sweep = start("sweep", () -> mmu.walkShared(0, 512, Spte.PG_LEVEL_4K, iter ->
            {
                if (iter.level() == Spte.PG_LEVEL_4K && iter.gfn() == 0 && atFirstLeaf.getCount() > 0)
                {
                    atFirstLeaf.countDown();
                    await(writerQueued);
                }
                return false;
            }));
            await(atFirstLeaf);
            final FutureTask<Integer> writer = start("writer", () ->
            {
                mmu.lock().writeLock();
                try
                {
                    final TdpIter iter = new TdpIter(vm.store());
                    for (iter.start(mmu.rootPfn(), mmu.rootLevel(), Spte.PG_LEVEL_2M, 0, 1); iter.valid(); iter.next())
                    {
                        if (iter.level() == Spte.PG_LEVEL_2M)
                        {
                            mmu.setSpte(iter, Spte.NONPRESENT); // the last-level table goes to call_rcu
                        }
                    }
                    mmu.flushRemoteTlbs();
                    return vm.rcu().tryReclaim();
                }
                finally
                {
                    mmu.lock().writeUnlock();
                }
            });
            awaitContended(mmu);
            writerQueued.countDown();
            join(sweep);
            assertEquals(1, (int)join(writer), "the writer freed the table while the sweep yielded");
            assertFalse(Probe.mapped(vm, 1));
        }
    }

    /**
     * Kills 11-condresched-drops-pending-flush. A write-protecting sweep clears W of gfn 0, whose
     * writable translation a vCPU holds in its TLB, then yields to a waiting writer. The flush it
     * owed must happen (at the yield, or at the end): the vCPU's next write must go through the
     * MMU, not the stale TLB entry.
     */
    @Test
    void sweepFlushesWhatItProtectedBeforeYielding() throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(EnumSet.noneOf(SeededBug.class))))
        {
            vm.addMemslot(0, 512, Backing.PAGE_4K);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(0, 1); // fills the TLB with a writable entry for gfn 0
            vcpu.exitGuest();
            final TdpMmu mmu = vm.mmu();
            final CountDownLatch protectedOne = new CountDownLatch(1);
            final CountDownLatch writerQueued = new CountDownLatch(1);
            final FutureTask<Boolean> sweep = start("sweep", () -> mmu.walkShared(0, 512, Spte.PG_LEVEL_4K, iter ->
            {
                if (iter.level() == Spte.PG_LEVEL_4K && iter.gfn() == 0 && Spte.isWritable(iter.oldSpte()))
                {
                    final boolean flush = (mmu.clearSpteBits(iter, Spte.WRITABLE) & Spte.WRITABLE) != 0;
                    protectedOne.countDown();
                    await(writerQueued);
                    return flush;
                }
                return false;
            }));
            await(protectedOne);
            final FutureTask<Boolean> writer = start("writer", () ->
            {
                mmu.lock().writeLock();
                mmu.lock().writeUnlock();
                return true;
            });
            awaitContended(mmu);
            writerQueued.countDown();
            if (join(sweep))
            {
                mmu.flushRemoteTlbs();
            }
            join(writer);
            final long exits = mmu.counters().vmExits.sum();
            vcpu.write(0, 2);
            vcpu.exitGuest();
            assertEquals(exits + 1, mmu.counters().vmExits.sum(), "the write after write-protection did not fault");
        }
    }

    /**
     * Kills 12-split-topup-no-restart. Eager splitting of a slot with more 2 MiB pages than its
     * memory cache holds (64 tables) drops the lock to top up; the walk must then restart where it
     * was, so every huge page is split, not every one but the one it stopped at.
     */
    @Test
    void eagerSplitSplitsEveryHugePageAcrossATopUp() throws Exception
    {
        final int huge = 70;
        try (Vm vm = new Vm(StressVm.config(EnumSet.noneOf(SeededBug.class)).withEagerPageSplit(true).withTableCapacity(8 + 2 * huge)
            .withHostFrameLimit(512L * (huge + 1))))
        {
            final Memslot slot = vm.addMemslot(0, 512L * huge, Backing.PAGE_2M);
            final Vcpu vcpu = vm.createVcpu();
            for (int i = 0; i < huge; i++)
            {
                vcpu.write(512L * i, i);
            }
            vcpu.exitGuest();
            for (int i = 0; i < huge; i++)
            {
                assertTrue(Probe.mappedHuge(vm, 512L * i), "region " + i + " is mapped by a 2 MiB leaf before");
            }
            new DirtyLogging(vm).enable(slot, Memslot.LOG_DBIT, true);
            for (int i = 0; i < huge; i++)
            {
                assertEquals(Spte.PG_LEVEL_4K, Probe.levelFor(vm, 512L * i), "region " + i + " was not split");
            }
        }
    }

    /**
     * Kills 14-inv-retry-exclusive-start. A fault resolved gfn 7's pfn; then an invalidation of
     * [7, 9) begins (and zaps). While it is in progress no SPTE may appear in its range, the first
     * gfn included: the fault must retry.
     */
    @Test
    void faultOnTheFirstGfnOfAnInvalidationInProgressRetries() throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(EnumSet.noneOf(SeededBug.class))))
        {
            vm.addMemslot(0, 512, Backing.PAGE_4K);
            final Held fault = writeFaultHeldAt(vm, TestHook.Point.FAULT_AFTER_PFN_RESOLVED);
            vm.mmu().invalidateRangeStart(7, 9);
            fault.pause().release();
            assertEquals(TdpMmu.RET_PF_RETRY, (int)join(fault.task()), "the fault installed inside the invalidation");
            assertFalse(Probe.mapped(vm, 7));
            vm.mmu().invalidateRangeEnd(7, 9);
        }
    }

    /**
     * Kills 22-map-recycle-split-child. Two write faults split the same write-protected 2 MiB leaf;
     * the one that loses the link has filled its table with 512 children. That table must not go
     * back to its memory cache as if empty: the cache's next table, linked for another region,
     * would publish those children as translations nobody made.
     */
    @Test
    void aTableThatLostASplitRaceIsNotReusedAsEmpty() throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(EnumSet.noneOf(SeededBug.class))))
        {
            final Memslot slot = vm.addMemslot(0, 1024, Backing.PAGE_2M);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(0, 1);
            vcpu.exitGuest();
            new DirtyLogging(vm).enable(slot, Memslot.LOG_WRPROT, false);
            final MmuMemoryCache cache = new MmuMemoryCache(vm.store(), vm.mmu().rootLevel());
            final TdpIter iter = new TdpIter(vm.store());
            final Pause stop = new Pause(TestHook.Point.BEFORE_SET_SPTE, "loser");
            vm.mmu().setTestHook(stop);
            final FutureTask<Integer> loser = start("loser", () -> vm.mmu().pageFault(iter, cache, 7, true));
            stop.awaitReached();
            assertEquals(TdpMmu.RET_PF_FIXED, vm.mmu().pageFault(new TdpIter(vm.store()), 7, true));
            stop.release();
            assertEquals(TdpMmu.RET_PF_RETRY, (int)join(loser));
            // The same cache links the next table: for region 1, which nobody has touched.
            assertEquals(TdpMmu.RET_PF_FIXED, vm.mmu().pageFault(iter, cache, 512 + 3, true));
            assertFalse(Probe.mapped(vm, 512 + 9), "region 1 has a translation nobody faulted in: " +
                Spte.describe(Probe.entryFor(vm, 512 + 9), Probe.levelFor(vm, 512 + 9)));
            cache.free();
            assertEquals(0, Probe.leakedAfterDestroy(vm));
        }
    }

    /**
     * Kills 24-harvest-read-then-clear-word. KVM_GET_DIRTY_LOG saw the word holding page 5 set and
     * is about to take it; the page 6 of the same word is marked dirty meanwhile (as the lockless
     * fast path does). The harvest reports what its exchange took: page 6 is in this harvest or,
     * if it came after the exchange, in the next one; never in neither.
     */
    @Test
    void aPageMarkedWhileTheHarvestTakesItsWordIsNotLost() throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(EnumSet.noneOf(SeededBug.class))))
        {
            final Memslot slot = vm.addMemslot(0, 512, Backing.PAGE_4K);
            final DirtyLogging log = new DirtyLogging(vm);
            log.enable(slot, Memslot.LOG_WRPROT, false);
            vm.mmu().markPageDirty(slot, 5);
            final Pause stop = new Pause(TestHook.Point.HARVEST_BEFORE_XCHG, "harvest");
            vm.mmu().setTestHook(stop);
            final FutureTask<long[]> harvest = start("harvest", () -> log.getDirtyLog(slot, false));
            stop.awaitReached();
            vm.mmu().markPageDirty(slot, 6);
            stop.release();
            final long[] first = join(harvest);
            assertTrue(Probe.dirty(first, 5));
            assertTrue(Probe.dirty(first, 6) || Probe.dirty(log.getDirtyLog(slot, false), 6),
                "page 6 was marked dirty and is in no harvest");
        }
    }

    /**
     * Kills 27-fastpf-huge-in-logged-slot. With write-protect logging on (no eager split), a write
     * into a 2 MiB page goes to the slow path, which splits it; the fast path must not make the
     * huge leaf writable again: a later write to another of its pages must be logged too.
     */
    @Test
    void fastPathLeavesAHugeLeafInALoggedSlotToTheSlowPath() throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(EnumSet.noneOf(SeededBug.class))))
        {
            final Memslot slot = vm.addMemslot(0, 512, Backing.PAGE_2M);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(0, 1);
            vcpu.exitGuest();
            final DirtyLogging log = new DirtyLogging(vm);
            log.enable(slot, Memslot.LOG_WRPROT, false);
            vcpu.write(5, 2);
            vcpu.write(9, 3);
            vcpu.exitGuest();
            final long[] bitmap = log.getDirtyLog(slot, false);
            assertTrue(Probe.dirty(bitmap, 5));
            assertTrue(Probe.dirty(bitmap, 9), "a write after enable went through a writable huge leaf unlogged");
        }
    }

    /**
     * Kills 20-vcpu-ad-plain-store. A vCPU's walk read a writable leaf without D (the fast path had
     * just restored W) and is about to set D; meanwhile KVM_GET_DIRTY_LOG takes the page and
     * write-protects the leaf. Setting D must not bring W back (hardware sets A/D with a locked
     * read-modify-write): the write that follows is logged in the next harvest.
     */
    @Test
    void settingDirtyDoesNotUndoAWriteProtection() throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(EnumSet.noneOf(SeededBug.class))))
        {
            final Memslot slot = vm.addMemslot(0, 512, Backing.PAGE_4K);
            final DirtyLogging log = new DirtyLogging(vm);
            log.enable(slot, Memslot.LOG_WRPROT, false);
            final Pause stop = new Pause(TestHook.Point.WALK_BEFORE_AD_SET, "vcpu");
            vm.mmu().setTestHook(stop);
            final FutureTask<Void> guest = start("vcpu", () ->
            {
                final Vcpu vcpu = vm.createVcpu();
                try
                {
                    vcpu.read(7); // MMU-writable, not writable: the write below takes the fast path
                    vcpu.write(7, 2);
                }
                finally
                {
                    vcpu.exitGuest();
                }
                return null;
            });
            stop.awaitReached();
            final FutureTask<long[]> harvest = start("harvest", () -> log.getDirtyLog(slot, false));
            final long deadline = System.nanoTime() + SECONDS.toNanos(WAIT_SECONDS);
            while (Spte.isWritable(Probe.entryFor(vm, 7)))
            {
                if (System.nanoTime() > deadline)
                {
                    fail("the harvest did not write-protect gfn 7 within " + WAIT_SECONDS + " s");
                }
                Thread.onSpinWait();
            }
            stop.release(); // the harvest now waits in its flush for this vCPU
            join(guest);
            assertTrue(Probe.dirty(join(harvest), 7), "the fast path's mark");
            assertTrue(Probe.dirty(log.getDirtyLog(slot, false), 7),
                "the write made after the harvest took the page is in no later harvest");
        }
    }

    /**
     * Kills 23-enable-no-wait-old-mode. A fault read the slot's mode under the MMU lock while
     * logging was off and is about to install a writable 2 MiB leaf; dirty logging is enabled
     * meanwhile. Enable must wait out that fault before write-protecting (its sweep shares the read
     * lock with the fault): no writable huge leaf may be left in the logged slot.
     */
    @Test
    void enableWaitsForAFaultThatReadTheOldMode() throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(EnumSet.noneOf(SeededBug.class))))
        {
            final Memslot slot = vm.addMemslot(0, 1024, Backing.PAGE_2M);
            assertEquals(TdpMmu.RET_PF_FIXED, vm.mmu().pageFault(new TdpIter(vm.store()), 512, true)); // the tables above
            final Held fault = writeFaultHeldAt(vm, TestHook.Point.BEFORE_SET_SPTE);
            final DirtyLogging log = new DirtyLogging(vm);
            final FutureTask<Boolean> enable = start("enable", () ->
            {
                log.enable(slot, Memslot.LOG_WRPROT, false);
                return true;
            });
            // Enable either waits for the lock the fault holds, or (not waiting) finishes.
            final long deadline = System.nanoTime() + SECONDS.toNanos(WAIT_SECONDS);
            while (!enable.isDone() && !vm.mmu().lock().isContended())
            {
                if (System.nanoTime() > deadline)
                {
                    fail("enable neither finished nor queued on the MMU lock within " + WAIT_SECONDS + " s");
                }
                Thread.onSpinWait();
            }
            fault.pause().release();
            assertEquals(TdpMmu.RET_PF_FIXED, (int)join(fault.task()));
            assertTrue(join(enable));
            final long entry = Probe.entryFor(vm, 7);
            assertFalse(Probe.levelFor(vm, 7) > Spte.PG_LEVEL_4K && Spte.isWritable(entry),
                "a writable huge leaf in the logged slot: " + Spte.describe(entry, Probe.levelFor(vm, 7)));
        }
    }

    /**
     * Kills 28-root-load-no-recheck. After a fast invalidation no root is valid; two vCPUs load at
     * once (6.9+: mmu_lock for read). The first found no valid root and is about to take the pages
     * lock when the second loads and allocates. The first must find that root under the pages lock
     * and share it: one valid root, one allocation (kvm_tdp_mmu_alloc_root's re-check).
     */
    @Test
    void twoVcpusLoadingAtOnceShareOneNewRoot() throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(EnumSet.noneOf(SeededBug.class))))
        {
            assertFalse(vm.mmu().roots().allocUnderWriteLock(), "the 6.9+ load, under the read lock");
            vm.addMemslot(0, 512, Backing.PAGE_4K);
            vm.mmu().zapAllFast();
            assertFalse(vm.mmu().hasValidRoot());
            final long allocsBefore = vm.counters().rootAllocs.sum();
            final Pause pause = new Pause(TestHook.Point.ROOT_LOAD_BEFORE_ALLOC, "first");
            vm.mmu().setTestHook(pause);
            final FutureTask<TdpMmuRoots.Root> first = start("first", () -> vm.mmu().roots().load());
            pause.awaitReached();
            final TdpMmuRoots.Root second = join(start("second", () -> vm.mmu().roots().load()));
            pause.release();
            final TdpMmuRoots.Root root = join(first);
            try
            {
                assertSame(second, root, "the first load allocated a second valid root: " + vm.mmu().roots().snapshot());
                assertEquals(1, vm.counters().rootAllocs.sum() - allocsBefore, "one allocation for both loads");
            }
            finally
            {
                vm.mmu().roots().unload(root);
                vm.mmu().roots().unload(second);
            }
        }
    }

    /**
     * Kills 30-age-track-retries-cmpxchg. EPT without A/D bits, lockless aging (6.15): the ager has
     * read a young 2 MiB leaf and is about to access-track it with its one cmpxchg when enabling
     * write-protect logging splits the leaf eagerly and links a table there. The ager's cmpxchg
     * fails and it must leave the entry alone (never retried): the table keeps its permissions,
     * and a write to a page under it completes and is logged.
     */
    @Test
    void accessTrackingLeavesAnEntryThatChangedUnderIt() throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(EnumSet.noneOf(SeededBug.class)).withLocklessAging(true)
            .withEptAdBits(false)))
        {
            final Memslot slot = vm.addMemslot(0, 512, Backing.PAGE_2M);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.read(7);
            vcpu.exitGuest();
            assertTrue(Probe.mappedHuge(vm, 7));
            final DirtyLogging log = new DirtyLogging(vm);
            final TdpMmuAge age = new TdpMmuAge(vm);
            final Pause split = new Pause(TestHook.Point.SPLIT_AT_ENTRY, "enable");
            final Pause ageing = new Pause(TestHook.Point.AGE_BEFORE_CLEAR, "age");
            vm.mmu().setTestHook(Latches.both(split, ageing));
            // The enable waits for RCU readers before it splits: the ager starts once the split
            // walk runs, and is released once the split has linked its table.
            final FutureTask<Boolean> enable = start("enable", () ->
            {
                log.enable(slot, Memslot.LOG_WRPROT, true);
                return true;
            });
            split.awaitReached();
            final FutureTask<Boolean> ager = start("age", () -> age.clearYoung(new TdpIter(vm.store()), 0, 512));
            ageing.awaitReached();
            split.release();
            final long deadline = System.nanoTime() + SECONDS.toNanos(WAIT_SECONDS);
            long table;
            while (!Spte.isPresentTable(table = entryAt2M(vm, 7), Spte.PG_LEVEL_2M))
            {
                if (System.nanoTime() > deadline)
                {
                    fail("the eager split linked no table within " + WAIT_SECONDS + " s: " +
                        Spte.describe(table, Spte.PG_LEVEL_2M));
                }
                Thread.onSpinWait();
            }
            ageing.release();
            assertTrue(join(ager), "the 2 MiB leaf was young");
            assertTrue(join(enable));
            assertEquals(Spte.describe(table, Spte.PG_LEVEL_2M), Spte.describe(entryAt2M(vm, 7), Spte.PG_LEVEL_2M),
                "the ager changed the table the split linked");
            assertEquals(null, Probe.guestWrite(vcpu, 7, 2));
            assertTrue(Probe.dirty(log.getDirtyLog(slot, false), 7), "the write after enable is logged");
            // At least one: the walk goes on into the split's table, whose leaves the enable is
            // write-protecting meanwhile.
            assertTrue(vm.counters().ageCmpxchgLost.sum() >= 1, "the ager's cmpxchg on the 2 MiB entry failed");
        }
    }

    /** The 2 MiB-level entry over {@code gfn} (a leaf or a table), read inside an RCU section. */
    private static long entryAt2M(final Vm vm, final long gfn)
    {
        final TdpIter it = new TdpIter(vm.store());
        vm.mmu().rcu().readLock();
        try
        {
            for (it.start(vm.mmu().rootPfn(), vm.mmu().rootLevel(), Spte.PG_LEVEL_2M, gfn, gfn + 1); it.valid(); it.next())
            {
                if (it.level() == Spte.PG_LEVEL_2M)
                {
                    return it.oldSpte();
                }
            }
            return fail("no 2 MiB-level entry over gfn " + gfn);
        }
        finally
        {
            vm.mmu().rcu().readUnlock();
        }
    }

    /** A write fault of gfn 7 on the thread "fault", stopped at {@code point} until its pause is released. */
    private record Held(Pause pause, FutureTask<Integer> task)
    {
    }

    private static Held writeFaultHeldAt(final Vm vm, final TestHook.Point point)
    {
        final Pause pause = new Pause(point, "fault");
        vm.mmu().setTestHook(pause);
        final FutureTask<Integer> task = start("fault", () -> vm.mmu().pageFault(new TdpIter(vm.store()), 7, true));
        pause.awaitReached();
        return new Held(pause, task);
    }

    /**
     * Kills 21-map-huge-over-table-no-flush, since the hardware walk holds no RCU section
     * (2026-12-03). A vCPU's walk has read the 2 MiB entry that points to a last-level table and is
     * about to read the table when another vCPU's fault installs a huge leaf over it (dirty logging
     * was disabled without recovery: the fault's goal level is 2 MiB again). handle_removed_pt
     * queues the table's free; the fault must flush, and that flush waits for the walking vCPU,
     * before the fault leaves its RCU section. So however reclaim runs meanwhile, the table is
     * still there when the walk reads it. Without the flush the fault's section ends at once, a
     * reclaim frees the table, and the walk reads a freed page (kernel: the paging-structure
     * caches and an in-flight walk are why kvm_tdp_mmu_map flushes when a leaf replaces a table).
     */
    @Test
    void aTableAHugeLeafReplacedOutlivesAWalkInsideIt() throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(EnumSet.noneOf(SeededBug.class))))
        {
            final Memslot slot = vm.addMemslot(0, 512, Backing.PAGE_2M);
            final DirtyLogging log = new DirtyLogging(vm);
            log.enable(slot, Memslot.LOG_WRPROT, false);
            final Vcpu faulter = vm.createVcpu();
            faulter.read(0);
            faulter.exitGuest();
            log.disable(slot, Probe.NO_RECOVERY);
            assertEquals(Spte.PG_LEVEL_4K, Probe.levelFor(vm, 0), "gfn 0 mapped 4 KiB, in a last-level table");
            final Vcpu walker = vm.createVcpu();
            // The walk's step into the last-level table is its (rootLevel - 1)th child read.
            final int stepsToTable = vm.mmu().rootLevel() - 1;
            final AtomicInteger steps = new AtomicInteger();
            final CountDownLatch atTable = new CountDownLatch(1);
            final CountDownLatch go = new CountDownLatch(1);
            vm.mmu().setTestHook((point, gfn) ->
            {
                if (point == TestHook.Point.WALK_BEFORE_CHILD_READ && Thread.currentThread().getName().equals("walker")
                    && steps.incrementAndGet() == stepsToTable)
                {
                    atTable.countDown();
                    await(go);
                }
            });
            final FutureTask<Long> walk = start("walker", () -> readAndExit(walker, 0));
            await(atTable);
            final long requestsBefore = vm.requests().requests();
            final FutureTask<Long> fault = start("faulter", () -> readAndExit(faulter, 1));
            // Until the fault has replaced the table: it is then either done or flushing.
            awaitTrue("the fault finished or flushed", () -> fault.isDone() || vm.requests().requests() != requestsBefore);
            vm.rcu().tryReclaim();
            go.countDown();
            join(walk);
            join(fault);
            assertTrue(Probe.mappedHuge(vm, 0), "the fault installed the huge leaf over the table");
        }
    }

    /** One guest read by the calling thread's vCPU, then out of the guest (a flush never waits on it after). */
    private static long readAndExit(final Vcpu vcpu, final long gfn)
    {
        try
        {
            return vcpu.read(gfn);
        }
        finally
        {
            vcpu.exitGuest();
        }
    }

    /** Turns write-protect logging on and read-maps gfn 7: MMU-writable, not writable, so its first write takes the fast path. */
    private static Vcpu readMappedInLoggedSlot(final Vm vm, final DirtyLogging log, final Memslot slot)
    {
        log.enable(slot, Memslot.LOG_WRPROT, false);
        final Vcpu vcpu = vm.createVcpu();
        vcpu.read(7);
        vcpu.exitGuest();
        return vcpu;
    }

    /** Waits (bounded) until a thread is queued on the MMU lock. */
    private static void awaitContended(final TdpMmu mmu)
    {
        final long deadline = System.nanoTime() + SECONDS.toNanos(WAIT_SECONDS);
        while (!mmu.lock().isContended())
        {
            if (System.nanoTime() > deadline)
            {
                fail("no thread queued on the MMU lock within " + WAIT_SECONDS + " s");
            }
            Thread.onSpinWait();
        }
    }
}
