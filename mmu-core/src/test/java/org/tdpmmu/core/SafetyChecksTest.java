package org.tdpmmu.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.Test;

/**
 * Each checker passes on a correct VM and fails on a hand-built violation of its property (an
 * SPTE written through the store, a table nobody links, a value nobody wrote) or on a seeded bug.
 */
class SafetyChecksTest
{
    static final long BASE_2M = 0x100000;
    static final long BASE_4K = 0x200000;

    private static Vm newVm()
    {
        return new Vm(VmConfig.small());
    }

    /** Writes a leaf by hand over the one mapping {@code gfn} (single-threaded tests only). */
    static void overwriteLeaf(final Vm vm, final long gfn, final long spte)
    {
        final SafetyChecks.Mapping m = SafetyChecks.lookup(vm, gfn);
        assertNotNull(m, "gfn 0x" + Long.toHexString(gfn) + " is mapped");
        vm.store().soSpte(m.tablePfn(), m.index(), spte);
    }

    /** Fails with the count and the first five violations (a broken run can have thousands). */
    static void assertClean(final List<String> violations)
    {
        assertClean(violations, "violations");
    }

    static void assertClean(final List<String> violations, final String what)
    {
        if (!violations.isEmpty())
        {
            final StringBuilder sb = new StringBuilder(what + ": " + violations.size() + ", the first:");
            violations.stream().limit(5).forEach(v -> sb.append("\n  ").append(v));
            throw new AssertionError(sb.toString());
        }
    }

    static void assertOneViolation(final List<String> violations, final String... fragments)
    {
        assertEquals(1, violations.size(), () -> "one violation expected: " + violations);
        for (final String f : fragments)
        {
            assertTrue(violations.get(0).contains(f), () -> "\"" + f + "\" missing from: " + violations.get(0));
        }
    }

    @Test
    void aCorrectlyPopulatedVmPassesEveryCheck()
    {
        try (Vm vm = newVm())
        {
            final Memslot huge = vm.addMemslot(BASE_2M, 4 * 512, Backing.PAGE_2M);
            final Memslot small = vm.addMemslot(BASE_4K, 300, Backing.PAGE_4K);
            final Vcpu vcpu = vm.createVcpu();
            final SafetyChecks.LostWriteTracker lost = new SafetyChecks.LostWriteTracker(huge, small);
            for (final Memslot s : new Memslot[] {huge, small})
            {
                for (long g = s.baseGfn(); g < s.endGfn(); g++)
                {
                    vcpu.write(g, g ^ 0x5555);
                    lost.wrote(g, g ^ 0x5555);
                }
            }
            vcpu.exitGuest();
            assertEquals(4 * 512 + 300, lost.writtenPages());
            assertClean(SafetyChecks.noStaleTranslation(vm));
            assertClean(SafetyChecks.noOversizedMapping(vm));
            assertClean(lost.check(vm));
            final SafetyChecks.Mapping m = SafetyChecks.lookup(vm, BASE_2M + 7);
            assertEquals(Spte.PG_LEVEL_2M, m.level());
            assertEquals(vm.host().resolvePfn(huge, BASE_2M + 7), m.pfn());
            assertEquals(Spte.PG_LEVEL_4K, SafetyChecks.lookup(vm, BASE_4K + 7).level());
            assertNull(SafetyChecks.lookup(vm, BASE_4K + 300));
            // root, one L3 table for both slots, an L2 table per slot, one L1 table for the 300 4K pages
            assertEquals(1 + 1 + 2 + 1, SafetyChecks.reachableTables(vm));
            assertEquals(vm.store().liveCount(), SafetyChecks.reachableTables(vm) + vcpu.memoryCache().size(),
                "every live table is linked or in the vCPU's memory cache");
            assertThrows(IllegalStateException.class, () -> SafetyChecks.noLeak(vm), "noLeak before destroy");
            vm.destroy();
            assertClean(SafetyChecks.noLeak(vm));
            assertThrows(IllegalStateException.class, () -> SafetyChecks.noStaleTranslation(vm));
        }
    }

    @Test
    void noStaleTranslationCatchesALeafMappingTheWrongLiveFrame()
    {
        try (Vm vm = newVm())
        {
            final Memslot small = vm.addMemslot(BASE_4K, 64, Backing.PAGE_4K);
            final Memslot huge = vm.addMemslot(BASE_2M, 2 * 512, Backing.PAGE_2M);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(BASE_4K + 3, 1);
            vcpu.write(BASE_2M, 2);
            vcpu.exitGuest();
            assertClean(SafetyChecks.noStaleTranslation(vm));

            final long other = vm.host().resolvePfn(small, BASE_4K + 9);
            final long wrong = Spte.makeLeaf(other, Spte.PG_LEVEL_4K, Spte.LEAF_WRITABLE | Spte.LEAF_ACCESSED);
            overwriteLeaf(vm, BASE_4K + 3, wrong);
            assertOneViolation(SafetyChecks.noStaleTranslation(vm), "property 5", "gfn 0x200003", "level 1",
                Spte.describe(wrong, 1), "host pfn 0x" + Long.toHexString(vm.host().resolvePfn(small, BASE_4K + 3)));

            // The same for a 2 MiB leaf moved onto the next host huge page.
            overwriteLeaf(vm, BASE_4K + 3, Spte.NONPRESENT);
            final long nextBlock = vm.host().resolvePfn(huge, BASE_2M + 512);
            final long wrongHuge = Spte.makeLeaf(nextBlock, Spte.PG_LEVEL_2M, Spte.LEAF_WRITABLE);
            overwriteLeaf(vm, BASE_2M, wrongHuge);
            assertOneViolation(SafetyChecks.noStaleTranslation(vm), "gfn 0x100000", "level 2",
                Spte.describe(wrongHuge, 2));
            assertClean(SafetyChecks.noOversizedMapping(vm), "the sizes are still right");
        }
    }

    @Test
    void noStaleTranslationCatchesALeafToAFrameMigrationFreed()
    {
        try (Vm vm = newVm())
        {
            final Memslot slot = vm.addMemslot(BASE_2M, 512, Backing.PAGE_2M);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(BASE_2M + 5, 77);
            vcpu.exitGuest();
            final SafetyChecks.Mapping before = SafetyChecks.lookup(vm, BASE_2M + 5);
            assertEquals(1, vm.migrate(slot, BASE_2M + 5, 1));
            assertNull(SafetyChecks.lookup(vm, BASE_2M + 5), "migration zapped the leaf");
            assertClean(SafetyChecks.noStaleTranslation(vm));
            // Put the old leaf back by hand: a translation that outlived its invalidation.
            vm.store().soSpte(before.tablePfn(), before.index(), before.spte());
            final List<String> v = SafetyChecks.noStaleTranslation(vm);
            assertOneViolation(v, "property 5", "level 2", Spte.describe(before.spte(), 2), "freed (dead)");
            assertThrows(StaleTranslationException.class, () -> vcpu.read(BASE_2M + 5),
                "a vCPU using the leaf touches the dead frame");
        }
    }

    @Test
    void noOversizedMappingCatchesLeavesOutsideSlotsTooLargeOrWritableWhileLogged()
    {
        try (Vm vm = newVm())
        {
            final Memslot small = vm.addMemslot(BASE_4K, 1024, Backing.PAGE_4K);
            final Memslot huge = vm.addMemslot(BASE_2M, 2 * 512, Backing.PAGE_2M);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(BASE_4K, 1);
            vcpu.write(BASE_2M, 2);
            vcpu.exitGuest();
            assertClean(SafetyChecks.noOversizedMapping(vm));

            // A 2 MiB leaf in the 4K slot's L2 table, at gfn BASE_4K + 0x400: past the slot's end.
            final SafetyChecks.Mapping m = SafetyChecks.lookup(vm, BASE_4K);
            assertEquals(1, m.level());
            final long table2 = tableAt(vm, BASE_4K, Spte.PG_LEVEL_2M);
            final long outside = Spte.makeLeaf(0x2400, Spte.PG_LEVEL_2M, Spte.LEAF_WRITABLE);
            vm.store().soSpte(table2, Spte.index(BASE_4K + 0x400, 2), outside);
            assertOneViolation(SafetyChecks.noOversizedMapping(vm), "property 6", "gfn 0x200400", "level 2",
                Spte.describe(outside, 2), "in no memslot");
            vm.store().soSpte(table2, Spte.index(BASE_4K + 0x400, 2), Spte.NONPRESENT);

            // A 2 MiB leaf inside the 4K-backed slot.
            final long tooLarge = Spte.makeLeaf(0x2200, Spte.PG_LEVEL_2M, Spte.LEAF_WRITABLE);
            vm.store().soSpte(table2, Spte.index(BASE_4K + 0x200, 2), tooLarge);
            assertOneViolation(SafetyChecks.noOversizedMapping(vm), "gfn 0x200200", "level 2",
                Spte.describe(tooLarge, 2), "larger than level 1");
            vm.store().soSpte(table2, Spte.index(BASE_4K + 0x200, 2), Spte.NONPRESENT);
            assertClean(SafetyChecks.noOversizedMapping(vm));

            // Logging on without eager split: the huge leaf stays, write-protected: allowed.
            final DirtyLogging log = new DirtyLogging(vm);
            log.enable(huge, Memslot.LOG_WRPROT, false);
            final SafetyChecks.Mapping hugeLeaf = SafetyChecks.lookup(vm, BASE_2M);
            assertEquals(2, hugeLeaf.level());
            assertTrue(Spte.isMmuWritable(hugeLeaf.spte()) && !Spte.isWritable(hugeLeaf.spte()));
            assertClean(SafetyChecks.noOversizedMapping(vm));
            // ... but a writable one is not.
            final long writable = hugeLeaf.spte() | Spte.WRITABLE;
            overwriteLeaf(vm, BASE_2M, writable);
            assertOneViolation(SafetyChecks.noOversizedMapping(vm), "gfn 0x100000", "level 2",
                Spte.describe(writable, 2), "writable huge page in dirty-logged");
            assertEquals(small, vm.memslots().find(BASE_4K));
        }
    }

    /**
     * KVM_DIRTY_LOG_INITIALLY_SET: enable protects nothing, every bit starts set, so a writable huge
     * leaf is fine until a clear takes one of its bits (and write-protects it).
     */
    @Test
    void aWritableHugeLeafIsAllowedWhileAllItsPagesAreStillMarkedDirty()
    {
        try (Vm vm = newVm())
        {
            final Memslot huge = vm.addMemslot(BASE_2M, 512, Backing.PAGE_2M);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(BASE_2M, 1);
            vcpu.exitGuest();
            final DirtyLogging log = new DirtyLogging(vm);
            log.enable(huge, Memslot.LOG_WRPROT, false, true);
            final SafetyChecks.Mapping leaf = SafetyChecks.lookup(vm, BASE_2M);
            assertTrue(leaf.level() == 2 && Spte.isWritable(leaf.spte()), leaf.toString());
            assertClean(SafetyChecks.noOversizedMapping(vm));
            assertEquals(1, log.clearDirtyLog(huge, 0, new long[] {1L}));
            assertTrue(!Spte.isWritable(SafetyChecks.lookup(vm, BASE_2M).spte()), "the clear write-protected it");
            assertClean(SafetyChecks.noOversizedMapping(vm));
            overwriteLeaf(vm, BASE_2M, leaf.spte());
            assertOneViolation(SafetyChecks.noOversizedMapping(vm), "gfn 0x100000", "writable huge page");
        }
    }

    private static long tableAt(final Vm vm, final long gfn, final int level)
    {
        long table = vm.mmu().rootPfn();
        for (int l = vm.mmu().rootLevel(); l > level; l--)
        {
            final long spte = vm.store().lvSpte(table, Spte.index(gfn, l));
            assertTrue(Spte.isPresentTable(spte, l), "table above level " + level);
            table = Spte.pfn(spte);
        }
        return table;
    }

    @Test
    void noLeakNamesATableNobodyFreed()
    {
        final Vm vm = newVm();
        vm.addMemslot(BASE_2M, 512, Backing.PAGE_2M);
        final Vcpu vcpu = vm.createVcpu();
        vcpu.write(BASE_2M, 1);
        vcpu.exitGuest();
        final long orphan = vm.mmu().allocTable();
        vm.destroy();
        final List<String> v = SafetyChecks.noLeak(vm);
        assertOneViolation(v, "property 4", "1 page-table page(s) still live", "pfn 0x" + Long.toHexString(orphan),
            "(0 present entries)");
        vm.store().free(orphan);
        assertClean(SafetyChecks.noLeak(vm));
        vm.close();
    }

    @Test
    void noLeakCatchesATableUnlinkedByHandWithoutHandleRemovedPt()
    {
        final Vm vm = newVm();
        vm.addMemslot(BASE_4K, 16, Backing.PAGE_4K);
        final Vcpu vcpu = vm.createVcpu();
        vcpu.write(BASE_4K, 1);
        vcpu.exitGuest();
        // Cut the L1 table out of its parent without tearing it down.
        final long l2 = tableAt(vm, BASE_4K, Spte.PG_LEVEL_2M);
        final long l1Entry = vm.store().lvSpte(l2, Spte.index(BASE_4K, 2));
        vm.store().soSpte(l2, Spte.index(BASE_4K, 2), Spte.NONPRESENT);
        vm.destroy();
        assertOneViolation(SafetyChecks.noLeak(vm), "1 page-table page(s)",
            "pfn 0x" + Long.toHexString(Spte.pfn(l1Entry)), "(1 present entries)");
    }

    @Test
    void lostWriteTrackerCatchesAWriteThatWentToTheWrongFrame()
    {
        try (Vm vm = newVm())
        {
            final Memslot slot = vm.addMemslot(BASE_4K, 64, Backing.PAGE_4K);
            final Vcpu vcpu = vm.createVcpu();
            final SafetyChecks.LostWriteTracker lost = new SafetyChecks.LostWriteTracker(slot);
            vcpu.write(BASE_4K + 1, 10);
            lost.wrote(BASE_4K + 1, 10);
            vcpu.write(BASE_4K + 2, 20);
            lost.wrote(BASE_4K + 2, 20);
            assertClean(lost.check(vm));
            assertEquals(10, lost.expected(BASE_4K + 1));
            assertThrows(IllegalStateException.class, () -> lost.expected(BASE_4K + 3));

            // gfn 1's leaf now points at gfn 2's frame: the next write to gfn 1 lands there.
            final long wrong = Spte.makeLeaf(vm.host().resolvePfn(slot, BASE_4K + 2), 1,
                Spte.LEAF_WRITABLE | Spte.LEAF_ACCESSED | Spte.LEAF_DIRTY);
            overwriteLeaf(vm, BASE_4K + 1, wrong);
            vcpu.flushTlb();
            vcpu.write(BASE_4K + 1, 11);
            lost.wrote(BASE_4K + 1, 11);
            vcpu.exitGuest();
            final List<String> v = lost.check(vm);
            assertEquals(2, v.size(), v::toString);
            assertTrue(v.get(0).contains("property 1") && v.get(0).contains("gfn 0x200001") &&
                v.get(0).contains("holds 0xa") && v.get(0).contains("last write was 0xb") &&
                v.get(0).contains(Spte.describe(wrong, 1)), v.get(0));
            assertTrue(v.get(1).contains("gfn 0x200002") && v.get(1).contains("holds 0xb") &&
                v.get(1).contains("last write was 0x14"), v.get(1));
            assertThrows(IllegalArgumentException.class, () -> lost.wrote(BASE_4K + 64, 1));
            assertThrows(IllegalArgumentException.class, () -> lost.wrote(BASE_4K, Long.MIN_VALUE));
        }
    }

    @Test
    void dirtyLogTrackerRulesOnSyntheticTicks()
    {
        try (Vm vm = newVm())
        {
            final Memslot slot = vm.addMemslot(BASE_4K, 128, Backing.PAGE_4K);
            final SafetyChecks.DirtyLogTracker t = new SafetyChecks.DirtyLogTracker(slot);
            final long[] none = new long[2];
            final long[] page0and70 = {1L, 1L << 6};

            t.beginWrite(BASE_4K);
            t.endWrite(BASE_4K);
            t.beginWrite(BASE_4K + 70);
            t.endWrite(BASE_4K + 70);
            assertClean(t.check(), "no harvest began after the writes: nothing owed yet");
            t.beginHarvest();
            assertEquals(2, t.endHarvest(page0and70));
            assertClean(t.check());

            t.beginWrite(BASE_4K + 70);
            t.endWrite(BASE_4K + 70);
            t.beginWrite(BASE_4K + 5);
            assertClean(t.check(), "written after the last harvest ended, none began since");
            t.beginHarvest();
            t.endHarvest(none);
            final List<String> v = t.check(vm);
            assertOneViolation(v, "property 2", "gfn 0x200046", "not mapped");
            assertEquals(2, t.harvests());

            // A write that overlaps a harvest counts as covered when that harvest reports the page.
            t.beginWrite(BASE_4K + 70);
            t.beginHarvest();
            t.endWrite(BASE_4K + 70);
            t.endHarvest(new long[] {0, 1L << 6});
            assertClean(t.check());
            // gfn 5's write never ended: in flight, never reported.
            assertThrows(IllegalArgumentException.class, () -> t.beginWrite(BASE_4K + 128));
        }
    }

    @Test
    void dirtyLogTrackerCatchesTheSeededNoReprotectBug()
    {
        for (final boolean seeded : new boolean[] {false, true})
        {
            final VmConfig config = seeded ? VmConfig.small().withSeededBugs(Set.of(SeededBug.NO_REPROTECT_BEFORE_HARVEST)) :
                VmConfig.small();
            try (Vm vm = new Vm(config))
            {
                final Memslot slot = vm.addMemslot(BASE_4K, 64, Backing.PAGE_4K);
                final Vcpu vcpu = vm.createVcpu();
                final DirtyLogging log = new DirtyLogging(vm);
                log.enable(slot, Memslot.LOG_WRPROT, false);
                final SafetyChecks.DirtyLogTracker t = new SafetyChecks.DirtyLogTracker(slot);
                for (int round = 0; round < 3; round++)
                {
                    t.beginWrite(BASE_4K + 9);
                    vcpu.write(BASE_4K + 9, round);
                    t.endWrite(BASE_4K + 9);
                    t.beginHarvest();
                    t.endHarvest(log.getDirtyLog(slot, false));
                }
                vcpu.exitGuest();
                final List<String> v = t.check(vm);
                if (seeded)
                {
                    // The first harvest left W set, so rounds 2 and 3 wrote without a fault.
                    assertOneViolation(v, "property 2", "gfn 0x200009", "level 1");
                }
                else
                {
                    assertClean(v);
                }
            }
        }
    }
}
