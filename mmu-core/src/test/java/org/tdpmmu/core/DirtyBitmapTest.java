package org.tdpmmu.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;

/** The dirty bitmap's accessors, above all the bulk {@link DirtyBitmap#copyTo} against the per-word reads. */
class DirtyBitmapTest
{
    /** Sets random bits (and both ends) and returns what the per-word volatile reads see. */
    private static long[] fillRandom(final DirtyBitmap bitmap, final long seed)
    {
        final SplittableRandom rnd = new SplittableRandom(seed);
        bitmap.setBit(0);
        bitmap.setBit(bitmap.pages() - 1);
        for (int i = 0; i < 1000; i++)
        {
            bitmap.setBit(rnd.nextLong(bitmap.pages()));
        }
        final long[] expected = new long[bitmap.words()];
        for (int w = 0; w < expected.length; w++)
        {
            expected[w] = bitmap.lvWord(w);
        }
        return expected;
    }

    /** Past KVM_MEM_MAX_NR_PAGES a bitmap is refused by name; 2^34 pages once failed as "capacity < 0". */
    @Test
    void sizeIsBoundedByTheLargestMemslot()
    {
        for (final long pages : new long[] {0, -1, Memslot.MAX_PAGES + 1, 1L << 34, 1L << 45, Long.MAX_VALUE})
        {
            final IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new DirtyBitmap(pages));
            assertTrue(e.getMessage().contains("KVM_MEM_MAX_NR_PAGES"), e.getMessage());
        }
        // the top word of the largest bitmap is addressed without overflow: 2^25 words, byte offset < 2^28
        assertEquals(1L << 25, (Memslot.MAX_PAGES + 63) >>> 6);
        assertEquals(DirtyBitmap.reservedBytes(1000), 16 * 8 + 64);
    }

    @Test
    void copyToCopiesExactlyTheBitmapAndLeavesTheRestOfTheArray()
    {
        // 1000 pages: 16 words, the last one partly used
        final DirtyBitmap bitmap = new DirtyBitmap(1000);
        assertEquals(16, bitmap.words());
        final long[] expected = fillRandom(bitmap, 42);
        final long[] dst = new long[20];
        java.util.Arrays.fill(dst, 0x5a5a5a5a5a5a5a5aL);
        assertEquals(16, bitmap.copyTo(dst));
        for (int w = 0; w < 16; w++)
        {
            assertEquals(expected[w], dst[w], "word " + w);
        }
        for (int w = 16; w < 20; w++)
        {
            assertEquals(0x5a5a5a5a5a5a5a5aL, dst[w], "word " + w + " past the bitmap is untouched");
        }
        // a copy changes nothing in the bitmap
        for (int w = 0; w < 16; w++)
        {
            assertEquals(expected[w], bitmap.lvWord(w));
        }
    }

    @Test
    void copyToOfABitmapLargerThanOneCopyStep()
    {
        // 2^24 pages: 2 MiB of bitmap, copied in two 1 MiB steps; bits at the step boundary and the ends
        final DirtyBitmap bitmap = new DirtyBitmap(1L << 24);
        final long[] expected = fillRandom(bitmap, 7);
        final long boundaryPage = (1L << 20) * 8 - 1;
        bitmap.setBit(boundaryPage);
        bitmap.setBit(boundaryPage + 1);
        expected[(int)(boundaryPage >>> 6)] |= 1L << 63;
        expected[(int)((boundaryPage + 1) >>> 6)] |= 1L;
        final long[] dst = new long[bitmap.words()];
        bitmap.copyTo(dst);
        assertArrayEquals(expected, dst);
    }

    @Test
    void copyToRejectsAShortArrayNamingBothSizes()
    {
        final DirtyBitmap bitmap = new DirtyBitmap(1000);
        bitmap.setBit(3);
        final long[] dst = new long[15];
        final IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> bitmap.copyTo(dst));
        assertTrue(e.getMessage().contains("destination has 15 words") && e.getMessage().contains("has 16"),
            e.getMessage());
        assertEquals(0L, dst[0], "nothing copied");
        assertThrows(NullPointerException.class, () -> bitmap.copyTo(null));
    }

    /**
     * A copy racing with a setter: every bit set before the copier learned of it (through a volatile
     * publication) is in the copy, so a harvest never misses a page written before it started.
     */
    @Test
    void copyToSeesEveryBitSetBeforeItStarted() throws Exception
    {
        final int pages = 1 << 16;
        final DirtyBitmap bitmap = new DirtyBitmap(pages);
        final AtomicLong published = new AtomicLong();
        final Thread setter = new Thread(() ->
        {
            // every third page, in order; published counts the pages up to which all are set
            for (long p = 0; p < pages; p += 3)
            {
                bitmap.setBit(p);
                published.set(p + 1);
            }
        });
        setter.start();
        final long[] dst = new long[bitmap.words()];
        int rounds = 0;
        while (setter.isAlive() || rounds == 0)
        {
            final long upTo = published.get();
            bitmap.copyTo(dst);
            for (long p = 0; p < upTo; p += 3)
            {
                if ((dst[(int)(p >>> 6)] & (1L << (p & 63))) == 0)
                {
                    throw new AssertionError("page " + p + " was set before the copy (published " + upTo +
                        ") but is not in it, round " + rounds);
                }
            }
            rounds++;
        }
        setter.join();
        bitmap.copyTo(dst);
        assertEquals(bitmap.cardinality(), java.util.Arrays.stream(dst).map(Long::bitCount).sum());
    }
}
