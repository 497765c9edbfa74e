package org.tdpmmu.core;

/**
 * A guest-physical range backed by host memory (kernel: struct kvm_memory_slot). Its id, base
 * gfn, size and backing are fixed; only the dirty-logging mode changes, and only under the
 * slots lock ({@link Memslots}). A delete or move never edits a slot: it publishes a new memslot
 * set holding an {@linkplain #invalid() invalid} copy, then a set without it or with a moved copy
 * ({@link KvmSetMemoryRegion}), so a reader holding a slot always sees one consistent slot.
 */
public final class Memslot
{
    /**
     * The most 4 KiB pages one memslot may have (kernel: KVM_MEM_MAX_NR_PAGES, 2^31 - 1, which
     * __kvm_set_memory_region enforces with -EINVAL).
     */
    public static final long MAX_PAGES = (1L << 31) - 1;
    /** Dirty logging off. */
    public static final int LOG_OFF = 0;
    /** Dirty logging by write-protection: clear W, keep MMU-writable; the first write fast-faults. */
    public static final int LOG_WRPROT = 1;
    /** Dirty logging by D bits: hardware sets D; harvest reads and clears it. */
    public static final int LOG_DBIT = 2;

    private final int id;
    private final long baseGfn;
    private final long npages;
    private final Backing backing;
    private final int rootLevel;
    private final DirtyBitmap dirtyBitmap;
    private volatile int logMode = LOG_OFF;
    /** kernel: KVM_MEMSLOT_INVALID, set only on the copy a delete or move publishes first. */
    private final boolean invalid;

    Memslot(final int id, final long baseGfn, final long npages, final Backing backing, final int rootLevel)
    {
        this(id, baseGfn, npages, backing, rootLevel, new DirtyBitmap(npages), false);
    }

    private Memslot(final int id, final long baseGfn, final long npages, final Backing backing, final int rootLevel,
        final DirtyBitmap dirtyBitmap, final boolean invalid)
    {
        this.id = id;
        this.baseGfn = baseGfn;
        this.npages = npages;
        this.backing = backing;
        this.rootLevel = rootLevel;
        this.dirtyBitmap = dirtyBitmap;
        this.invalid = invalid;
    }

    /**
     * The copy a delete or move publishes before it flushes (kernel: kvm_invalidate_memslot): same
     * range, backing, bitmap and log mode, marked invalid so a fault that finds it retries.
     */
    Memslot invalidCopy()
    {
        final Memslot copy = new Memslot(id, baseGfn, npages, backing, rootLevel, dirtyBitmap, true);
        copy.logMode = logMode;
        return copy;
    }

    /** This slot at {@code newBaseGfn} with a fresh bitmap (kernel: the new slot of KVM_MR_MOVE; logging is off). */
    Memslot movedTo(final long newBaseGfn)
    {
        return new Memslot(id, newBaseGfn, npages, backing, rootLevel);
    }

    /** kernel: slot->flags & KVM_MEMSLOT_INVALID. A fault that finds such a slot retries. */
    public boolean invalid()
    {
        return invalid;
    }

    public int id()
    {
        return id;
    }

    public long baseGfn()
    {
        return baseGfn;
    }

    public long npages()
    {
        return npages;
    }

    /** One past the last gfn. */
    public long endGfn()
    {
        return baseGfn + npages;
    }

    public Backing backing()
    {
        return backing;
    }

    public boolean contains(final long gfn)
    {
        return gfn >= baseGfn && gfn < baseGfn + npages;
    }

    public DirtyBitmap dirtyBitmap()
    {
        return dirtyBitmap;
    }

    /** kernel: kvm_slot_dirty_track_enabled. */
    public boolean dirtyLogging()
    {
        return logMode != LOG_OFF;
    }

    public int logMode()
    {
        return logMode;
    }

    void setLogMode(final int mode)
    {
        this.logMode = mode;
    }

    /**
     * Largest level at which {@code gfn} may be mapped (kernel: kvm_mmu_max_mapping_level): the
     * backing's level, lowered until the aligned block around {@code gfn} lies wholly inside the
     * slot; 4 KiB while dirty logging is on. Host huge pages are aligned to guest-physical
     * addresses (as QEMU aligns its hva to the gpa), so alignment never lowers it further.
     */
    public int maxMappingLevel(final long gfn)
    {
        if (dirtyLogging())
        {
            return Spte.PG_LEVEL_4K;
        }
        return maxLevelIgnoringLog(gfn);
    }

    /** As {@link #maxMappingLevel} but as if dirty logging were off (for huge-page recovery). */
    public int maxLevelIgnoringLog(final long gfn)
    {
        int level = rootLevel;
        while (level > Spte.PG_LEVEL_4K)
        {
            final long start = Spte.roundGfn(gfn, level);
            if (canMapBlockSize(Spte.pagesPerLevel(level) << 12) && start >= baseGfn &&
                start + Spte.pagesPerLevel(level) <= baseGfn + npages)
            {
                break;
            }
            level--;
        }
        return level;
    }

    /**
     * The one rule for mapping sizes: a block of {@code bytes} may be mapped in this slot only if
     * the paging structure has a level whose entries are that size (4 KiB · 512^k with k below the
     * root level) and the host backing page is at least that large. Nothing else special-cases a
     * level, so 4- and 5-level paging differ only in the levels that exist.
     */
    public boolean canMapBlockSize(final long bytes)
    {
        if (bytes < 4096 || Long.bitCount(bytes) != 1 || (Long.numberOfTrailingZeros(bytes) - 12) % Spte.LEVEL_BITS != 0)
        {
            return false;
        }
        final int level = 1 + (Long.numberOfTrailingZeros(bytes) - 12) / Spte.LEVEL_BITS;
        return level <= rootLevel && bytes <= backing.pages() << 12;
    }

    @Override
    public String toString()
    {
        return "memslot " + id + " [gfn 0x" + Long.toHexString(baseGfn) + ", 0x" + Long.toHexString(endGfn()) +
            ") " + backing + (invalid ? " (invalid)" : "");
    }
}
