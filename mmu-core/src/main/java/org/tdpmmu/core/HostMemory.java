package org.tdpmmu.core;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;

import org.agrona.BufferUtil;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * Host RAM behind the memslots: host frames, each with one 64-bit content word off-heap (the last
 * value written), so 96 GiB of guest memory costs ~200 MB, and lost writes are detectable.
 *
 * <p>Each slot is backed by host pages of its {@link Backing} size, host-contiguous and aligned, and
 * aligned to guest-physical addresses; a slot that starts or ends inside a host page still gets the
 * whole page. The host may migrate a range: new frames, contents copied, the mapping switched,
 * old frames freed — all between an mmu_notifier invalidate start and end (kernel:
 * migrate_pages → mmu_notifier_invalidate_range_start/end).
 *
 * <p>Accessors: {@link #lvContent}/{@link #soContent} (frame words), map reads are volatile. An
 * access to a freed frame raises {@link StaleTranslationException}.
 */
public final class HostMemory
{
    private static final VarHandle MAP = MethodHandles.arrayElementVarHandle(long[].class);
    private static final int CHUNK_SHIFT = 20;
    private static final int CHUNK_FRAMES = 1 << CHUNK_SHIFT;
    private static final int CHUNK_MASK = CHUNK_FRAMES - 1;

    private final long frameLimit;
    /** Per chunk of 2^20 frames: the content words. */
    private final UnsafeBuffer[] chunks;
    /** Per chunk: one live bit per frame (cleared when the frame is freed). */
    private final UnsafeBuffer[] liveBits;
    private long bump;
    private final long[][] freeBlocks = new long[Spte.PG_LEVEL_1G + 1][];
    private final int[] freeCounts = new int[Spte.PG_LEVEL_1G + 1];
    /** Per slot id: host pfn of each backing page of the slot (volatile elements). */
    private volatile long[][] slotMaps = new long[0][];
    private volatile Memslot[] slotsById = new Memslot[0];
    private long framesInUse;
    private long migrations;
    private long framesMigrated;
    /** {@link FaultInjection#NONE} outside tests; compared by reference on every host page allocation. */
    private final FaultInjection faults;

    public HostMemory(final long frameLimit)
    {
        this(frameLimit, FaultInjection.NONE);
    }

    /**
     * @param frameLimit most 4 KiB frames handed out at once (1..2^36-1).
     * @param faults     a test hook that fails a chosen host page allocation, or {@link FaultInjection#NONE}.
     */
    public HostMemory(final long frameLimit, final FaultInjection faults)
    {
        this.faults = java.util.Objects.requireNonNull(faults, "faults (use FaultInjection.NONE)");
        if (frameLimit < 1 || frameLimit >= PageTableStore.PFN_BASE)
        {
            throw new IllegalArgumentException("frameLimit=" + frameLimit + " is out of range 1..2^36-1");
        }
        this.frameLimit = frameLimit;
        this.chunks = new UnsafeBuffer[(int)((frameLimit + CHUNK_MASK) >>> CHUNK_SHIFT)];
        this.liveBits = new UnsafeBuffer[chunks.length];
        for (int level = 1; level < freeBlocks.length; level++)
        {
            freeBlocks[level] = new long[16];
        }
    }

    /**
     * Backs every page of {@code slot} with fresh host pages (content 0).
     *
     * @throws ResourceExhaustedException when the host pages run out (or the fault-injection hook
     *         fails one); every page this call took is given back, the slot stays unbacked.
     */
    public synchronized void back(final Memslot slot)
    {
        final int level = slot.backing().level();
        final int shift = Spte.gfnShift(level);
        final long firstBlock = slot.baseGfn() >>> shift;
        final long lastBlock = (slot.endGfn() - 1) >>> shift;
        final long blocks = lastBlock - firstBlock + 1;
        if (blocks > Integer.MAX_VALUE - 8)
        {
            throw new IllegalArgumentException(slot + " needs too many host pages: " + blocks);
        }
        final long[] map = new long[(int)blocks];
        int got = 0;
        try
        {
            for (; got < map.length; got++)
            {
                map[got] = allocBlock(level);
            }
        }
        catch (final ResourceExhaustedException e)
        {
            // Nothing maps these pages yet (the slot is not published): give them straight back.
            while (got > 0)
            {
                freeBlock(map[--got], level);
            }
            throw e;
        }
        final int id = slot.id();
        long[][] maps = slotMaps;
        Memslot[] byId = slotsById;
        if (id >= maps.length)
        {
            maps = Arrays.copyOf(maps, id + 1);
            byId = Arrays.copyOf(byId, id + 1);
        }
        else
        {
            maps = maps.clone();
            byId = byId.clone();
        }
        maps[id] = map;
        byId[id] = slot;
        slotsById = byId;
        slotMaps = maps;
    }

    /**
     * Gives back every host page behind {@code slot}, whose delete has flushed every SPTE and TLB
     * entry that mapped them and waited out every fault that looked the slot up (kernel: the VMM's
     * munmap after KVM_SET_USER_MEMORY_REGION deleted the slot). The frames are freed, not kept, so
     * an access through a stale translation is caught ({@link StaleTranslationException}) and a
     * checker can see an SPTE that still names one ({@link #isLive}).
     */
    public synchronized void unback(final Memslot slot)
    {
        final int id = slot.id();
        final long[] map = id < slotMaps.length ? slotMaps[id] : null;
        if (map == null || slotsById[id] == null || slotsById[id].baseGfn() != slot.baseGfn())
        {
            throw new IllegalArgumentException("unback: " + slot + " is not backed here");
        }
        final int level = slot.backing().level();
        for (int i = 0; i < map.length; i++)
        {
            freeBlock((long)MAP.getVolatile(map, i), level);
        }
        final long[][] maps = slotMaps.clone();
        final Memslot[] byId = slotsById.clone();
        maps[id] = null;
        byId[id] = null;
        slotsById = byId;
        slotMaps = maps;
    }

    /**
     * The same host pages now behind {@code moved}, the slot's new guest-physical range (kernel:
     * KVM_MR_MOVE keeps userspace_addr, so the memory and its contents stay). The backing pages are
     * aligned to guest-physical addresses here, so the move must keep the base's offset within a
     * backing page ({@link KvmSetMemoryRegion} checks it).
     */
    public synchronized void rebase(final Memslot old, final Memslot moved)
    {
        final int id = old.id();
        final int shift = Spte.gfnShift(old.backing().level());
        if (moved.id() != id || id >= slotsById.length || slotsById[id] == null ||
            ((old.baseGfn() ^ moved.baseGfn()) & ((1L << shift) - 1)) != 0)
        {
            throw new IllegalArgumentException("rebase: " + old + " cannot become " + moved);
        }
        final Memslot[] byId = slotsById.clone();
        byId[id] = moved;
        slotsById = byId;
    }

    /**
     * Host pfn behind {@code gfn} of {@code slot} now (kernel: __kvm_faultin_pfn / hva_to_pfn). A
     * fault must sample the invalidation sequence before calling this.
     */
    public long resolvePfn(final Memslot slot, final long gfn)
    {
        if (!slot.contains(gfn))
        {
            throw new IllegalArgumentException("gfn 0x" + Long.toHexString(gfn) + " is not in " + slot);
        }
        final int level = slot.backing().level();
        final int shift = Spte.gfnShift(level);
        final long[][] maps = slotMaps;
        final long[] map = slot.id() < maps.length ? maps[slot.id()] : null;
        if (map == null)
        {
            throw new IllegalArgumentException(slot + " has no host memory (deleted, or never backed)");
        }
        final long block = (long)MAP.getVolatile(map, (int)((gfn >>> shift) - (slot.baseGfn() >>> shift)));
        return block + (gfn & (Spte.pagesPerLevel(level) - 1));
    }

    /** Load-volatile of a host frame's content word. */
    public long lvContent(final long pfn)
    {
        final UnsafeBuffer chunk = chunk(pfn);
        final long value = chunk.getLongVolatile((int)(pfn & CHUNK_MASK) << 3);
        checkLive(pfn, "read");
        return value;
    }

    /** Store-release of a host frame's content word (a guest write landing in RAM). */
    public void soContent(final long pfn, final long value)
    {
        final UnsafeBuffer chunk = chunk(pfn);
        checkLive(pfn, "write");
        chunk.putLongRelease((int)(pfn & CHUNK_MASK) << 3, value);
        // A frame freed while the store was in flight lost it: report, the caller owns a violation.
        checkLive(pfn, "write");
    }

    /** Content of the frame {@code gfn} maps to now. */
    public long contentOf(final Memslot slot, final long gfn)
    {
        return lvContent(resolvePfn(slot, gfn));
    }

    /** True when {@code pfn} is a frame currently backing guest memory. */
    public boolean isLive(final long pfn)
    {
        chunk(pfn);
        return liveBit(pfn);
    }

    /**
     * Migrates the host pages behind [startGfn, startGfn + count) of {@code slot} (widened to whole
     * host pages) to new frames, under an invalidation so no translation of the old frames
     * survives (kernel: the mmu_notifier calls around migrate_pages).
     *
     * <p>Each host page is replaced only after its new page was allocated, so running out (or an
     * injected failure) leaves the pages moved so far moved and the rest where they were, and the
     * invalidation still ends: the mapping of every gfn is whole, as when migrate_pages returns
     * -ENOMEM with some pages not migrated.
     *
     * @return host pages moved.
     * @throws ResourceExhaustedException when a target page cannot be allocated, after the
     *         invalidation ended.
     */
    public int migrate(final MmuNotifier notifier, final Memslot slot, final long startGfn, final long count)
    {
        if (count <= 0 || !slot.contains(startGfn) || !slot.contains(startGfn + count - 1))
        {
            throw new IllegalArgumentException("migration range [gfn 0x" + Long.toHexString(startGfn) + ", +" +
                count + ") is not inside " + slot);
        }
        final int level = slot.backing().level();
        final long pages = Spte.pagesPerLevel(level);
        final long start = Spte.roundGfn(startGfn, level);
        final long end = Spte.roundGfn(startGfn + count - 1, level) + pages;
        final long notifyStart = Math.max(start, slot.baseGfn());
        final long notifyEnd = Math.min(end, slot.endGfn());
        notifier.invalidateRangeStart(notifyStart, notifyEnd);
        int moved = 0;
        try
        {
            synchronized (this)
            {
                final long[] map = slotMaps[slot.id()];
                final int shift = Spte.gfnShift(level);
                for (long gfn = start; gfn < end; gfn += pages)
                {
                    final int i = (int)((gfn >>> shift) - (slot.baseGfn() >>> shift));
                    final long oldBlock = (long)MAP.getVolatile(map, i);
                    final long newBlock = allocBlock(level);
                    for (long f = 0; f < pages; f++)
                    {
                        soContent(newBlock + f, lvContent(oldBlock + f));
                    }
                    MAP.setVolatile(map, i, newBlock);
                    freeBlock(oldBlock, level);
                    moved++;
                }
                migrations++;
                framesMigrated += moved * pages;
            }
        }
        finally
        {
            notifier.invalidateRangeEnd(notifyStart, notifyEnd);
        }
        return moved;
    }

    public synchronized long framesInUse()
    {
        return framesInUse;
    }

    public synchronized long migrations()
    {
        return migrations;
    }

    public synchronized long framesMigrated()
    {
        return framesMigrated;
    }

    /** Direct memory reserved for frame words and live bits. */
    public synchronized long offHeapBytes()
    {
        long bytes = 0;
        for (final UnsafeBuffer c : chunks)
        {
            if (c != null)
            {
                bytes += c.capacity();
            }
        }
        return bytes;
    }

    /**
     * One host page of {@code level}'s size; the caller holds this object's monitor.
     *
     * @throws ResourceExhaustedException before anything changed when the frames run out or the
     *         fault-injection hook fails this allocation.
     */
    private long allocBlock(final int level)
    {
        if (faults != FaultInjection.NONE)
        {
            final String injected = faults.check(FaultInjection.Site.HOST_FRAME);
            if (injected != null)
            {
                throw new ResourceExhaustedException(injected);
            }
        }
        final long pages = Spte.pagesPerLevel(level);
        final long pfn;
        if (freeCounts[level] > 0)
        {
            pfn = freeBlocks[level][--freeCounts[level]];
        }
        else
        {
            final long aligned = (bump + pages - 1) & -pages;
            if (aligned + pages > frameLimit)
            {
                throw new ResourceExhaustedException("host memory exhausted: " + frameLimit + " frames, " +
                    framesInUse + " in use; cannot allocate a level-" + level + " host page");
            }
            bump = aligned + pages;
            pfn = aligned;
        }
        for (long f = pfn; f < pfn + pages; f++)
        {
            ensureChunk(f).putLongRelease((int)(f & CHUNK_MASK) << 3, 0L);
            setLive(f, true);
        }
        framesInUse += pages;
        return pfn;
    }

    private void freeBlock(final long pfn, final int level)
    {
        final long pages = Spte.pagesPerLevel(level);
        for (long f = pfn; f < pfn + pages; f++)
        {
            setLive(f, false);
        }
        if (freeCounts[level] == freeBlocks[level].length)
        {
            freeBlocks[level] = Arrays.copyOf(freeBlocks[level], freeCounts[level] * 2);
        }
        freeBlocks[level][freeCounts[level]++] = pfn;
        framesInUse -= pages;
    }

    private UnsafeBuffer ensureChunk(final long pfn)
    {
        final int c = (int)(pfn >>> CHUNK_SHIFT);
        if (chunks[c] == null)
        {
            final int frames = (int)Math.min(CHUNK_FRAMES, frameLimit - ((long)c << CHUNK_SHIFT));
            liveBits[c] = new UnsafeBuffer(BufferUtil.allocateDirectAligned(((frames + 63) >>> 6) << 3, 64));
            chunks[c] = new UnsafeBuffer(BufferUtil.allocateDirectAligned(frames << 3, 64));
        }
        return chunks[c];
    }

    private UnsafeBuffer chunk(final long pfn)
    {
        // Chunks are created under this object's lock before any pfn in them is published through
        // a volatile map store, which every reader's pfn came from.
        final UnsafeBuffer chunk = pfn >= 0 && pfn < frameLimit ? chunks[(int)(pfn >>> CHUNK_SHIFT)] : null;
        if (chunk == null)
        {
            throw new IllegalArgumentException("host pfn 0x" + Long.toHexString(pfn) + " was never allocated");
        }
        return chunk;
    }

    private boolean liveBit(final long pfn)
    {
        final UnsafeBuffer bits = liveBits[(int)(pfn >>> CHUNK_SHIFT)];
        final int frame = (int)(pfn & CHUNK_MASK);
        return (bits.getLongVolatile((frame >>> 6) << 3) & (1L << (frame & 63))) != 0;
    }

    private void checkLive(final long pfn, final String what)
    {
        if (!liveBit(pfn))
        {
            throw new StaleTranslationException("guest " + what + " of freed host frame pfn 0x" +
                Long.toHexString(pfn) + ": a translation outlived its invalidation");
        }
    }

    private void setLive(final long pfn, final boolean live)
    {
        final UnsafeBuffer bits = liveBits[(int)(pfn >>> CHUNK_SHIFT)];
        final int frame = (int)(pfn & CHUNK_MASK);
        final int at = (frame >>> 6) << 3;
        final long bit = 1L << (frame & 63);
        long word;
        do
        {
            word = bits.getLongVolatile(at);
        }
        while (!bits.compareAndSetLong(at, word, live ? word | bit : word & ~bit));
    }
}
