package org.tdpmmu.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * Checks the EPT SPTE layout against hand-written constants (kernel: arch/x86/kvm/mmu/spte.h), so a
 * shifted bit or a wrong mask fails here rather than in a race test much later.
 */
class SpteTest
{
    private static final int ALL_FLAGS = Spte.LEAF_WRITABLE | Spte.LEAF_MMU_WRITABLE | Spte.LEAF_HOST_WRITABLE |
        Spte.LEAF_ACCESSED | Spte.LEAF_DIRTY;

    /** Equality of two SPTE values, reported in hex with their decoding. */
    private static void assertSpte(final long expected, final long actual, final String... what)
    {
        assertEquals(expected, actual, () -> (what.length > 0 ? what[0] + ": " : "") + "expected " +
            Spte.describe(expected, 1) + " but was " + Spte.describe(actual, 1));
    }

    @Test
    void bitPositionsMatchTheEptLayout()
    {
        assertEquals(0x1L, Spte.READABLE);
        assertEquals(0x2L, Spte.WRITABLE);
        assertEquals(0x4L, Spte.EXECUTABLE);
        assertEquals(3, Spte.MEMTYPE_SHIFT);
        assertEquals(0x38L, Spte.MEMTYPE_MASK);
        assertEquals(0x30L, Spte.MEMTYPE_WB, "WB is memory type 6 in bits 3-5");
        assertEquals(0x40L, Spte.IGNORE_PAT);
        assertEquals(0x80L, Spte.LARGE);
        assertEquals(0x100L, Spte.ACCESSED);
        assertEquals(0x200L, Spte.DIRTY);
        assertEquals(0x800L, Spte.MMU_PRESENT);
        assertEquals(0x0200_0000_0000_0000L, Spte.HOST_WRITABLE);
        assertEquals(0x0400_0000_0000_0000L, Spte.MMU_WRITABLE);
        assertEquals(12, Spte.PFN_SHIFT);
        assertEquals(0x000F_FFFF_FFFF_F000L, Spte.PFN_MASK, "pfn is bits 12-51");
        assertEquals(0xFF_FFFF_FFFFL, Spte.MAX_PFN);
        assertEquals(0L, Spte.NONPRESENT);
        assertEquals(512, Spte.ENTRIES_PER_TABLE);
    }

    @Test
    void predicatesTestExactlyTheirBit()
    {
        assertTrue(Spte.isPresent(0x800L));
        assertFalse(Spte.isPresent(0x7L), "R/W/X without the MMU-present bit is not present");
        assertFalse(Spte.isPresent(0xFFFF_FFFF_FFFF_F7FFL), "every bit but 11 is still not present");
        assertTrue(Spte.isLarge(0x80L));
        assertFalse(Spte.isLarge(0x40L));
        assertTrue(Spte.isAccessed(0x100L));
        assertFalse(Spte.isAccessed(0x200L));
        assertTrue(Spte.isDirty(0x200L));
        assertFalse(Spte.isDirty(0x100L));
        assertTrue(Spte.isWritable(0x2L));
        assertFalse(Spte.isWritable(0x5L));
        assertTrue(Spte.isHostWritable(0x0200_0000_0000_0000L));
        assertFalse(Spte.isHostWritable(0x0400_0000_0000_0000L));
        assertTrue(Spte.isMmuWritable(0x0400_0000_0000_0000L));
        assertFalse(Spte.isMmuWritable(0x0200_0000_0000_0000L));
        assertTrue(Spte.isFrozen(0x5a0L));
        assertFalse(Spte.isFrozen(0x5a1L));
        assertFalse(Spte.isFrozen(0L));
    }

    @Test
    void frozenIsNeverPresentButLooksLargeAndAccessed()
    {
        assertEquals(0x5a0L, Spte.FROZEN);
        assertTrue(Spte.isFrozen(Spte.FROZEN));
        assertFalse(Spte.isPresent(Spte.FROZEN));
        for (int level = 1; level <= Spte.MAX_LEVEL; level++)
        {
            assertFalse(Spte.isPresentLeaf(Spte.FROZEN, level), "level " + level);
            assertFalse(Spte.isPresentTable(Spte.FROZEN, level), "level " + level);
        }
        // The trap the kernel documents: bits 7 and 8 are set, so these raw tests are true.
        assertTrue(Spte.isLarge(Spte.FROZEN));
        assertTrue(Spte.isAccessed(Spte.FROZEN));
        assertFalse(Spte.isDirty(Spte.FROZEN));
        assertFalse(Spte.isWritable(Spte.FROZEN));
        assertEquals(0L, Spte.pfn(Spte.FROZEN));
        assertEquals(0L, Spte.FROZEN & (Spte.READABLE | Spte.WRITABLE | Spte.EXECUTABLE));
    }

    @Test
    void makeLeafAt4k2m1gHandComputed()
    {
        // present 0x800 | WB 0x30 | ignore-PAT 0x40 | X 0x4 | R 0x1 = 0x875
        assertSpte(0x0000_0000_0123_4875L, Spte.makeLeaf(0x1234, 1, 0));
        // + large 0x80
        assertSpte(0x0000_0000_0020_08F5L, Spte.makeLeaf(0x200, 2, 0));
        // + W 0x2, A 0x100, D 0x200, host-writable bit 57, MMU-writable bit 58
        assertSpte(0x0600_0000_4000_0BF7L,
            Spte.makeLeaf(0x40000, 3, Spte.LEAF_WRITABLE | Spte.LEAF_ACCESSED | Spte.LEAF_DIRTY));
        // write-protected for dirty logging: MMU-writable and host-writable, no W
        assertSpte(0x0600_0000_0000_5875L, Spte.makeLeaf(0x5, 1, Spte.LEAF_MMU_WRITABLE));
        // write-tracked: host-writable only
        assertSpte(0x0200_0000_0000_5875L, Spte.makeLeaf(0x5, 1, Spte.LEAF_HOST_WRITABLE));

        assertFalse(Spte.isLarge(Spte.makeLeaf(0x1234, 1, ALL_FLAGS)), "a 4K leaf has no large bit");
        assertTrue(Spte.isLarge(Spte.makeLeaf(0x200, 2, 0)));
        assertTrue(Spte.isLarge(Spte.makeLeaf(0x40000, 3, 0)));
        assertTrue(Spte.isPresentLeaf(Spte.makeLeaf(0x1234, 1, 0), 1));
        assertTrue(Spte.isPresentLeaf(Spte.makeLeaf(0x200, 2, 0), 2));
        assertTrue(Spte.isPresentLeaf(Spte.makeLeaf(0x40000, 3, 0), 3));
        assertFalse(Spte.isPresentTable(Spte.makeLeaf(0x40000, 3, 0), 3));
    }

    @Test
    void makeLeafRejectsMisalignedPfnAndBadLevel()
    {
        final IllegalArgumentException e2 =
            assertThrows(IllegalArgumentException.class, () -> Spte.makeLeaf(0x201, 2, 0));
        assertTrue(e2.getMessage().contains("0x201"), e2.getMessage());
        assertTrue(e2.getMessage().contains("level 2"), e2.getMessage());
        // 2M-aligned but not 1G-aligned
        final IllegalArgumentException e3 =
            assertThrows(IllegalArgumentException.class, () -> Spte.makeLeaf(0x200, 3, 0));
        assertTrue(e3.getMessage().contains("0x200"), e3.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Spte.makeLeaf(0x3FFFF, 3, 0));
        // every pfn is aligned for 4K
        assertSpte(0x0000_0000_0020_1875L, Spte.makeLeaf(0x201, 1, 0));
        final IllegalArgumentException l0 =
            assertThrows(IllegalArgumentException.class, () -> Spte.makeLeaf(0, 0, 0));
        assertTrue(l0.getMessage().contains("level 0"), l0.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Spte.makeLeaf(0, 6, 0));
    }

    @Test
    void writableImpliesMmuWritableImpliesHostWritableForEveryFlagCombination()
    {
        for (int level = 1; level <= 3; level++)
        {
            for (int flags = 0; flags <= ALL_FLAGS; flags++)
            {
                final long spte = Spte.makeLeaf(0x40000L * 3, level, flags);
                final String what = "level " + level + " flags " + flags + ": " + Spte.describe(spte, level);
                if (Spte.isWritable(spte))
                {
                    assertTrue(Spte.isMmuWritable(spte), what);
                }
                if (Spte.isMmuWritable(spte))
                {
                    assertTrue(Spte.isHostWritable(spte), what);
                }
                assertEquals((flags & Spte.LEAF_WRITABLE) != 0, Spte.isWritable(spte), what);
                assertEquals((flags & (Spte.LEAF_WRITABLE | Spte.LEAF_MMU_WRITABLE)) != 0,
                    Spte.isMmuWritable(spte), what);
                assertEquals((flags & (Spte.LEAF_WRITABLE | Spte.LEAF_MMU_WRITABLE | Spte.LEAF_HOST_WRITABLE)) != 0,
                    Spte.isHostWritable(spte), what);
                assertEquals((flags & Spte.LEAF_ACCESSED) != 0, Spte.isAccessed(spte), what);
                assertEquals((flags & Spte.LEAF_DIRTY) != 0, Spte.isDirty(spte), what);
                assertTrue(Spte.isPresentLeaf(spte, level), what);
                assertEquals(0xC0000L, Spte.pfn(spte), what);
                assertEquals(level > 1, Spte.isLarge(spte), what);
                assertEquals(0x75L, spte & 0x7DL, "R, X, WB and ignore-PAT always set: " + what);
            }
        }
    }

    @Test
    void makeNonLeafHandComputed()
    {
        final long tablePfn = PageTableStore.PFN_BASE + 5; // 0x10_0000_0005
        // present 0x800 | A 0x100 | X 0x4 | W 0x2 | R 0x1 = 0x907
        assertSpte(0x0001_0000_0000_5907L, Spte.makeNonLeaf(tablePfn));
        for (int level = 2; level <= Spte.MAX_LEVEL; level++)
        {
            assertTrue(Spte.isPresentTable(Spte.makeNonLeaf(tablePfn), level), "level " + level);
            assertFalse(Spte.isPresentLeaf(Spte.makeNonLeaf(tablePfn), level), "level " + level);
        }
        assertFalse(Spte.isLarge(Spte.makeNonLeaf(tablePfn)));
        assertEquals(tablePfn, Spte.pfn(Spte.makeNonLeaf(tablePfn)));
        assertThrows(IllegalArgumentException.class, () -> Spte.makeNonLeaf(0x100_0000_0000L));
        assertThrows(IllegalArgumentException.class, () -> Spte.makeNonLeaf(-1));
    }

    @Test
    void pfnRoundTripAndRange()
    {
        for (final long pfn : new long[] {0L, 1L, 0x1234L, 0x8_0000_0000L, 0xFF_FFFF_FFFFL})
        {
            assertEquals(pfn, Spte.pfn(Spte.makeLeaf(pfn, 1, ALL_FLAGS)), Long.toHexString(pfn));
            assertEquals(pfn, Spte.pfn(Spte.makeNonLeaf(pfn)), Long.toHexString(pfn));
        }
        assertSpte(0x000F_FFFF_FFFF_F875L, Spte.makeLeaf(Spte.MAX_PFN, 1, 0), "max pfn fills bits 12-51");
        // bits outside 12-51 never leak into the pfn
        assertEquals(0x5L, Spte.pfn(0xFFF0_0000_0000_5FFFL));
        assertEquals(0L, Spte.pfn(0xFFF0_0000_0000_0FFFL));

        final IllegalArgumentException over =
            assertThrows(IllegalArgumentException.class, () -> Spte.makeLeaf(0x100_0000_0000L, 1, 0));
        assertTrue(over.getMessage().contains("0x10000000000"), over.getMessage());
        final IllegalArgumentException negative =
            assertThrows(IllegalArgumentException.class, () -> Spte.makeLeaf(-1, 1, 0));
        assertTrue(negative.getMessage().contains("0xffffffffffffffff"), negative.getMessage());
    }

    @Test
    void indexAtEachLevelHandComputed()
    {
        // 0x12345678 = 0b1_0010_0011_0100_0101_0110_0111_1000; 9-bit groups from the bottom:
        // 0x078, 0x02b, 0x08d, 0x002, 0x000
        assertEquals(0x78, Spte.index(0x12345678L, 1));
        assertEquals(0x2b, Spte.index(0x12345678L, 2));
        assertEquals(0x8d, Spte.index(0x12345678L, 3));
        assertEquals(2, Spte.index(0x12345678L, 4));
        assertEquals(0, Spte.index(0x12345678L, 5));

        // (1 << 36) | (2 << 27) | (3 << 18) | (4 << 9) | 5
        assertEquals(5, Spte.index(0x10_100C_0805L, 1));
        assertEquals(4, Spte.index(0x10_100C_0805L, 2));
        assertEquals(3, Spte.index(0x10_100C_0805L, 3));
        assertEquals(2, Spte.index(0x10_100C_0805L, 4));
        assertEquals(1, Spte.index(0x10_100C_0805L, 5));

        // the last gfn of a 5-level structure: every index is 511
        for (int level = 1; level <= 5; level++)
        {
            assertEquals(511, Spte.index(0x1FFF_FFFF_FFFFL, level), "level " + level);
            assertEquals(0, Spte.index(0L, level), "level " + level);
        }
        assertEquals(0, Spte.index(0x200L, 1));
        assertEquals(1, Spte.index(0x200L, 2));
    }

    @Test
    void roundGfnPagesPerLevelAndShift()
    {
        assertEquals(0x12345678L, Spte.roundGfn(0x12345678L, 1));
        assertEquals(0x12345600L, Spte.roundGfn(0x12345678L, 2));
        assertEquals(0x12340000L, Spte.roundGfn(0x12345678L, 3));
        assertEquals(0x10000000L, Spte.roundGfn(0x12345678L, 4));
        assertEquals(0L, Spte.roundGfn(0x12345678L, 5));
        assertEquals(0x10_0000_0000L, Spte.roundGfn(0x1F_FFFF_FFFFL, 5));

        assertEquals(1L, Spte.pagesPerLevel(1));
        assertEquals(512L, Spte.pagesPerLevel(2));
        assertEquals(0x4_0000L, Spte.pagesPerLevel(3));
        assertEquals(0x800_0000L, Spte.pagesPerLevel(4));
        assertEquals(0x10_0000_0000L, Spte.pagesPerLevel(5));

        assertEquals(0, Spte.gfnShift(1));
        assertEquals(9, Spte.gfnShift(2));
        assertEquals(18, Spte.gfnShift(3));
        assertEquals(27, Spte.gfnShift(4));
        assertEquals(36, Spte.gfnShift(5));
    }

    @Test
    void isLastAtLevel()
    {
        assertTrue(Spte.isLastAtLevel(Spte.makeNonLeaf(7), 1), "everything at 4K is last");
        assertFalse(Spte.isLastAtLevel(Spte.makeNonLeaf(7), 2));
        assertTrue(Spte.isLastAtLevel(Spte.makeLeaf(0x200, 2, 0), 2));
        assertFalse(Spte.isPresentLeaf(0L, 1));
        assertFalse(Spte.isPresentTable(0L, 4));
    }

    @Test
    void splitA1gLeafInto2mChildrenKeepsLargeBit()
    {
        final int flags = Spte.LEAF_WRITABLE | Spte.LEAF_ACCESSED | Spte.LEAF_DIRTY;
        final long huge = Spte.makeLeaf(0x40000, 3, flags);
        assertSpte(0x0600_0000_4000_0BF7L, Spte.makeSplitChild(huge, 3, 0));
        assertSpte(0x0600_0000_4020_0BF7L, Spte.makeSplitChild(huge, 3, 1), "child 1 starts 512 frames later");
        assertSpte(0x0600_0000_7FE0_0BF7L, Spte.makeSplitChild(huge, 3, 511));
        for (int i = 0; i < 512; i++)
        {
            final long child = Spte.makeSplitChild(huge, 3, i);
            assertEquals(0x40000L + 512L * i, Spte.pfn(child), "contiguous child pfns, index " + i);
            assertEquals(Spte.makeLeaf(0x40000L + 512L * i, 2, flags), child, "index " + i);
            assertTrue(Spte.isLarge(child));
            assertTrue(Spte.isPresentLeaf(child, 2));
        }
    }

    @Test
    void splitA2mLeafInto4kChildrenDropsLargeBit()
    {
        final int flags = Spte.LEAF_MMU_WRITABLE | Spte.LEAF_ACCESSED;
        final long huge = Spte.makeLeaf(0x200, 2, flags);
        assertSpte(0x0600_0000_0020_0975L, Spte.makeSplitChild(huge, 2, 0));
        assertSpte(0x0600_0000_003F_F975L, Spte.makeSplitChild(huge, 2, 511));
        for (int i = 0; i < 512; i++)
        {
            final long child = Spte.makeSplitChild(huge, 2, i);
            assertEquals(0x200L + i, Spte.pfn(child), "contiguous child pfns, index " + i);
            assertEquals(Spte.makeLeaf(0x200L + i, 1, flags), child, "index " + i);
            assertFalse(Spte.isLarge(child));
            assertFalse(Spte.isWritable(child), "a write-protected parent gives write-protected children");
            assertTrue(Spte.isMmuWritable(child));
            assertFalse(Spte.isDirty(child));
        }
        // W and D carry over as well
        final long dirtyWritable = Spte.makeLeaf(0x400, 2, Spte.LEAF_WRITABLE | Spte.LEAF_DIRTY);
        assertEquals(Spte.makeLeaf(0x401, 1, Spte.LEAF_WRITABLE | Spte.LEAF_DIRTY),
            Spte.makeSplitChild(dirtyWritable, 2, 1));
    }

    @Test
    void makeHugeRoundsThePfnAndSetsLarge()
    {
        final int flags = Spte.LEAF_WRITABLE | Spte.LEAF_ACCESSED | Spte.LEAF_DIRTY;
        assertSpte(0x0600_0000_0120_0BF7L, Spte.makeHuge(Spte.makeLeaf(0x1234, 1, flags), 2));
        assertEquals(Spte.makeLeaf(0x1200, 2, flags), Spte.makeHuge(Spte.makeLeaf(0x1234, 1, flags), 2));
        assertEquals(Spte.makeLeaf(0x40000, 3, 0), Spte.makeHuge(Spte.makeLeaf(0x7FFFF, 1, 0), 3));
        assertEquals(Spte.makeLeaf(0x40000, 3, Spte.LEAF_ACCESSED),
            Spte.makeHuge(Spte.makeLeaf(0x40200, 2, Spte.LEAF_ACCESSED), 3));
        // split then promote gives back the original huge leaf
        final long huge = Spte.makeLeaf(0x600, 2, flags);
        assertEquals(huge, Spte.makeHuge(Spte.makeSplitChild(huge, 2, 77), 2));
    }

    @Test
    void describeNamesTheKindOfEntry()
    {
        final String frozen = Spte.describe(Spte.FROZEN, 1);
        assertTrue(frozen.contains("FROZEN"), frozen);
        assertFalse(frozen.contains("leaf"), frozen);
        assertFalse(frozen.contains("pfn="), frozen);

        final String empty = Spte.describe(0L, 3);
        assertTrue(empty.contains("not-present"), empty);
        assertFalse(empty.contains("junk"), empty);
        assertTrue(empty.contains("level 3"), empty);
        final String junk = Spte.describe(0x7L, 3);
        assertTrue(junk.contains("not-present junk"), junk);

        final String leaf = Spte.describe(Spte.makeLeaf(0x1234, 1, Spte.LEAF_WRITABLE | Spte.LEAF_DIRTY), 1);
        assertTrue(leaf.contains("leaf"), leaf);
        assertTrue(leaf.contains("pfn=0x1234"), leaf);
        assertTrue(leaf.contains(" W"), leaf);
        assertTrue(leaf.contains(" D"), leaf);
        assertTrue(leaf.contains(" HW") && leaf.contains(" MW"), leaf);
        assertFalse(leaf.contains(" L"), leaf);
        assertFalse(leaf.contains(" A"), leaf);
        assertTrue(leaf.startsWith("0x600000001234a77 ["), leaf);

        final String huge = Spte.describe(Spte.makeLeaf(0x200, 2, 0), 2);
        assertTrue(huge.contains("leaf") && huge.contains(" L"), huge);
        assertTrue(huge.contains("level 2"), huge);

        final String table = Spte.describe(Spte.makeNonLeaf(PageTableStore.PFN_BASE + 5), 4);
        assertTrue(table.contains("table"), table);
        assertTrue(table.contains("pfn=0x1000000005"), table);
        assertTrue(table.contains("level 4"), table);
    }

    /** kernel: spte_has_volatile_bits, over every combination of the bits it looks at. */
    @Test
    void volatileBitsAreWhatTheLocklessWritersMayStillSet()
    {
        for (int w = 0; w < 2; w++)
        {
            for (int mmuW = 0; mmuW < 2; mmuW++)
            {
                for (int a = 0; a < 2; a++)
                {
                    for (int d = 0; d < 2; d++)
                    {
                        final long spte = Spte.makeLeaf(0x1234, Spte.PG_LEVEL_4K, 0) & ~(Spte.WRITABLE | Spte.MMU_WRITABLE |
                            Spte.ACCESSED | Spte.DIRTY) | (w == 1 ? Spte.WRITABLE : 0) | (mmuW == 1 ? Spte.MMU_WRITABLE : 0) |
                            (a == 1 ? Spte.ACCESSED : 0) | (d == 1 ? Spte.DIRTY : 0);
                        final boolean fastPathMaySetW = w == 0 && mmuW == 1;
                        final boolean hardwareMaySetA = a == 0;
                        final boolean hardwareMaySetD = w == 1 && d == 0;
                        final boolean expected = fastPathMaySetW || hardwareMaySetA || hardwareMaySetD;
                        final String what = "W=" + w + " MMU-W=" + mmuW + " A=" + a + " D=" + d;
                        assertEquals(expected, Spte.hasVolatileBits(spte), what);
                        assertEquals(expected, Spte.needAtomicWrite(spte, Spte.PG_LEVEL_4K), what);
                    }
                }
            }
        }
        assertFalse(Spte.needAtomicWrite(Spte.NONPRESENT, Spte.PG_LEVEL_4K));
        assertFalse(Spte.needAtomicWrite(Spte.FROZEN, Spte.PG_LEVEL_4K));
        assertFalse(Spte.needAtomicWrite(Spte.makeNonLeaf(0x99), Spte.PG_LEVEL_2M),
            "a table entry changes only under the lock");
    }

    /**
     * {@link Spte#STABLE_DIRTY_LEAF}, the masked clear's one-test shortcut, may only select what
     * the full rule would store plainly: over every combination of present, W, MMU-W, host-W, A, D
     * (and the frozen value), matching the pattern implies a present 4 KiB leaf with W and D set
     * and nothing volatile. The written page (W, MMU-W, host-W, A, D) matches.
     */
    @Test
    void theStableDirtyLeafShortcutImpliesAPlainStoreIsSafe()
    {
        final long[] bits = {Spte.MMU_PRESENT, Spte.WRITABLE, Spte.MMU_WRITABLE, Spte.HOST_WRITABLE, Spte.ACCESSED, Spte.DIRTY};
        int matched = 0;
        for (int combo = 0; combo < 1 << bits.length; combo++)
        {
            long spte = (0x1234L << Spte.PFN_SHIFT) | Spte.READABLE | Spte.EXECUTABLE;
            for (int b = 0; b < bits.length; b++)
            {
                spte |= (combo >>> b & 1) != 0 ? bits[b] : 0;
            }
            if ((spte & Spte.STABLE_DIRTY_LEAF) == Spte.STABLE_DIRTY_LEAF)
            {
                matched++;
                final String what = Spte.describe(spte, Spte.PG_LEVEL_4K);
                assertTrue(Spte.isPresentLeaf(spte, Spte.PG_LEVEL_4K), what);
                assertFalse(Spte.needAtomicWrite(spte, Spte.PG_LEVEL_4K), what);
                assertTrue(Spte.isWritable(spte) && Spte.isDirty(spte), what);
            }
        }
        assertEquals(4, matched, "the four combinations of MMU-W and host-W around P, W, A, D");
        assertFalse((Spte.FROZEN & Spte.STABLE_DIRTY_LEAF) == Spte.STABLE_DIRTY_LEAF);
        final long written = Spte.makeLeaf(0x1234, Spte.PG_LEVEL_4K,
            Spte.LEAF_WRITABLE | Spte.LEAF_ACCESSED | Spte.LEAF_DIRTY);
        assertEquals(Spte.STABLE_DIRTY_LEAF, written & Spte.STABLE_DIRTY_LEAF, "the leaf a guest write leaves");
    }
}
