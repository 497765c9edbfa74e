package org.tdpmmu.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * KVM_GET_DIRTY_LOG into the caller's buffer ({@link DirtyLogging#getDirtyLog(Memslot, boolean, long[])}):
 * the same bits and the same re-protection as the allocating form, every bitmap word written
 * whatever the buffer held, and a short buffer refused before anything changes.
 */
class DirtyLoggingTest
{
    private static final long BASE = 0x100000;
    /** 1000 pages: 16 bitmap words, the last one partly used. */
    private static final long PAGES = 1000;
    private static final long STALE = 0x5a5a5a5a5a5a5a5aL;

    private record Logged(Vm vm, Memslot slot, Vcpu vcpu, DirtyLogging log)
    {
    }

    /**
     * A 4 KiB slot of {@code pages} at {@code base}, every page mapped, logging in {@code mode} on,
     * then every {@code step}-th page written (dirty) and the vCPU out of the guest.
     */
    private static Logged logged(final long base, final long pages, final int mode, final long step)
    {
        final Vm vm = new Vm(VmConfig.small());
        final Memslot slot = vm.addMemslot(base, pages, Backing.PAGE_4K);
        final Vcpu vcpu = vm.createVcpu();
        writePages(vcpu, base, base + pages, 1, 0);
        final DirtyLogging log = new DirtyLogging(vm);
        log.enable(slot, mode, false);
        writePages(vcpu, base, base + pages, step, 1);
        vcpu.exitGuest();
        return new Logged(vm, slot, vcpu, log);
    }

    /** Every page mapped, logging by write protection on, pages {@code 3k} written (dirty) since. */
    private static Logged everyThirdPageDirty()
    {
        return logged(BASE, PAGES, Memslot.LOG_WRPROT, 3);
    }

    /** Writes gfn + add to every {@code step}-th page of [from, to) through {@code vcpu}. */
    private static void writePages(final Vcpu vcpu, final long from, final long to, final long step, final long add)
    {
        for (long g = from; g < to; g += step)
        {
            vcpu.write(g, g + add);
        }
    }

    private static long[] everyThirdPage()
    {
        final long[] bits = new long[16];
        for (long p = 0; p < PAGES; p += 3)
        {
            bits[(int)(p >>> 6)] |= 1L << (p & 63);
        }
        return bits;
    }

    @Test
    void manualProtectCopiesTheBitmapIntoTheBufferAndChangesNothing()
    {
        final Logged l = everyThirdPageDirty();
        try (Vm vm = l.vm())
        {
            final long[] out = new long[18];
            Arrays.fill(out, STALE);
            assertSame(out, l.log().getDirtyLog(l.slot(), true, out));
            assertArrayEquals(everyThirdPage(), Arrays.copyOf(out, 16));
            assertEquals(STALE, out[16], "words past the bitmap are untouched");
            assertEquals(STALE, out[17]);
            assertArrayEquals(everyThirdPage(), l.log().getDirtyLog(l.slot(), true), "the allocating form agrees");
            assertEquals(334, l.slot().dirtyBitmap().cardinality(), "manual protect clears nothing");
            assertFalse(Spte.isWritable(SafetyChecks.lookup(vm, BASE + 1).spte()));
            assertTrue(Spte.isWritable(SafetyChecks.lookup(vm, BASE + 3).spte()), "and re-protects nothing");
        }
    }

    @Test
    void harvestIntoTheBufferReprotectsAndZeroesTheCleanWords()
    {
        final Logged l = everyThirdPageDirty();
        try (Vm vm = l.vm())
        {
            final long[] out = new long[16];
            Arrays.fill(out, STALE);
            final long wrprotBefore = vm.counters().wrprot.sum();
            l.log().getDirtyLog(l.slot(), false, out);
            assertArrayEquals(everyThirdPage(), out);
            assertEquals(334, vm.counters().wrprot.sum() - wrprotBefore, "one W cleared per dirty page");
            assertEquals(0, l.slot().dirtyBitmap().cardinality(), "the harvest took every bit");
            for (long g = BASE; g < BASE + PAGES; g++)
            {
                assertFalse(Spte.isWritable(SafetyChecks.lookup(vm, g).spte()), "gfn 0x" + Long.toHexString(g));
            }
            // Nothing written since: a second harvest into the same (now stale) buffer is all zero.
            l.log().getDirtyLog(l.slot(), false, out);
            assertArrayEquals(new long[16], out);
            // One page written again: only its word has a bit.
            l.vcpu().write(BASE + 700, 1);
            l.vcpu().exitGuest();
            l.log().getDirtyLog(l.slot(), false, out);
            final long[] expected = new long[16];
            expected[700 >>> 6] = 1L << (700 & 63);
            assertArrayEquals(expected, out);
        }
    }

    /**
     * KVM_CLEAR_DIRTY_LOG after KVM_DIRTY_LOG_INITIALLY_SET: nothing was protected at enable, so the
     * clear write-protects each huge leaf under the cleared pages once (counted once, not per word)
     * and clears every bit it was given.
     */
    /** A 1024-page slot on 2 MiB backing, both huge pages mapped writable by one vCPU's writes. */
    private static Memslot twoHugePagesMapped(final Vm vm)
    {
        final Memslot slot = vm.addMemslot(BASE, 1024, Backing.PAGE_2M);
        final Vcpu vcpu = vm.createVcpu();
        vcpu.write(BASE, 1);
        vcpu.write(BASE + 512, 2);
        vcpu.exitGuest();
        return slot;
    }

    @Test
    void clearAfterInitiallySetWriteProtectsEachHugeLeafOnce()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            final Memslot slot = twoHugePagesMapped(vm);
            final Vcpu vcpu = vm.vcpus().get(0);
            final DirtyLogging log = new DirtyLogging(vm);
            log.enable(slot, Memslot.LOG_WRPROT, false, true);
            assertTrue(Spte.isWritable(SafetyChecks.lookup(vm, BASE).spte()), "nothing protected at enable");
            final long wrprotBefore = vm.counters().wrprot.sum();
            final long[] all = new long[16];
            Arrays.fill(all, -1L);
            assertEquals(1024, log.clearDirtyLog(slot, 0, all));
            assertEquals(2, vm.counters().wrprot.sum() - wrprotBefore, "two huge leaves, each protected once");
            for (final long g : new long[] {BASE, BASE + 511, BASE + 512, BASE + 1023})
            {
                final SafetyChecks.Mapping m = SafetyChecks.lookup(vm, g);
                assertEquals(Spte.PG_LEVEL_2M, m.level());
                assertFalse(Spte.isWritable(m.spte()), "gfn 0x" + Long.toHexString(g));
            }
            assertEquals(0, slot.dirtyBitmap().cardinality());
        }
    }

    /**
     * Initially-set with eager splitting (the kernel test's default flow on a host with
     * eager_page_split=Y): nothing at enable; the clear splits the huge pages under its range first,
     * so in D-bit mode the next pass writes writable 4 KiB leaves and takes no fault.
     */
    @Test
    void clearAfterInitiallySetWithEagerSplitSplitsOnlyItsRangeFirst()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            final Memslot slot = twoHugePagesMapped(vm);
            final Vcpu vcpu = vm.vcpus().get(0);
            final DirtyLogging log = new DirtyLogging(vm);
            log.enable(slot, Memslot.LOG_DBIT, true, true);
            assertEquals(0, vm.counters().splits.sum(), "nothing split at enable with initially-set");
            final long[] firstHalf = new long[8];
            Arrays.fill(firstHalf, -1L);
            assertEquals(512, log.clearDirtyLog(slot, 0, firstHalf));
            assertEquals(1, vm.counters().splits.sum(), "only the huge page under the cleared range");
            assertEquals(Spte.PG_LEVEL_4K, SafetyChecks.lookup(vm, BASE + 7).level());
            assertEquals(Spte.PG_LEVEL_2M, SafetyChecks.lookup(vm, BASE + 512).level());
            final long faults = vm.counters().faultFast.sum() + vm.counters().faultInstalled.sum();
            for (long g = BASE; g < BASE + 512; g++)
            {
                vcpu.write(g, 3);
            }
            vcpu.exitGuest();
            assertEquals(faults, vm.counters().faultFast.sum() + vm.counters().faultInstalled.sum(),
                "D-bit logging on split, writable leaves: the pass takes no fault");
            final long[] got = log.getDirtyLog(slot, true);
            for (int w = 0; w < 8; w++)
            {
                assertEquals(-1L, got[w], "every written page reported, word " + w);
            }
        }
    }

    /**
     * D-bit logging: KVM_CLEAR_DIRTY_LOG clears D on the pages written since the last get (their
     * bits still set under manual protect) and counts one D cleared per page.
     */
    @Test
    void clearInDbitModeClearsAndCountsEachDirtyLeaf()
    {
        final Logged l = logged(BASE, PAGES, Memslot.LOG_DBIT, 3);
        try (Vm vm = l.vm())
        {
            final Memslot slot = l.slot();
            final Vcpu vcpu = l.vcpu();
            final DirtyLogging log = l.log();
            final long[] got = log.getDirtyLog(slot, true, new long[16]);
            assertArrayEquals(everyThirdPage(), got, "the D bits moved into the bitmap");
            // written again after the get: D set again on 0, 3, ..., 63 (22 pages)
            writePages(vcpu, BASE, BASE + 64, 3, 2);
            vcpu.exitGuest();
            final long dbitBefore = vm.counters().dbitCleared.sum();
            final long wrprotBefore = vm.counters().wrprot.sum();
            assertEquals(334, log.clearDirtyLog(slot, 0, got));
            assertEquals(22, vm.counters().dbitCleared.sum() - dbitBefore, "one D cleared per page written again");
            assertEquals(0, vm.counters().wrprot.sum() - wrprotBefore, "D-bit logging takes no W");
            for (long g = BASE; g < BASE + PAGES; g++)
            {
                final long spte = SafetyChecks.lookup(vm, g).spte();
                assertFalse(Spte.isDirty(spte), "gfn 0x" + Long.toHexString(g));
                assertTrue(Spte.isWritable(spte));
            }
        }
    }

    @ParameterizedTest(name = "manualProtect={0}")
    @ValueSource(booleans = {true, false})
    void aShortBufferIsRefusedNamingBothSizesBeforeAnythingChanges(final boolean manualProtect)
    {
        final Logged l = everyThirdPageDirty();
        try (Vm vm = l.vm())
        {
            final long[] out = new long[15];
            final IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> l.log().getDirtyLog(l.slot(), manualProtect, out));
            assertTrue(e.getMessage().contains("15 words") && e.getMessage().contains("has 16"), e.getMessage());
            assertEquals(334, l.slot().dirtyBitmap().cardinality(), "no bit taken");
            assertTrue(Spte.isWritable(SafetyChecks.lookup(vm, BASE).spte()), "no page re-protected");
            assertArrayEquals(new long[15], out);
        }
    }

    /**
     * Masked clears go straight to the leaf table the previous word's walk found when the next
     * word lies in it (one walk per 2 MiB, not per 64 pages). On a slot whose words straddle leaf
     * tables, with full, partial and empty words, exactly the pages given are protected and counted.
     */
    @Test
    void clearProtectsExactlyTheGivenPagesWhereWordsStraddleLeafTables()
    {
        final long base = BASE + 40; // leaf tables start at pages 472, 984, 1496: words 7, 15, 23 straddle
        final int pages = 1500;
        final Logged l = logged(base, pages, Memslot.LOG_WRPROT, 1); // every page dirty and writable again
        try (Vm vm = l.vm())
        {
            final Memslot slot = l.slot();
            final DirtyLogging log = l.log();
            final long[] masks = new long[24];
            for (int w = 0; w < masks.length; w++)
            {
                masks[w] = w % 3 == 0 ? -1L : w % 3 == 1 ? 0x00FF_F0F0_0000_FFFFL : 0;
            }
            masks[23] = 0x0F00_0000_0F0F_0001L; // the last word: 28 pages, the mask reaching past them
            long expected = 0;
            for (int p = 0; p < pages; p++)
            {
                expected += masks[p >>> 6] >>> (p & 63) & 1;
            }
            final long wrprotBefore = vm.counters().wrprot.sum();
            assertEquals(expected, log.clearDirtyLog(slot, 0, masks));
            assertEquals(expected, vm.counters().wrprot.sum() - wrprotBefore, "one W cleared per page given");
            for (int p = 0; p < pages; p++)
            {
                final boolean given = (masks[p >>> 6] >>> (p & 63) & 1) != 0;
                assertEquals(!given, Spte.isWritable(SafetyChecks.lookup(vm, base + p).spte()), "page " + p);
            }
            assertEquals(pages - expected, slot.dirtyBitmap().cardinality(), "the pages not given stay dirty");
        }
    }

    /**
     * The leaf table one write-lock hold found is not trusted by the next: between two harvests
     * the slot's table is zapped and freed, and its page is reused for another slot's table. The
     * second harvest must walk again and protect the page written, not the other slot's.
     */
    @Test
    void aLeafTableFoundByOneHarvestIsNotReusedByTheNext()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            final Memslot slot = vm.addMemslot(BASE, 512, Backing.PAGE_2M);
            final Memslot other = vm.addMemslot(BASE + 0x10000, 512 * 8, Backing.PAGE_4K);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(BASE, 1);
            vcpu.exitGuest();
            final DirtyLogging log = new DirtyLogging(vm);
            log.enable(slot, Memslot.LOG_WRPROT, true);
            vcpu.write(BASE + 5, 2);
            vcpu.exitGuest();
            final long[] out = new long[8];
            log.getDirtyLog(slot, false, out);
            assertEquals(1L << 5, out[0]);
            final long table = SafetyChecks.lookup(vm, BASE + 5).tablePfn();
            log.disable(slot, RecoveryStrategy.ZAP_HUGE.recovery());
            vm.mmu().rcu().barrier();
            assertFalse(vm.store().isLive(table), "the split table was freed");
            for (long g = other.baseGfn(); g < other.endGfn(); g += 512)
            {
                vcpu.write(g + 5, g); // new leaf tables, one of them on the freed page
            }
            vcpu.exitGuest();
            assertTrue(vm.store().isLive(table), "the freed page holds another slot's table now");
            log.enable(slot, Memslot.LOG_WRPROT, true);
            vcpu.write(BASE + 5, 3);
            vcpu.exitGuest();
            log.getDirtyLog(slot, false, out);
            assertEquals(1L << 5, out[0]);
            assertFalse(Spte.isWritable(SafetyChecks.lookup(vm, BASE + 5).spte()), "the page written is protected");
            for (long g = other.baseGfn(); g < other.endGfn(); g += 512)
            {
                assertTrue(Spte.isWritable(SafetyChecks.lookup(vm, g + 5).spte()), "gfn 0x" + Long.toHexString(g + 5));
            }
        }
    }
}
