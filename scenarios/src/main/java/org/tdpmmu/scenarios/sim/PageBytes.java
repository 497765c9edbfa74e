package org.tdpmmu.scenarios.sim;

/**
 * One byte per guest page, for any number of pages a VM can have (2^45 at a 5-level root): Java
 * arrays stop at 2^31 - 1 elements, so the bytes are held in chunks of 2^30. Plain accesses: each
 * page's byte is written only by the vCPU that owns the page in the pass, and read after the
 * threads met at a barrier.
 */
final class PageBytes
{
    private static final int CHUNK_SHIFT = 30;
    private static final long CHUNK_MASK = (1L << CHUNK_SHIFT) - 1;

    private final byte[][] chunks;

    PageBytes(final long pages)
    {
        if (pages < 0)
        {
            throw new IllegalArgumentException("pages=" + pages + " must be >= 0");
        }
        final long n = (pages + CHUNK_MASK) >>> CHUNK_SHIFT;
        if (n > Integer.MAX_VALUE)
        {
            throw new IllegalArgumentException("pages=" + pages + " is beyond any guest physical space");
        }
        chunks = new byte[(int)n][];
        for (int i = 0; i < chunks.length; i++)
        {
            chunks[i] = new byte[(int)Math.min(1L << CHUNK_SHIFT, pages - ((long)i << CHUNK_SHIFT))];
        }
    }

    /** The byte of page {@code index}, 0..255. */
    int get(final long index)
    {
        return chunks[(int)(index >>> CHUNK_SHIFT)][(int)(index & CHUNK_MASK)] & 0xff;
    }

    /** Sets the byte of page {@code index} to the low 8 bits of {@code value}. */
    void set(final long index, final int value)
    {
        chunks[(int)(index >>> CHUNK_SHIFT)][(int)(index & CHUNK_MASK)] = (byte)value;
    }
}
