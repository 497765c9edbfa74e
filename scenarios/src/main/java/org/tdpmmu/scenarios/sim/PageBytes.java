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

    private final int shift;
    private final long mask;
    private final byte[][] chunks;

    PageBytes(final long pages)
    {
        this(pages, CHUNK_SHIFT);
    }

    /** With chunks of {@code 2^chunkShift} bytes (small ones let a test cross chunk boundaries). */
    PageBytes(final long pages, final int chunkShift)
    {
        if (pages < 0 || chunkShift < 1 || chunkShift > CHUNK_SHIFT)
        {
            throw new IllegalArgumentException("pages=" + pages + ", chunkShift=" + chunkShift);
        }
        this.shift = chunkShift;
        this.mask = (1L << chunkShift) - 1;
        final long n = (pages + mask) >>> chunkShift;
        if (n > Integer.MAX_VALUE - 8)
        {
            throw new IllegalArgumentException("pages=" + pages + " is beyond any guest physical space");
        }
        chunks = new byte[(int)n][];
        for (int i = 0; i < chunks.length; i++)
        {
            chunks[i] = new byte[(int)Math.min(1L << chunkShift, pages - ((long)i << chunkShift))];
        }
    }

    /** The byte of page {@code index}, 0..255. */
    int get(final long index)
    {
        return chunks[(int)(index >>> shift)][(int)(index & mask)] & 0xff;
    }

    /** Sets the byte of page {@code index} to the low 8 bits of {@code value}. */
    void set(final long index, final int value)
    {
        chunks[(int)(index >>> shift)][(int)(index & mask)] = (byte)value;
    }
}
