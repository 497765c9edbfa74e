package org.tdpmmu.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

class PageTableStoreTest
{
    private static final long BASE = PageTableStore.PFN_BASE;

    @Test
    void constantsAreWhatTheDesignSays()
    {
        assertEquals(0x10_0000_0000L, PageTableStore.PFN_BASE);
        assertEquals(0x6b6b_6b6b_6b6b_6b6bL, PageTableStore.POISON);
        assertEquals(4096, PageTableStore.PAGE_SIZE);
    }

    @Test
    void allocateReturnsZeroedLivePagesAboveTheBase()
    {
        final PageTableStore store = new PageTableStore(8);
        final Set<Long> seen = new HashSet<>();
        for (int i = 0; i < 8; i++)
        {
            final long pfn = store.allocate();
            assertTrue(pfn >= BASE, "pfn 0x" + Long.toHexString(pfn));
            assertTrue(pfn < BASE + 8, "pfn 0x" + Long.toHexString(pfn));
            assertTrue(store.ownsPfn(pfn));
            assertTrue(store.isLive(pfn));
            assertEquals(0L, store.generation(pfn));
            assertTrue(seen.add(pfn), "pfn handed out twice: 0x" + Long.toHexString(pfn));
            for (int e = 0; e < Spte.ENTRIES_PER_TABLE; e++)
            {
                assertEquals(Spte.NONPRESENT, store.lvSpte(pfn, e), "entry " + e);
            }
        }
        assertFalse(store.ownsPfn(BASE - 1));
        assertFalse(store.ownsPfn(BASE + 8));
        assertEquals(8, store.capacity());
    }

    @Test
    void countersAreExact()
    {
        final PageTableStore store = new PageTableStore(16);
        assertCounters(store, 0, 0, 0, 0);
        final long a = store.allocate();
        final long b = store.allocate();
        final long c = store.allocate();
        assertCounters(store, 3, 0, 3, 3);
        store.free(b);
        assertCounters(store, 3, 1, 2, 3);
        final long d = store.allocate();
        assertCounters(store, 4, 1, 3, 3);
        store.allocate();
        assertCounters(store, 5, 1, 4, 4);
        store.free(a);
        store.free(c);
        store.free(d);
        assertCounters(store, 5, 4, 1, 4);
    }

    @Test
    void exhaustionThrowsNamingTheCapacityAndChangesNothing()
    {
        final PageTableStore store = new PageTableStore(4);
        final long[] pfns = new long[4];
        for (int i = 0; i < 4; i++)
        {
            pfns[i] = store.allocate();
        }
        final OutOfTablesException e = assertThrows(OutOfTablesException.class, store::allocate);
        assertTrue(e.getMessage().contains("capacity=4"), e.getMessage());
        assertCounters(store, 4, 0, 4, 4);
        assertThrows(OutOfTablesException.class, store::allocate, "still exhausted");
        assertCounters(store, 4, 0, 4, 4);

        store.soSpte(pfns[2], 9, 0x1234L);
        store.free(pfns[2]);
        final long again = store.allocate();
        assertEquals(pfns[2], again, "the only free page is handed out again");
        assertTrue(store.isLive(again));
        assertEquals(0L, store.lvSpte(again, 9), "reallocated page is zeroed");
        assertCounters(store, 5, 1, 4, 4);
        assertThrows(OutOfTablesException.class, store::allocate);
    }

    @Test
    void freePoisonsAndReadsOfAFreedPageAreCaught()
    {
        final PageTableStore store = new PageTableStore(4);
        final long keep = store.allocate();
        final long pfn = store.allocate();
        for (int e = 0; e < Spte.ENTRIES_PER_TABLE; e++)
        {
            store.soSpte(pfn, e, Spte.makeLeaf(e, 1, 0));
            store.soSpte(keep, e, 0x77L + e);
        }
        store.free(pfn);
        assertFalse(store.isLive(pfn));

        final UseAfterFreeException read = assertThrows(UseAfterFreeException.class, () -> store.lvSpte(pfn, 3));
        assertEquals(pfn, read.tablePfn());
        assertTrue(read.getMessage().contains("0x" + Long.toHexString(pfn)), read.getMessage());
        assertTrue(read.getMessage().contains("index 3"), read.getMessage());
        // the value the late reader got is the poison, not the old entry
        assertTrue(read.getMessage().contains("value read 0x6b6b6b6b6b6b6b6b"), read.getMessage());
        for (final int e : new int[] {0, 1, 255, 511})
        {
            final UseAfterFreeException ex = assertThrows(UseAfterFreeException.class, () -> store.lvSpte(pfn, e));
            assertTrue(ex.getMessage().contains("6b6b6b6b6b6b6b6b"), "entry " + e + ": " + ex.getMessage());
        }
        assertUseAfterFree(pfn, () -> store.soSpte(pfn, 0, 1L));
        assertUseAfterFree(pfn, () -> store.cmpxchgSpte(pfn, 0, 0L, 1L));
        final UseAfterFreeException still = assertThrows(UseAfterFreeException.class, () -> store.lvSpte(pfn, 0));
        assertTrue(still.getMessage().contains("value read 0x6b6b6b6b6b6b6b6b"),
            "a store or failed cmpxchg to a freed page writes nothing: " + still.getMessage());
        assertUseAfterFree(pfn, () -> store.xchgSpte(pfn, 1, 1L));
        assertUseAfterFree(pfn, () -> store.lvSpte(pfn, store.generation(pfn), 0));

        // the neighbour page is untouched by the poisoning
        for (int e = 0; e < Spte.ENTRIES_PER_TABLE; e++)
        {
            assertEquals(0x77L + e, store.lvSpte(keep, e));
        }

        // a fresh allocation of the same page reads zeros, not poison and not the old entries
        final long again = store.allocate();
        assertEquals(pfn, again);
        for (int e = 0; e < Spte.ENTRIES_PER_TABLE; e++)
        {
            assertEquals(0L, store.lvSpte(again, e), "entry " + e);
        }
    }

    @Test
    void doubleFreeThrowsNamingThePfn()
    {
        final PageTableStore store = new PageTableStore(4);
        store.allocate();
        final long pfn = store.allocate();
        store.free(pfn);
        final IllegalStateException e = assertThrows(IllegalStateException.class, () -> store.free(pfn));
        assertTrue(e.getMessage().contains("double free"), e.getMessage());
        assertTrue(e.getMessage().contains("0x" + Long.toHexString(pfn)), e.getMessage());
        assertCounters(store, 2, 1, 1, 2);
        assertEquals(1L, store.generation(pfn), "a refused free does not bump the generation");
        // the page is on the free list once, not twice
        assertEquals(pfn, store.allocate());
        assertEquals(BASE + 2, store.allocate());
    }

    @Test
    void generationIncrementsAtEveryFree()
    {
        final PageTableStore store = new PageTableStore(2);
        final long pfn = store.allocate();
        assertEquals(0L, store.generation(pfn));
        for (long g = 1; g <= 5; g++)
        {
            store.free(pfn);
            assertEquals(g, store.generation(pfn), "after free " + g);
            assertEquals(pfn, store.allocate());
            assertEquals(g, store.generation(pfn), "allocation does not bump it");
        }
    }

    @Test
    void generationCheckedReadCatchesAPageFreedAndReused()
    {
        final PageTableStore store = new PageTableStore(2);
        final long pfn = store.allocate();
        final long gen = store.generation(pfn);
        store.soSpte(pfn, 17, 0xABCL);
        assertEquals(0xABCL, store.lvSpte(pfn, gen, 17));

        store.free(pfn);
        final UseAfterFreeException freed = assertThrows(UseAfterFreeException.class, () -> store.lvSpte(pfn, gen, 17));
        assertTrue(freed.getMessage().contains("0x" + Long.toHexString(pfn)), freed.getMessage());
        assertTrue(freed.getMessage().contains("freed"), freed.getMessage());

        assertEquals(pfn, store.allocate());
        store.soSpte(pfn, 17, 0xDEFL);
        // the unchecked read cannot tell the reuse apart ...
        assertEquals(0xDEFL, store.lvSpte(pfn, 17));
        // ... the generation-checked one can
        final UseAfterFreeException reused =
            assertThrows(UseAfterFreeException.class, () -> store.lvSpte(pfn, gen, 17));
        assertEquals(pfn, reused.tablePfn());
        assertTrue(reused.getMessage().contains("0x" + Long.toHexString(pfn)), reused.getMessage());
        assertTrue(reused.getMessage().contains("generation " + gen), reused.getMessage());
        assertEquals(0xDEFL, store.lvSpte(pfn, gen + 1, 17), "the current generation reads fine");
    }

    @Test
    void cmpxchgSucceedsOnlyOnTheExpectedValue()
    {
        final PageTableStore store = new PageTableStore(2);
        final long pfn = store.allocate();
        final long leaf = Spte.makeLeaf(0x42, 1, Spte.LEAF_WRITABLE);

        assertEquals(0L, store.cmpxchgSpte(pfn, 5, 0L, leaf), "success returns the expected value");
        assertEquals(leaf, store.lvSpte(pfn, 5));

        final long witness = store.cmpxchgSpte(pfn, 5, 0L, Spte.FROZEN);
        assertEquals(leaf, witness, "failure returns the current value");
        assertEquals(leaf, store.lvSpte(pfn, 5), "failure stores nothing");

        assertEquals(leaf, store.cmpxchgSpte(pfn, 5, leaf, Spte.FROZEN));
        assertEquals(Spte.FROZEN, store.lvSpte(pfn, 5));
        assertEquals(0L, store.lvSpte(pfn, 4), "neighbours untouched");
        assertEquals(0L, store.lvSpte(pfn, 6), "neighbours untouched");
    }

    @Test
    void xchgReturnsTheOldValueAndSoSptePublishes()
    {
        final PageTableStore store = new PageTableStore(2);
        final long pfn = store.allocate();
        assertEquals(0L, store.xchgSpte(pfn, 511, 0x1111L));
        assertEquals(0x1111L, store.xchgSpte(pfn, 511, 0x2222L));
        assertEquals(0x2222L, store.lvSpte(pfn, 511));

        store.soSpte(pfn, 0, -1L);
        assertEquals(-1L, store.lvSpte(pfn, 0), "all 64 bits stored");
        store.soSpte(pfn, 0, 0x8000_0000_0000_0001L);
        assertEquals(0x8000_0000_0000_0001L, store.lvSpte(pfn, 0));
        assertEquals(0L, store.lvSpte(pfn, 1));
        assertEquals(0L, store.lvSpte(pfn, 510));
    }

    @Test
    void badIndexIsRejectedByEveryAccessor()
    {
        final PageTableStore store = new PageTableStore(2);
        final long pfn = store.allocate();
        for (final int bad : new int[] {-1, 512})
        {
            assertBadArgument(String.valueOf(bad), () -> store.lvSpte(pfn, bad));
            assertBadArgument(String.valueOf(bad), () -> store.lvSpte(pfn, 0L, bad));
            assertBadArgument(String.valueOf(bad), () -> store.soSpte(pfn, bad, 1L));
            assertBadArgument(String.valueOf(bad), () -> store.cmpxchgSpte(pfn, bad, 0L, 1L));
            assertBadArgument(String.valueOf(bad), () -> store.xchgSpte(pfn, bad, 1L));
        }
    }

    @Test
    void badPfnIsRejectedByEveryAccessor()
    {
        final PageTableStore store = new PageTableStore(4);
        store.allocate();
        store.allocate();
        // below the base, guest RAM pfns, and pages of the range that were never handed out
        for (final long bad : new long[] {BASE - 1, 0L, 0x1234L, BASE + 2, BASE + 3, BASE + 4, -1L})
        {
            final String hex = "0x" + Long.toHexString(bad);
            assertBadArgument(hex, () -> store.lvSpte(bad, 0));
            assertBadArgument(hex, () -> store.lvSpte(bad, 0L, 0));
            assertBadArgument(hex, () -> store.soSpte(bad, 0, 1L));
            assertBadArgument(hex, () -> store.cmpxchgSpte(bad, 0, 0L, 1L));
            assertBadArgument(hex, () -> store.xchgSpte(bad, 0, 1L));
            assertBadArgument(hex, () -> store.free(bad));
            assertBadArgument(hex, () -> store.generation(bad));
            assertBadArgument(hex, () -> store.isLive(bad));
        }
        assertCounters(store, 2, 0, 2, 2);
    }

    /** Huge leaves with every combination of the bits a split copies, at both huge levels. */
    private static List<long[]> hugeLeaves()
    {
        final List<long[]> leaves = new ArrayList<>();
        final long[] bitSets = {
            0L,
            Spte.WRITABLE,
            Spte.WRITABLE | Spte.DIRTY,
            Spte.ACCESSED,
            Spte.ACCESSED | Spte.DIRTY | Spte.WRITABLE,
            Spte.MMU_WRITABLE | Spte.HOST_WRITABLE,
            Spte.MMU_WRITABLE | Spte.HOST_WRITABLE | Spte.WRITABLE | Spte.ACCESSED | Spte.DIRTY,
            Spte.EXECUTABLE | Spte.IGNORE_PAT,
            Spte.HOST_WRITABLE | Spte.EXECUTABLE | Spte.ACCESSED,
        };
        for (final int level : new int[] {Spte.PG_LEVEL_2M, Spte.PG_LEVEL_1G})
        {
            final long pages = Spte.pagesPerLevel(level);
            // the lowest pfn, one in the middle, and the last huge page below MAX_PFN
            for (final long pfn : new long[] {0L, 0x12345L * pages, (Spte.MAX_PFN + 1) - pages})
            {
                for (final long bits : bitSets)
                {
                    final long huge = Spte.READABLE | Spte.MEMTYPE_WB | Spte.MMU_PRESENT | Spte.LARGE | bits |
                        (pfn << Spte.PFN_SHIFT);
                    leaves.add(new long[] {huge, level});
                }
            }
        }
        return leaves;
    }

    @Test
    void fillSplitChildrenWritesWhatThePerEntryPathWrites()
    {
        final PageTableStore store = new PageTableStore(4);
        final long bulk = store.allocate();
        final long perEntry = store.allocate();
        for (final long[] leaf : hugeLeaves())
        {
            final long huge = leaf[0];
            final int level = (int)leaf[1];
            // stale content from an earlier fill (a split that lost its link race) is overwritten
            store.soSpte(bulk, 7, Spte.FROZEN);
            store.fillSplitChildren(bulk, huge, level);
            for (int i = 0; i < Spte.ENTRIES_PER_TABLE; i++)
            {
                store.soSpte(perEntry, i, Spte.makeSplitChild(huge, level, i));
            }
            for (int i = 0; i < Spte.ENTRIES_PER_TABLE; i++)
            {
                final long got = store.lvSpte(bulk, i);
                assertEquals(store.lvSpte(perEntry, i), got, "entry " + i + " of the split of " +
                    Spte.describe(huge, level) + ": " + Spte.describe(got, level - 1));
                assertEquals(level - 1 > Spte.PG_LEVEL_4K, Spte.isLarge(got), "large bit of a level-" + (level - 1) +
                    " child");
                assertEquals(Spte.pfn(huge) + i * Spte.pagesPerLevel(level - 1), Spte.pfn(got), "pfn of child " + i);
            }
        }
        assertTrue(store.isLive(bulk));
        assertEquals(0L, store.generation(bulk));
    }

    @Test
    void fillSplitChildrenRejectsBadArgumentsAndWritesNothing()
    {
        final PageTableStore store = new PageTableStore(4);
        final long pfn = store.allocate();
        final long huge2m = Spte.makeLeaf(0x200, Spte.PG_LEVEL_2M, Spte.LEAF_WRITABLE);
        for (final long bad : new long[] {BASE - 1, 0x1234L, BASE + 1, BASE + 4, -1L})
        {
            assertBadArgument("0x" + Long.toHexString(bad), () -> store.fillSplitChildren(bad, huge2m, 2));
        }
        for (final int level : new int[] {0, 1, 4, 5})
        {
            assertBadArgument("level-" + level, () -> store.fillSplitChildren(pfn, huge2m, level));
        }
        final long notPresent = huge2m & ~Spte.MMU_PRESENT;
        final long notLarge = huge2m & ~Spte.LARGE;
        final long misaligned = Spte.makeLeaf(0x201, Spte.PG_LEVEL_4K, Spte.LEAF_WRITABLE) | Spte.LARGE;
        final long misaligned1g = Spte.makeLeaf(0x200, Spte.PG_LEVEL_2M, Spte.LEAF_WRITABLE);
        assertBadArgument("not a present huge leaf", () -> store.fillSplitChildren(pfn, notPresent, 2));
        assertBadArgument("not a present huge leaf", () -> store.fillSplitChildren(pfn, notLarge, 2));
        assertBadArgument("not a present huge leaf", () -> store.fillSplitChildren(pfn, Spte.FROZEN, 2));
        assertBadArgument("0x" + Long.toHexString(misaligned), () -> store.fillSplitChildren(pfn, misaligned, 2));
        assertBadArgument("aligned", () -> store.fillSplitChildren(pfn, misaligned1g, 3));
        for (int i = 0; i < Spte.ENTRIES_PER_TABLE; i++)
        {
            assertEquals(Spte.NONPRESENT, store.lvSpte(pfn, i), "entry " + i + " written by a rejected fill");
        }
    }

    @Test
    void fillSplitChildrenOfAFreedTableIsAUseAfterFree()
    {
        final PageTableStore store = new PageTableStore(4);
        final long pfn = store.allocate();
        store.allocate();
        store.free(pfn);
        assertUseAfterFree(pfn, () -> store.fillSplitChildren(pfn,
            Spte.makeLeaf(0x200, Spte.PG_LEVEL_2M, Spte.LEAF_WRITABLE), Spte.PG_LEVEL_2M));
    }

    /** Leaves of every kind a harvest meets, entry i of a table: i % 8 picks the kind. */
    private static long harvestEntry(final int i)
    {
        final long pfn = 0x1000 + i;
        final int all = Spte.LEAF_WRITABLE | Spte.LEAF_ACCESSED | Spte.LEAF_DIRTY;
        switch (i % 8)
        {
            case 0: return Spte.makeLeaf(pfn, Spte.PG_LEVEL_4K, all);                          // nothing volatile
            case 1: return Spte.makeLeaf(pfn, Spte.PG_LEVEL_4K, Spte.LEAF_WRITABLE | Spte.LEAF_ACCESSED); // D may be set
            case 2: return Spte.makeLeaf(pfn, Spte.PG_LEVEL_4K, Spte.LEAF_WRITABLE | Spte.LEAF_DIRTY);    // A may be set
            case 3: return Spte.makeLeaf(pfn, Spte.PG_LEVEL_4K, Spte.LEAF_MMU_WRITABLE | Spte.LEAF_ACCESSED); // W by fast path
            case 4: return Spte.NONPRESENT;
            case 5: return Spte.FROZEN;
            case 6: return Spte.makeLeaf(pfn, Spte.PG_LEVEL_4K, Spte.LEAF_ACCESSED);             // read-only, clean
            default: return Spte.makeNonLeaf(0x99);                                                // not a leaf here
        }
    }

    @Test
    void clearLeafBitsMaskedClearsTheSelectedPresentLeavesOnly()
    {
        final PageTableStore store = new PageTableStore(4);
        final long pfn = store.allocate();
        for (final long bit : new long[] {Spte.WRITABLE, Spte.DIRTY})
        {
            // A partial mask takes the bit-scan loop, a full one the counted loop.
            for (final long mask : new long[] {0xF0F0_FFFF_0000_FFFFL, -1L})
            for (final int first : new int[] {0, 64, 448, 200})
            {
                for (int i = 0; i < Spte.ENTRIES_PER_TABLE; i++)
                {
                    store.soSpte(pfn, i, harvestEntry(i));
                }
                final long cleared = store.clearLeafBitsMasked(pfn, first, mask, bit);
                long expectCleared = 0;
                for (int i = 0; i < Spte.ENTRIES_PER_TABLE; i++)
                {
                    final long before = harvestEntry(i);
                    final int k = i - first;
                    final boolean selected = k >= 0 && k < 64 && (mask & (1L << k)) != 0;
                    final boolean clears = selected && Spte.isPresentLeaf(before, Spte.PG_LEVEL_4K) && (before & bit) != 0;
                    if (clears)
                    {
                        expectCleared |= 1L << k;
                    }
                    assertEquals(clears ? before & ~bit : before, store.lvSpte(pfn, i),
                        "entry " + i + ", first " + first + ", bit 0x" + Long.toHexString(bit));
                }
                assertEquals(expectCleared, cleared, "returned mask, first " + first + ", mask 0x" + Long.toHexString(mask));
                assertTrue(Long.bitCount(cleared) > 0);
            }
        }
    }

    /**
     * A whole word of written leaves is cleared in two passes (test all, then store all); a word
     * with one entry that is not a written leaf, at either end, goes entry by entry, so that entry
     * keeps its value and its bit stays out of the result.
     */
    @Test
    void clearLeafBitsMaskedTakesTheTwoPassPathOnlyForAWordOfWrittenLeaves()
    {
        final PageTableStore store = new PageTableStore(4);
        final long pfn = store.allocate();
        final long written = Spte.makeLeaf(0x4000, Spte.PG_LEVEL_4K,
            Spte.LEAF_WRITABLE | Spte.LEAF_ACCESSED | Spte.LEAF_DIRTY);
        for (int i = 0; i < Spte.ENTRIES_PER_TABLE; i++)
        {
            store.soSpte(pfn, i, written + ((long)i << Spte.PFN_SHIFT));
        }
        assertEquals(-1L, store.clearLeafBitsMasked(pfn, 64, -1L, Spte.WRITABLE));
        for (int i = 0; i < Spte.ENTRIES_PER_TABLE; i++)
        {
            final long v = written + ((long)i << Spte.PFN_SHIFT);
            assertEquals(i >= 64 && i < 128 ? v & ~Spte.WRITABLE : v, store.lvSpte(pfn, i), "entry " + i);
        }
        for (final int odd : new int[] {128, 191})
        {
            store.soSpte(pfn, odd, Spte.NONPRESENT);
            assertEquals(~(1L << (odd - 128)), store.clearLeafBitsMasked(pfn, 128, -1L, Spte.DIRTY), "entry " + odd);
            for (int i = 128; i < 192; i++)
            {
                final long v = written + ((long)i << Spte.PFN_SHIFT);
                assertEquals(i == odd ? Spte.NONPRESENT : v & ~Spte.DIRTY, store.lvSpte(pfn, i), "entry " + i);
                store.soSpte(pfn, i, v);
            }
        }
    }

    /**
     * The race the atomic path exists for: "hardware" sets D on writable clean leaves while the
     * masked clear removes W. A D bit whose cmpxchg succeeded must survive; a plain store of the
     * value read before would drop it.
     */
    @Test
    void clearLeafBitsMaskedKeepsDirtyBitsSetConcurrently() throws Exception
    {
        final PageTableStore store = new PageTableStore(4);
        final long pfn = store.allocate();
        final long clean = Spte.makeLeaf(0x4000, Spte.PG_LEVEL_4K, Spte.LEAF_WRITABLE | Spte.LEAF_ACCESSED);
        final java.util.concurrent.CyclicBarrier start = new java.util.concurrent.CyclicBarrier(2);
        final long[] hardwareSet = new long[1];
        for (int round = 0; round < 3000; round++)
        {
            for (int k = 0; k < 64; k++)
            {
                store.soSpte(pfn, k, clean + ((long)k << Spte.PFN_SHIFT));
            }
            final Thread hardware = new Thread(() ->
            {
                long set = 0;
                try
                {
                    start.await();
                }
                catch (final Exception e)
                {
                    throw new IllegalStateException(e);
                }
                for (int k = 63; k >= 0; k--)
                {
                    final long v = clean + ((long)k << Spte.PFN_SHIFT);
                    if (store.cmpxchgSpte(pfn, k, v, v | Spte.DIRTY) == v)
                    {
                        set |= 1L << k;
                    }
                }
                hardwareSet[0] = set;
            });
            hardware.start();
            start.await();
            store.clearLeafBitsMasked(pfn, 0, -1L, Spte.WRITABLE);
            hardware.join();
            for (int k = 0; k < 64; k++)
            {
                final long v = store.lvSpte(pfn, k);
                assertTrue(!Spte.isWritable(v), "W cleared, entry " + k);
                if ((hardwareSet[0] & (1L << k)) != 0)
                {
                    assertTrue(Spte.isDirty(v), "round " + round + ": D set by hardware on entry " + k + " was lost");
                }
            }
        }
    }

    @Test
    void clearLeafBitsMaskedRejectsBadArgumentsAndAFreedTable()
    {
        final PageTableStore store = new PageTableStore(4);
        final long pfn = store.allocate();
        store.soSpte(pfn, 3, harvestEntry(0));
        assertBadArgument("reach past entry 511", () -> store.clearLeafBitsMasked(pfn, 500, 1L << 12, Spte.WRITABLE));
        assertBadArgument("reach past entry 511", () -> store.clearLeafBitsMasked(pfn, 512, 1, Spte.WRITABLE));
        assertBadArgument("reach past entry 511", () -> store.clearLeafBitsMasked(pfn, -1, 1, Spte.WRITABLE));
        assertBadArgument("neither W", () -> store.clearLeafBitsMasked(pfn, 0, -1L, Spte.ACCESSED));
        assertBadArgument("0x" + Long.toHexString(BASE + 9), () -> store.clearLeafBitsMasked(BASE + 9, 0, 1, Spte.DIRTY));
        assertEquals(harvestEntry(0), store.lvSpte(pfn, 3), "a rejected call writes nothing");
        assertEquals(1L << 3, store.clearLeafBitsMasked(pfn, 0, 1L << 63 | 1L << 3, Spte.DIRTY), "entry 63 is the last a mask from 0 reaches");
        store.allocate();
        store.free(pfn);
        assertUseAfterFree(pfn, () -> store.clearLeafBitsMasked(pfn, 0, 1L << 3, Spte.WRITABLE));
    }

    @Test
    void copyTableCopiesWhatThePerEntryReadsSee()
    {
        final PageTableStore store = new PageTableStore(4);
        final long pfn = store.allocate();
        for (int i = 0; i < Spte.ENTRIES_PER_TABLE; i++)
        {
            store.soSpte(pfn, i, i % 5 == 0 ? Spte.NONPRESENT : 0x8000_0000_0000_0000L | ((long)i << 12) | i);
        }
        final long[] dst = new long[Spte.ENTRIES_PER_TABLE + 2];
        dst[512] = 7;
        dst[513] = 9;
        store.copyTable(pfn, dst);
        for (int i = 0; i < Spte.ENTRIES_PER_TABLE; i++)
        {
            assertEquals(store.lvSpte(pfn, i), dst[i], "entry " + i);
        }
        assertEquals(7, dst[512], "past the table: untouched");
        assertEquals(9, dst[513]);
    }

    @Test
    void copyTableRejectsABadPfnAShortArrayAndAFreedTable()
    {
        final PageTableStore store = new PageTableStore(4);
        final long pfn = store.allocate();
        final long freed = store.allocate();
        for (final long bad : new long[] {BASE - 1, 0x1234L, BASE + 2, -1L})
        {
            assertBadArgument("0x" + Long.toHexString(bad), () -> store.copyTable(bad, new long[512]));
        }
        final long[] shortArray = new long[511];
        assertBadArgument("511 longs", () -> store.copyTable(pfn, shortArray));
        store.free(freed);
        assertUseAfterFree(freed, () -> store.copyTable(freed, new long[512]));
    }

    @Test
    void capacityOutOfRangeIsRejected()
    {
        assertBadArgument("0", () -> new PageTableStore(0));
        assertBadArgument("-5", () -> new PageTableStore(-5));
        assertBadArgument(String.valueOf((1 << 30) + 1), () -> new PageTableStore((1 << 30) + 1));
    }

    @Test
    void capacityBeyondOneChunkSpansSeveralChunks()
    {
        // chunks hold 8192 pages: 16400 pages are two full chunks and a third of 16 pages (64 MiB)
        final int capacity = 2 * 8192 + 16;
        final PageTableStore store = new PageTableStore(capacity);
        assertEquals(0L, store.offHeapBytes(), "chunks are created on first use");
        final long[] pfns = new long[capacity];
        for (int i = 0; i < capacity; i++)
        {
            pfns[i] = store.allocate();
            assertEquals(BASE + i, pfns[i], "fresh pages come in pfn order");
            if (i == 0)
            {
                assertEquals(8192L * 4096, store.offHeapBytes(), "one chunk after the first page");
            }
            else if (i == 8192)
            {
                assertEquals(2 * 8192L * 4096, store.offHeapBytes(), "two chunks after page 8192");
            }
        }
        assertEquals((long)capacity * 4096, store.offHeapBytes(), "the last chunk holds 16 pages only");
        assertThrows(OutOfTablesException.class, store::allocate);
        for (int i = 0; i < capacity; i++)
        {
            assertEquals(0L, store.lvSpte(pfns[i], 0), "fresh page " + i);
            assertEquals(0L, store.lvSpte(pfns[i], 511), "fresh page " + i);
            store.soSpte(pfns[i], 0, 0xA000_0000_0000_0000L | i);
            store.soSpte(pfns[i], 511, 0xB000_0000_0000_0000L | i);
        }
        for (int i = 0; i < capacity; i++)
        {
            assertEquals(0xA000_0000_0000_0000L | i, store.lvSpte(pfns[i], 0), "page " + i);
            assertEquals(0xB000_0000_0000_0000L | i, store.lvSpte(pfns[i], 511), "page " + i);
            assertEquals(0L, store.lvSpte(pfns[i], 1), "page " + i);
        }
        // freeing a page at a chunk boundary poisons that page only
        store.free(pfns[8192]);
        assertEquals(0xB000_0000_0000_0000L | 8191, store.lvSpte(pfns[8191], 511));
        assertEquals(0xA000_0000_0000_0000L | 8193, store.lvSpte(pfns[8193], 0));
        assertUseAfterFree(pfns[8192], () -> store.lvSpte(pfns[8192], 0));
        assertCounters(store, capacity, 1, capacity - 1, capacity);
    }

    @Test
    void offHeapBytesOfASmallStoreIsItsOwnSize()
    {
        final PageTableStore store = new PageTableStore(3);
        store.allocate();
        assertEquals(3L * 4096, store.offHeapBytes(), "a 3-page store reserves 3 pages, not 4");
    }

    @Test
    void concurrentAllocateAndFreeNeverHandsOutALivePage() throws Exception
    {
        final int threads = 4;
        final int rounds = 150_000;
        final int held = 2;
        // Fewer pages than the threads could hold together, so exhaustion and reuse both happen, and
        // so few that most allocations race on the free-list head (a pop without its CAS is caught
        // here nearly always on two cores; a lost ABA tag is left to the jcstress tests).
        final int capacity = 6;
        final PageTableStore store = new PageTableStore(capacity);
        final Set<Long> livePages = ConcurrentHashMap.newKeySet();
        final AtomicReference<Throwable> failure = new AtomicReference<>();
        final AtomicLong successes = new AtomicLong();
        final AtomicLong exhausted = new AtomicLong();
        final CountDownLatch go = new CountDownLatch(1);
        final List<Thread> workers = new ArrayList<>();
        for (int t = 0; t < threads; t++)
        {
            final long token = (long)(t + 1) << 56;
            final Thread worker = new Thread(() ->
            {
                final long[] mine = new long[held];
                int count = 0;
                long rnd = 0x9E37_79B9_7F4A_7C15L * (token >>> 56);
                try
                {
                    go.await();
                    for (int r = 0; r < rounds && failure.get() == null; r++)
                    {
                        rnd ^= rnd << 13;
                        rnd ^= rnd >>> 7;
                        rnd ^= rnd << 17;
                        // three allocations in four tries while below the limit: the threads together
                        // want more pages than the store has
                        if (count == 0 || (count < held && (rnd & 3) != 0))
                        {
                            final long pfn;
                            try
                            {
                                pfn = store.allocate();
                            }
                            catch (final OutOfTablesException e)
                            {
                                exhausted.incrementAndGet();
                                continue;
                            }
                            successes.incrementAndGet();
                            if (!livePages.add(pfn))
                            {
                                throw new AssertionError("pfn 0x" + Long.toHexString(pfn) + " handed out twice");
                            }
                            if (store.lvSpte(pfn, 0) != 0L || store.lvSpte(pfn, 511) != 0L)
                            {
                                throw new AssertionError("pfn 0x" + Long.toHexString(pfn) + " not zeroed");
                            }
                            store.soSpte(pfn, 0, token | r);
                            store.soSpte(pfn, 511, token | r);
                            mine[count++] = pfn;
                        }
                        else if (count > 0)
                        {
                            final int victim = r % count;
                            final long pfn = mine[victim];
                            mine[victim] = mine[--count];
                            final long v0 = store.lvSpte(pfn, 0);
                            if ((v0 & 0xFF00_0000_0000_0000L) != token || store.lvSpte(pfn, 511) != v0)
                            {
                                throw new AssertionError("pfn 0x" + Long.toHexString(pfn) + " was written by another owner: 0x" +
                                    Long.toHexString(v0));
                            }
                            if (!livePages.remove(pfn))
                            {
                                throw new AssertionError("pfn 0x" + Long.toHexString(pfn) + " lost from the live set");
                            }
                            store.free(pfn);
                        }
                    }
                    while (count > 0)
                    {
                        final long pfn = mine[--count];
                        livePages.remove(pfn);
                        store.free(pfn);
                    }
                }
                catch (final Throwable e)
                {
                    failure.compareAndSet(null, e);
                }
            }, "alloc-free-" + t);
            workers.add(worker);
            worker.start();
        }
        go.countDown();
        for (final Thread worker : workers)
        {
            worker.join(30_000);
            assertFalse(worker.isAlive(), worker.getName() + " did not finish");
        }
        if (failure.get() != null)
        {
            throw new AssertionError("worker failed", failure.get());
        }
        assertTrue(livePages.isEmpty());
        assertTrue(successes.get() > threads * 1000L, "allocations: " + successes.get());
        assertTrue(exhausted.get() > 0, "the run should have hit exhaustion at least once");
        assertEquals(successes.get(), store.allocatedCount());
        assertEquals(successes.get(), store.freedCount());
        assertEquals(0L, store.liveCount());
        assertTrue(store.peakLive() <= capacity && store.peakLive() > 0, "peak " + store.peakLive());

        // the free list lost and duplicated nothing: every page can be handed out exactly once more
        final Set<Long> all = new HashSet<>();
        for (int i = 0; i < capacity; i++)
        {
            final long pfn = store.allocate();
            assertTrue(all.add(pfn), "pfn 0x" + Long.toHexString(pfn) + " twice on the free list");
            assertTrue(store.ownsPfn(pfn));
            assertEquals(0L, store.lvSpte(pfn, 0));
        }
        assertThrows(OutOfTablesException.class, store::allocate);
        assertEquals(capacity, store.peakLive());
    }

    private static void assertCounters(
        final PageTableStore store, final long allocated, final long freed, final long live, final long peak)
    {
        assertEquals(allocated, store.allocatedCount(), "allocated");
        assertEquals(freed, store.freedCount(), "freed");
        assertEquals(live, store.liveCount(), "live");
        assertEquals(peak, store.peakLive(), "peak");
    }

    private static void assertBadArgument(final String mustMention, final Executable call)
    {
        final IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().contains(mustMention), "'" + e.getMessage() + "' should mention " + mustMention);
    }

    private static void assertUseAfterFree(final long pfn, final Executable call)
    {
        final UseAfterFreeException e = assertThrows(UseAfterFreeException.class, call);
        assertEquals(pfn, e.tablePfn());
        assertTrue(e.getMessage().contains("0x" + Long.toHexString(pfn)), e.getMessage());
        assertSame(UseAfterFreeException.class, e.getClass());
    }
}
