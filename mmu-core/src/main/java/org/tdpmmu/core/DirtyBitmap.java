package org.tdpmmu.core;

import org.agrona.BufferUtil;
import org.agrona.UnsafeApi;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * A memslot's dirty bitmap, one bit per 4 KiB page, off-heap (kernel: memslot->dirty_bitmap).
 * Shared simulated memory: every access is one of the named accessors below, with the ordering in
 * its name. Setting a bit is atomic (kernel: set_bit_le from mark_page_dirty_in_slot) because
 * faults on many vCPUs mark pages of one word at once.
 */
public final class DirtyBitmap
{
    private static final long LONG_ARRAY_BASE = UnsafeApi.arrayBaseOffset(long[].class);
    /** Bytes one {@link #copyTo} step copies, so a very large bitmap does not hold off a safepoint for long. */
    private static final long COPY_CHUNK_BYTES = 1L << 20;

    private final long pages;
    private final int words;
    private final UnsafeBuffer buffer;
    /**
     * Set once the slot's delete committed (kernel: kvm_destroy_dirty_bitmap from kvm_free_memslot,
     * after the SRCU grace period). Every accessor checks it, so a harvest or a mark that reaches a
     * bitmap of a deleted slot is caught instead of writing into memory the kernel has freed.
     */
    private volatile boolean freed;

    /**
     * @param pages the slot's pages, 1..{@link Memslot#MAX_PAGES} (KVM_MEM_MAX_NR_PAGES): the kernel
     *              refuses a larger slot because its bitmap operations take an int bit position;
     *              here the bound also keeps the byte size, at most 2^28, within one buffer.
     */
    public DirtyBitmap(final long pages)
    {
        if (pages < 1 || pages > Memslot.MAX_PAGES)
        {
            throw new IllegalArgumentException("dirty bitmap of " + pages + " pages: out of range 1.." +
                Memslot.MAX_PAGES + " (KVM_MEM_MAX_NR_PAGES, the most pages one memslot may have)");
        }
        this.pages = pages;
        this.words = (int)((pages + 63) >>> 6);
        this.buffer = new UnsafeBuffer(BufferUtil.allocateDirectAligned(words << 3, 64));
    }

    /** Direct bytes one bitmap of {@code pages} pages reserves: its words and the alignment slack. */
    public static long reservedBytes(final long pages)
    {
        return ((pages + 63) >>> 6 << 3) + 64;
    }

    public long pages()
    {
        return pages;
    }

    public int words()
    {
        return words;
    }

    /** Atomically sets the bit of page {@code offset} (kernel: set_bit_le). @return true if it was clear. */
    public boolean setBit(final long offset)
    {
        checkOffset(offset);
        final UnsafeBuffer b = buffer;
        final int at = (int)(offset >>> 6) << 3;
        final long bit = 1L << (offset & 63);
        long word;
        do
        {
            word = b.getLongVolatile(at);
            if ((word & bit) != 0)
            {
                return false;
            }
        }
        while (!b.compareAndSetLong(at, word, word | bit));
        return true;
    }

    /** Load-volatile of the bit of page {@code offset}. */
    public boolean lvBit(final long offset)
    {
        checkOffset(offset);
        return (buffer.getLongVolatile((int)(offset >>> 6) << 3) & (1L << (offset & 63))) != 0;
    }

    /** Load-volatile of word {@code word}. */
    public long lvWord(final int word)
    {
        checkWord(word);
        return buffer.getLongVolatile(word << 3);
    }

    /**
     * Copies the whole bitmap into {@code dst[0 .. words())}; entries past that are left as they are
     * (kernel: the copy_to_user of memslot->dirty_bitmap that kvm_get_dirty_log_protect does with
     * manual protect, or kvm_get_dirty_log).
     *
     * <p>Ordering: each word is read once and whole (an 8-byte-aligned copy moves {@code long}
     * units, as {@code Unsafe.copyMemory} specifies), in no particular order between words, with no
     * fence: READ_ONCE of each word, as the kernel's copy of the live bitmap is. That is enough
     * because bits are only cleared by atomic read-modify-writes ({@link #xchgWord},
     * {@link #fetchAndClear}) that the caller serialises with this copy: a bit a vCPU sets after its
     * word was read stays set for the next harvest, and a bit set by a write that happened before
     * the call is in the word read (coherence).
     *
     * @return {@link #words()}, the number of words written.
     * @throws IllegalArgumentException if {@code dst} holds fewer than {@link #words()} words.
     */
    public int copyTo(final long[] dst)
    {
        if (dst.length < words)
        {
            throw new IllegalArgumentException("dirty bitmap copy: destination has " + dst.length +
                " words, the bitmap of " + pages + " pages has " + words);
        }
        checkLive();
        final UnsafeBuffer b = buffer;
        final Object srcBase = b.byteArray();
        final long src = b.addressOffset();
        final long bytes = (long)words << 3;
        for (long done = 0; done < bytes; done += COPY_CHUNK_BYTES)
        {
            final long n = Math.min(COPY_CHUNK_BYTES, bytes - done);
            UnsafeApi.copyMemory(srcBase, src + done, dst, LONG_ARRAY_BASE + done, n);
        }
        return words;
    }

    /** Atomic exchange of word {@code word} (kernel: xchg in kvm_get_dirty_log_protect). */
    public long xchgWord(final int word, final long value)
    {
        checkWord(word);
        return buffer.getAndSetLong(word << 3, value);
    }

    /** Atomically clears {@code mask} in word {@code word}; returns the bits that were set (kernel: atomic_long_fetch_andnot). */
    public long fetchAndClear(final int word, final long mask)
    {
        checkWord(word);
        final UnsafeBuffer b = buffer;
        long old;
        do
        {
            old = b.getLongVolatile(word << 3);
        }
        while ((old & mask) != 0 && !b.compareAndSetLong(word << 3, old, old & ~mask));
        return old & mask;
    }

    /**
     * Frees the bitmap: the direct buffer stays for the GC, but any later access raises
     * {@link UseAfterFreeException}. Only {@link KvmSetMemoryRegion} calls it, after the SRCU grace
     * period that follows the slot's removal and under the slots lock.
     */
    void free()
    {
        freed = true;
    }

    public boolean freed()
    {
        return freed;
    }

    private void checkLive()
    {
        if (freed)
        {
            throw new UseAfterFreeException(-1, "dirty bitmap of " + pages + " pages used after its memslot was deleted");
        }
    }

    /** Number of set bits (a snapshot; racy against concurrent setters, fine for reporting). */
    public long cardinality()
    {
        long n = 0;
        for (int w = 0; w < words; w++)
        {
            n += Long.bitCount(buffer.getLongVolatile(w << 3));
        }
        return n;
    }

    private void checkOffset(final long offset)
    {
        checkLive();
        if (offset < 0 || offset >= pages)
        {
            throw new IllegalArgumentException("dirty bitmap offset " + offset + " is out of range 0.." + (pages - 1));
        }
    }

    private void checkWord(final int word)
    {
        checkLive();
        if (word < 0 || word >= words)
        {
            throw new IllegalArgumentException("dirty bitmap word " + word + " is out of range 0.." + (words - 1));
        }
    }
}
