package org.tdpmmu.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;

/** Memslot bookkeeping: what is refused (and how it is named), lookups, and the largest mapping level. */
class MemslotsTest
{
    private static final long LIMIT_4 = 1L << 36;

    @Test
    void overlappingEmptyAndOutOfRangeSlotsAreRefusedNamingTheSlot()
    {
        final Memslots slots = new Memslots(LIMIT_4);
        final Memslot a = slots.add(0x1000, 0x200, Backing.PAGE_4K);

        IllegalArgumentException ex = assertThrows(IllegalArgumentException.class,
            () -> slots.add(0x11ff, 1, Backing.PAGE_4K));
        assertTrue(ex.getMessage().contains("[gfn 0x11ff, 0x1200)") && ex.getMessage().contains("overlaps " + a),
            ex.getMessage());
        ex = assertThrows(IllegalArgumentException.class, () -> slots.add(0x800, 0x2000, Backing.PAGE_2M));
        assertTrue(ex.getMessage().contains("overlaps memslot 0 [gfn 0x1000, 0x1200)"), ex.getMessage());

        ex = assertThrows(IllegalArgumentException.class, () -> slots.add(0x5000, 0, Backing.PAGE_4K));
        assertTrue(ex.getMessage().contains("gfn 0x5000") && ex.getMessage().contains("empty"), ex.getMessage());
        ex = assertThrows(IllegalArgumentException.class, () -> slots.add(0x5000, -3, Backing.PAGE_4K));
        assertTrue(ex.getMessage().contains("npages=-3"), ex.getMessage());

        ex = assertThrows(IllegalArgumentException.class, () -> slots.add(LIMIT_4 - 10, 11, Backing.PAGE_4K));
        assertTrue(ex.getMessage().contains("gfn 0x" + Long.toHexString(LIMIT_4 - 10)) &&
            ex.getMessage().contains("outside"), ex.getMessage());
        ex = assertThrows(IllegalArgumentException.class, () -> slots.add(-1, 1, Backing.PAGE_4K));
        assertTrue(ex.getMessage().contains("outside"), ex.getMessage());
        assertThrows(IllegalArgumentException.class, () -> slots.add(0, Long.MAX_VALUE, Backing.PAGE_4K));

        // Nothing refused was added; touching neighbours are fine; the last page of the range too.
        assertEquals(1, slots.all().length);
        final Memslot below = slots.add(0xe00, 0x200, Backing.PAGE_4K);
        final Memslot above = slots.add(0x1200, 0x10, Backing.PAGE_4K);
        final Memslot last = slots.add(LIMIT_4 - 1, 1, Backing.PAGE_4K);
        assertArrayEquals(new Memslot[] {below, a, above, last}, slots.all(), "sorted by gfn");
        assertEquals(List.of(0, 1, 2, 3), List.of(a.id(), below.id(), above.id(), last.id()));
    }

    /** KVM_MEM_MAX_NR_PAGES: the largest slot KVM accepts, and nothing larger, at the top of a 5-level space. */
    @Test
    void slotsStopAtKvmMemMaxNrPages()
    {
        final Memslots slots = new Memslots(1L << 45);
        final IllegalArgumentException ex = assertThrows(IllegalArgumentException.class,
            () -> slots.add(0, Memslot.MAX_PAGES + 1, Backing.PAGE_4K));
        assertTrue(ex.getMessage().contains("more than KVM_MEM_MAX_NR_PAGES (2147483647)"), ex.getMessage());
        // 64 TiB in one slot: once "capacity < 0" from the dirty bitmap's int byte count
        assertThrows(IllegalArgumentException.class, () -> slots.add(0, 1L << 34, Backing.PAGE_1G));
        assertEquals(0, slots.all().length);
        assertEquals((1L << 28) + 64, DirtyBitmap.reservedBytes(Memslot.MAX_PAGES), "2^25 words, no int overflow");
    }

    @Test
    void vmAddMemslotRefusesTooAndBacksNothingThen()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            vm.addMemslot(0x100000, 512, Backing.PAGE_2M);
            final long frames = vm.host().framesInUse();
            final IllegalArgumentException ex = assertThrows(IllegalArgumentException.class,
                () -> vm.addMemslot(0x1001ff, 2, Backing.PAGE_4K));
            assertTrue(ex.getMessage().contains("overlaps memslot 0"), ex.getMessage());
            assertEquals(frames, vm.host().framesInUse());
            assertThrows(IllegalArgumentException.class, () -> vm.addMemslot(1L << 36, 1, Backing.PAGE_4K),
                "past a 4-level root");
        }
        try (Vm vm5 = new Vm(VmConfig.small().withRootLevel(5)))
        {
            assertEquals(1L << 45, vm5.memslots().gfnLimit());
            vm5.addMemslot(1L << 36, 16, Backing.PAGE_4K);
        }
    }

    @Test
    void findAndById()
    {
        final Memslots slots = new Memslots(LIMIT_4);
        final Memslot a = slots.add(0x2000, 0x100, Backing.PAGE_4K);
        final Memslot b = slots.add(0x1000, 0x100, Backing.PAGE_4K);
        assertSame(a, slots.find(0x2000));
        assertSame(a, slots.find(0x20ff));
        assertNull(slots.find(0x2100));
        assertNull(slots.find(0x1fff));
        assertSame(b, slots.find(0x1000));
        assertNull(slots.find(0));
        assertSame(b, slots.byId(1));
        final IllegalArgumentException ex = assertThrows(IllegalArgumentException.class, () -> slots.byId(7));
        assertTrue(ex.getMessage().contains("7"));
        assertEquals("memslot 0 [gfn 0x2000, 0x2100) PAGE_4K", a.toString());
        assertTrue(a.contains(0x2000) && !a.contains(0x2100) && !a.contains(0x1fff));
        assertEquals(0x2100, a.endGfn());
    }

    /** A 2M-backed slot not aligned to 2 MiB: 4K head and tail, 2M in the middle. */
    @Test
    void maxMappingLevelOfAnUnalignedTwoMegabyteSlot()
    {
        final Memslots slots = new Memslots(LIMIT_4);
        final long base = 0x100000 + 5;
        final long npages = 3 * 512 + 100; // [base, 0x100600 + 105)
        final Memslot s = slots.add(base, npages, Backing.PAGE_2M);
        for (long g = base; g < s.endGfn(); g++)
        {
            final long off = g - 0x100000;
            final int want = off < 512 || off >= 3 * 512 ? Spte.PG_LEVEL_4K : Spte.PG_LEVEL_2M;
            assertEquals(want, s.maxMappingLevel(g), "gfn 0x" + Long.toHexString(g));
        }
        s.setLogMode(Memslot.LOG_WRPROT);
        assertEquals(Spte.PG_LEVEL_4K, s.maxMappingLevel(0x100200), "4K while logging");
        assertEquals(Spte.PG_LEVEL_2M, s.maxLevelIgnoringLog(0x100200));
        s.setLogMode(Memslot.LOG_OFF);
        assertEquals(Spte.PG_LEVEL_2M, s.maxMappingLevel(0x100200));
    }

    /** A 1G-backed slot that starts 3 4K pages before a 2 MiB boundary, 3 2 MiB pages before 1 GiB. */
    @Test
    void maxMappingLevelOfAnUnalignedOneGigabyteSlot()
    {
        final Memslots slots = new Memslots(LIMIT_4);
        final long giga = 0x40000;
        final long base = giga - 3 * 512 - 3;
        final long end = 2 * giga + 2 * 512 + 9;
        final Memslot s = slots.add(base, end - base, Backing.PAGE_1G);
        assertEquals(Spte.PG_LEVEL_4K, s.maxMappingLevel(base));
        assertEquals(Spte.PG_LEVEL_4K, s.maxMappingLevel(base + 2));
        assertEquals(Spte.PG_LEVEL_2M, s.maxMappingLevel(base + 3));
        assertEquals(Spte.PG_LEVEL_2M, s.maxMappingLevel(giga - 1));
        assertEquals(Spte.PG_LEVEL_1G, s.maxMappingLevel(giga));
        assertEquals(Spte.PG_LEVEL_1G, s.maxMappingLevel(2 * giga - 1));
        assertEquals(Spte.PG_LEVEL_2M, s.maxMappingLevel(2 * giga));
        assertEquals(Spte.PG_LEVEL_2M, s.maxMappingLevel(2 * giga + 2 * 512 - 1));
        assertEquals(Spte.PG_LEVEL_4K, s.maxMappingLevel(2 * giga + 2 * 512));
        assertEquals(Spte.PG_LEVEL_4K, s.maxMappingLevel(end - 1));
        // A 1G-backed slot smaller than 2 MiB maps 4K only.
        final Memslot tiny = slots.add(0x100000, 100, Backing.PAGE_1G);
        assertEquals(Spte.PG_LEVEL_4K, tiny.maxMappingLevel(0x100000));
    }

    /** Faults map exactly at the level the slot allows: checked through the SPTEs they install. */
    @Test
    void faultsMapAtTheLevelTheSlotAllows()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            final long base = 0x100000 + 5;
            final Memslot s = vm.addMemslot(base, 3 * 512 + 100, Backing.PAGE_2M);
            final Vcpu vcpu = vm.createVcpu();
            for (long g = base; g < s.endGfn(); g++)
            {
                vcpu.write(g, g);
            }
            vcpu.exitGuest();
            assertEquals(507 + 2 + 105, vcpu.faults(), "one per 4K head/tail page, one per 2 MiB page");
            assertEquals(Spte.PG_LEVEL_4K, SafetyChecks.lookup(vm, base).level());
            assertEquals(Spte.PG_LEVEL_2M, SafetyChecks.lookup(vm, 0x100200).level());
            assertEquals(Spte.PG_LEVEL_2M, SafetyChecks.lookup(vm, 0x1005ff).level());
            assertEquals(Spte.PG_LEVEL_4K, SafetyChecks.lookup(vm, 0x100600).level());
            assertNull(SafetyChecks.lookup(vm, base - 1));
            assertNull(SafetyChecks.lookup(vm, s.endGfn()));
            SafetyChecksTest.assertClean(SafetyChecks.structure(vm));
            for (long g = base; g < s.endGfn(); g++)
            {
                assertEquals(g, vm.host().contentOf(s, g));
            }
        }
    }
}
