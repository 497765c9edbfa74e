package org.tdpmmu.scenarios.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** One byte per page past the 2^31 elements of a Java array: indices cross chunks exactly. */
class PageBytesTest
{
    @Test
    void indicesCrossChunkBoundaries()
    {
        // chunks of 16 bytes, the last one partly used: 16 + 16 + 5
        final PageBytes b = new PageBytes(37, 4);
        for (long i = 0; i < 37; i++)
        {
            b.set(i, (int)(i * 7 + 300));
        }
        for (long i = 0; i < 37; i++)
        {
            assertEquals((int)(i * 7 + 300) & 0xff, b.get(i), "page " + i);
        }
        assertThrows(ArrayIndexOutOfBoundsException.class, () -> b.get(37));
        assertThrows(IllegalArgumentException.class, () -> new PageBytes(-1));
        // the whole 57-bit space in 1 GiB chunks would need 2^15 of them: countable, not allocated here
        assertThrows(IllegalArgumentException.class, () -> new PageBytes(Long.MAX_VALUE, 1));
        assertThrows(ArrayIndexOutOfBoundsException.class, () -> new PageBytes(0).get(0), "no pages, no chunks");
    }
}
