package org.tdpmmu.core;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import org.agrona.BufferUtil;
import org.agrona.UnsafeApi;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * Off-heap page-table pages: 4 KiB each, 512 SPTEs, held in chunks of direct memory so the store
 * can grow past 2 GiB (kernel analogue: the pages behind kvm_mmu_page.spt, from
 * mmu_page_header_cache / __get_free_page).
 *
 * <p>Each page has a pfn in a host-physical range of its own, starting at {@link #PFN_BASE} so a
 * table pfn can never be mistaken for guest RAM. A page is referred to by that pfn everywhere,
 * exactly as a non-leaf SPTE refers to its child.
 *
 * <p><b>The one door.</b> Every SPTE access goes through the four accessors below; the ordering is
 * in the name (JCTools style): {@code lv} load-volatile (the kernel's READ_ONCE, strengthened),
 * {@code so} store-ordered/release (WRITE_ONCE of a value no-one races on), {@code cmpxchg}
 * (try_cmpxchg64, returns the witness) and {@code xchg} (xchg). Each one checks the pfn and index
 * and, after the access, that the page is still live: an access that overlaps a free is reported
 * as a {@link UseAfterFreeException} naming the pfn. The generation-checked read lets a walker
 * that remembered a table's generation also catch a page freed and reused under it.
 *
 * <p>Two bulk accessors check the pfn, the arguments and the page's liveness once, not per entry:
 * {@link #fillSplitChildren} writes a whole table that no other thread can reach yet, and
 * {@link #copyTable} reads a snapshot of one.
 *
 * <p>Freeing poisons every entry with release stores after the page was marked free with a
 * volatile CAS, so a reader whose volatile read returns poison always sees the page as freed.
 */
public final class PageTableStore
{
    /** First pfn of the page-table range (bit 36: above any guest RAM the host model hands out). */
    public static final long PFN_BASE = 1L << 36;
    /** Written over a freed page (the kernel's slab POISON_FREE byte, 0x6b). */
    public static final long POISON = 0x6b6b6b6b6b6b6b6bL;
    public static final int PAGE_SIZE = 4096;
    public static final int PAGE_SHIFT = 12;
    /** Largest chunk: 8192 pages, 32 MiB of direct memory. */
    public static final int MAX_CHUNK_SHIFT = 13;

    private static final VarHandle META = MethodHandles.arrayElementVarHandle(long[].class);
    private static final long LONG_ARRAY_BASE = UnsafeApi.arrayBaseOffset(long[].class);
    private static final long LIVE = 1L;

    private final int capacity;
    private final int chunkShift;
    private final int chunkMask;
    private final UnsafeBuffer[] chunks;
    /** Per page: generation << 1 | live. Accessed only through {@link #META}, volatile. */
    private final long[] meta;
    /** Free stack links: index + 1 of the next free page, 0 ends the list. */
    private final int[] nextFree;
    /** Treiber stack head: tag << 32 | (index + 1); the tag defeats ABA. */
    private final AtomicLong freeHead = new AtomicLong();
    /** Pages below this index have been handed out at least once (their chunk exists). */
    private final AtomicInteger highWater = new AtomicInteger();
    private final AtomicLong live = new AtomicLong();
    private final AtomicLong peak = new AtomicLong();
    private final AtomicLong allocated = new AtomicLong();
    private final AtomicLong freed = new AtomicLong();
    /** {@link FaultInjection#NONE} outside tests; compared by reference on every allocation. */
    private final FaultInjection faults;
    /** What every entry of a new page holds (kernel: mmu_shadow_page_cache.init_value). */
    private final long initValue;

    /**
     * @param capacityPages the most pages the store will hand out at once (1..2^30).
     */
    public PageTableStore(final int capacityPages)
    {
        this(capacityPages, FaultInjection.NONE);
    }

    /**
     * @param capacityPages the most pages the store will hand out at once (1..2^30).
     * @param faults        a test hook that fails a chosen allocation, or {@link FaultInjection#NONE}.
     */
    public PageTableStore(final int capacityPages, final FaultInjection faults)
    {
        this(capacityPages, faults, Spte.NONPRESENT);
    }

    /**
     * @param capacityPages the most pages the store will hand out at once (1..2^30).
     * @param faults        a test hook that fails a chosen allocation, or {@link FaultInjection#NONE}.
     * @param initValue     every entry of a newly allocated page: the layout's non-present value,
     *                      {@link Spte#NONPRESENT} (pre-6.11) or {@link Spte#NONPRESENT_SVE}. Non-zero
     *                      costs a 512-entry fill per allocation where zero needs none on a fresh
     *                      page, as the kernel's memset64 against __GFP_ZERO.
     */
    public PageTableStore(final int capacityPages, final FaultInjection faults, final long initValue)
    {
        if (!Spte.isNonPresentValue(initValue))
        {
            throw new IllegalArgumentException("initValue=0x" + Long.toHexString(initValue) +
                " is not a non-present value (0 or bit 63)");
        }
        this.initValue = initValue;
        this.faults = java.util.Objects.requireNonNull(faults, "faults (use FaultInjection.NONE)");
        if (capacityPages < 1 || capacityPages > (1 << 30))
        {
            throw new IllegalArgumentException("capacityPages=" + capacityPages + " is out of range 1..2^30");
        }
        this.capacity = capacityPages;
        final int needShift = 32 - Integer.numberOfLeadingZeros(capacityPages - 1);
        this.chunkShift = Math.min(needShift, MAX_CHUNK_SHIFT);
        this.chunkMask = (1 << chunkShift) - 1;
        this.chunks = new UnsafeBuffer[(capacityPages + chunkMask) >>> chunkShift];
        this.meta = new long[capacityPages];
        this.nextFree = new int[capacityPages];
    }

    /** The value every entry of a new page starts with. */
    public long initValue()
    {
        return initValue;
    }

    /**
     * Allocates a page with every entry {@link #initValue()}.
     *
     * @return the page's pfn.
     * @throws OutOfTablesException when every page is in use, or the fault-injection hook fails
     *         this allocation; nothing changes then.
     */
    public long allocate()
    {
        if (faults != FaultInjection.NONE)
        {
            final String injected = faults.check(FaultInjection.Site.PAGE_TABLE);
            if (injected != null)
            {
                throw new OutOfTablesException(injected);
            }
        }
        int index = popFree();
        if (index < 0)
        {
            index = bumpFresh();
            if (index < 0)
            {
                throw new OutOfTablesException("page-table store exhausted: capacity=" + capacity +
                    " pages, live=" + live.get());
            }
        }
        else if (initValue == 0L)
        {
            // Poisoned by free(); nobody can reach the page until we publish it below and the
            // caller links it with a cmpxchg, so plain zeroing suffices.
            buffer(index).setMemory(pageOffset(index), PAGE_SIZE, (byte)0);
        }
        if (initValue != 0L)
        {
            // Fresh (zero) or poisoned: plain stores for the same reason as the zeroing above.
            final UnsafeBuffer b = buffer(index);
            final int base = pageOffset(index);
            for (int i = 0; i < Spte.ENTRIES_PER_TABLE; i++)
            {
                b.putLong(base + (i << 3), initValue);
            }
        }
        final long m = (long)META.getVolatile(meta, index);
        META.setVolatile(meta, index, m | LIVE);
        allocated.incrementAndGet();
        final long nowLive = live.incrementAndGet();
        long p;
        while (nowLive > (p = peak.get()) && !peak.compareAndSet(p, nowLive))
        {
            Thread.onSpinWait();
        }
        return PFN_BASE + index;
    }

    /**
     * Frees a page: marks it free (generation + 1), poisons it, returns it to the free list.
     * Callers that unlinked a table other threads may still walk must defer this through RCU.
     *
     * @throws IllegalStateException on a double free, naming the pfn.
     */
    public void free(final long tablePfn)
    {
        final int index = checkPfn(tablePfn);
        final long m = (long)META.getVolatile(meta, index);
        if ((m & LIVE) == 0 || !META.compareAndSet(meta, index, m, (m + 2) & ~LIVE))
        {
            throw new IllegalStateException("double free of table pfn 0x" + Long.toHexString(tablePfn) +
                " (generation " + (m >>> 1) + ")");
        }
        final UnsafeBuffer buffer = buffer(index);
        final int base = pageOffset(index);
        for (int i = 0; i < Spte.ENTRIES_PER_TABLE; i++)
        {
            buffer.putLongRelease(base + (i << 3), POISON);
        }
        freed.incrementAndGet();
        live.decrementAndGet();
        pushFree(index);
    }

    /** Load-volatile of entry {@code index} of {@code tablePfn} (READ_ONCE). */
    public long lvSpte(final long tablePfn, final int index)
    {
        final int page = checkPfn(tablePfn);
        checkIndex(index);
        final long value = buffer(page).getLongVolatile(pageOffset(page) + (index << 3));
        checkLive(page, tablePfn, index, value);
        return value;
    }

    /**
     * Load-volatile that also checks the page is still the generation the caller found it at: a
     * page freed and reused under a walker is a use after free as much as a poisoned one.
     */
    public long lvSpte(final long tablePfn, final long generation, final int index)
    {
        final int page = checkPfn(tablePfn);
        checkIndex(index);
        final long value = buffer(page).getLongVolatile(pageOffset(page) + (index << 3));
        final long m = (long)META.getVolatile(meta, page);
        if (m != ((generation << 1) | LIVE))
        {
            throw useAfterFree(tablePfn, index, m, value, "generation " + generation);
        }
        return value;
    }

    /** Store-release of entry {@code index}: for entries no other thread can change concurrently. */
    public void soSpte(final long tablePfn, final int index, final long value)
    {
        final int page = checkPfn(tablePfn);
        checkIndex(index);
        checkLive(page, tablePfn, index, value);
        buffer(page).putLongRelease(pageOffset(page) + (index << 3), value);
        checkLive(page, tablePfn, index, value);
    }

    /**
     * Writes all 512 entries of {@code tablePfn} with the children of the huge leaf {@code hugeSpte}
     * at {@code hugeLevel}: entry i is {@link Spte#makeSplitChild}{@code (hugeSpte, hugeLevel, i)}
     * (kernel: the loop of tdp_mmu_split_huge_page over make_huge_page_split_spte, filling the sp
     * that tdp_mmu_alloc_sp_for_split / tdp_mmu_init_child_sp prepared).
     *
     * <p>Ordering: plain stores, no fence. The table must be private to the caller: allocated and not
     * yet linked, so no other thread holds its pfn. It becomes reachable only through the cmpxchg of
     * its parent entry (kernel: tdp_mmu_link_sp, tdp_mmu_set_spte_atomic), whose volatile semantics
     * order these stores before the link; every walker reads the parent entry with a volatile load
     * before it enters the table, so it sees the children. Checks: the pfn and the arguments once,
     * the page's liveness before and after the stores (a free racing with the fill is a use after
     * free).
     *
     * @throws IllegalArgumentException for a pfn outside the store, a level other than 2 or 3, or a
     *         {@code hugeSpte} that is not a present huge leaf with a pfn aligned to its page size.
     */
    public void fillSplitChildren(final long tablePfn, final long hugeSpte, final int hugeLevel)
    {
        final int page = checkPfn(tablePfn);
        if (hugeLevel != Spte.PG_LEVEL_2M && hugeLevel != Spte.PG_LEVEL_1G)
        {
            throw new IllegalArgumentException("split of a level-" + hugeLevel + " leaf into table pfn 0x" +
                Long.toHexString(tablePfn) + ": only levels 2 (2 MiB) and 3 (1 GiB) are huge pages");
        }
        if (!Spte.isPresent(hugeSpte) || !Spte.isLarge(hugeSpte) ||
            (Spte.pfn(hugeSpte) & (Spte.pagesPerLevel(hugeLevel) - 1)) != 0)
        {
            throw new IllegalArgumentException("split into table pfn 0x" + Long.toHexString(tablePfn) +
                ": not a present huge leaf with an aligned pfn: " + Spte.describe(hugeSpte, hugeLevel));
        }
        checkLive(page, tablePfn, 0, hugeSpte);
        // The huge pfn is aligned, so adding the child stride never carries out of the pfn field:
        // entry i = entry 0 + i * stride is exactly makeSplitChild(hugeSpte, hugeLevel, i).
        final long first = Spte.makeSplitChild(hugeSpte, hugeLevel, 0);
        final long stride = Spte.pagesPerLevel(hugeLevel - 1) << Spte.PFN_SHIFT;
        final UnsafeBuffer buffer = buffer(page);
        final Object base = buffer.byteArray();
        final long address = buffer.addressOffset() + pageOffset(page);
        long child = first;
        for (int i = 0; i < Spte.ENTRIES_PER_TABLE; i++)
        {
            // Plain store: the table is not yet published (see above); the link's cmpxchg is the release.
            UnsafeApi.putLong(base, address + ((long)i << 3), child);
            child += stride;
        }
        checkLive(page, tablePfn, Spte.ENTRIES_PER_TABLE - 1, first + (Spte.ENTRIES_PER_TABLE - 1) * stride);
    }

    /**
     * Clears {@code bit} (W or D) in the present 4 KiB leaves among entries {@code first .. first + 63}
     * of the leaf table {@code tablePfn} that {@code mask} selects (bit k selects entry first + k);
     * the caller holds the MMU lock for write (kernel: the loop of clear_dirty_pt_masked, each entry
     * through tdp_mmu_clear_spte_bits).
     *
     * <p>Ordering: each selected entry is read once with an opaque load (READ_ONCE). A leaf that
     * hardware or the fast path may still change ({@link Spte#needAtomicWrite}) is cleared with a
     * cmpxchg loop, so an A or D bit set meanwhile is kept; any other with an opaque store
     * (WRITE_ONCE), because under the write lock nobody else can change it (kvm_tdp_mmu_write_spte's
     * rule). A fully selected word whose 64 entries are all written leaves ({@link
     * Spte#STABLE_DIRTY_LEAF}) is tested in one pass and cleared in a second: none of them has a
     * volatile bit, so none can change in between. No release: the entries publish nothing, and
     * the caller must flush remote TLBs before dropping the lock, whose request store orders these
     * before any vCPU's refill. Checks: the pfn, the range and the bit once, the page live before
     * and after (a free overlapping the loop is a use after free).
     *
     * @return the selected entries whose bit this call cleared, in {@code mask}'s numbering.
     * @throws IllegalArgumentException for a pfn outside the store, a mask reaching past entry 511,
     *         or a bit other than {@link Spte#WRITABLE} or {@link Spte#DIRTY}.
     */
    public long clearLeafBitsMasked(final long tablePfn, final int first, final long mask, final long bit)
    {
        final int page = checkPfn(tablePfn);
        if (first < 0 || first >= Spte.ENTRIES_PER_TABLE ||
            (mask != 0 && first + 63 - Long.numberOfLeadingZeros(mask) >= Spte.ENTRIES_PER_TABLE))
        {
            throw new IllegalArgumentException("masked clear of table pfn 0x" + Long.toHexString(tablePfn) +
                ": entries from " + first + " selected by mask 0x" + Long.toHexString(mask) + " reach past entry " +
                (Spte.ENTRIES_PER_TABLE - 1));
        }
        if (bit != Spte.WRITABLE && bit != Spte.DIRTY)
        {
            throw new IllegalArgumentException("masked clear of table pfn 0x" + Long.toHexString(tablePfn) +
                ": bit 0x" + Long.toHexString(bit) + " is neither W (0x2) nor D (0x200)");
        }
        checkLive(page, tablePfn, first, mask);
        final UnsafeBuffer buffer = buffer(page);
        final Object base = buffer.byteArray();
        final long address = buffer.addressOffset() + pageOffset(page) + ((long)first << 3);
        long cleared = 0;
        if (mask == -1L && allWrittenLeaves(base, address))
        {
            // The usual case when every page was written. None of the 64 has a volatile bit, so none
            // can change under the write lock between the two passes; the second re-reads each
            // entry (in L1 now) and stores it without W or D, with no test or branch per entry:
            // ~80 instead of ~140 µs for the 512 tables of 1 GiB.
            for (int k = 0; k < 64; k++)
            {
                final long at = address + ((long)k << 3);
                UnsafeApi.putLongOpaque(base, at, UnsafeApi.getLongOpaque(base, at) & ~bit);
            }
            cleared = -1L;
        }
        else if (mask == -1L)
        {
            // A whole word selected: a counted loop, without the bit scan.
            for (int k = 0; k < 64; k++)
            {
                cleared |= clearLeafBitAt(base, address + ((long)k << 3), bit) << k;
            }
        }
        else
        {
            for (long left = mask; left != 0; left &= left - 1)
            {
                final int k = Long.numberOfTrailingZeros(left);
                cleared |= clearLeafBitAt(base, address + ((long)k << 3), bit) << k;
            }
        }
        checkLive(page, tablePfn, first + 63 - Long.numberOfLeadingZeros(mask | 1), cleared);
        return cleared;
    }

    /**
     * True if each of the 64 entries from {@code address} is a written leaf ({@link
     * Spte#STABLE_DIRTY_LEAF} all set): one pass of opaque reads, AND-ed so no branch per entry.
     */
    private static boolean allWrittenLeaves(final Object base, final long address)
    {
        long all = Spte.STABLE_DIRTY_LEAF;
        for (int k = 0; k < 64; k++)
        {
            all &= UnsafeApi.getLongOpaque(base, address + ((long)k << 3));
        }
        return all == Spte.STABLE_DIRTY_LEAF;
    }

    /**
     * One entry of {@link #clearLeafBitsMasked}: read once (READ_ONCE: opaque); a leaf a guest
     * write left, with nothing volatile in it, is decided by one test and cleared with an opaque
     * store (WRITE_ONCE), any other goes through {@link #clearLeafBit}. No release is needed: the
     * entry publishes nothing, and the caller's TLB flush orders the stores before any vCPU refill.
     *
     * @return 1 if this call cleared the bit, else 0.
     */
    private static long clearLeafBitAt(final Object base, final long at, final long bit)
    {
        final long old = UnsafeApi.getLongOpaque(base, at);
        if ((old & Spte.STABLE_DIRTY_LEAF) == Spte.STABLE_DIRTY_LEAF)
        {
            UnsafeApi.putLongOpaque(base, at, old & ~bit);
            return 1;
        }
        return clearLeafBit(base, at, old, bit) ? 1 : 0;
    }

    /**
     * {@link #clearLeafBitsMasked}'s rule for one entry read as {@code old}: nothing to do unless a
     * present leaf with {@code bit} set; an opaque store if nothing else may change it, else a
     * cmpxchg loop. Out of the loop so the loop stays small enough to inline and unroll.
     *
     * @return true if this call cleared the bit.
     */
    private static boolean clearLeafBit(final Object base, final long at, final long old, final long bit)
    {
        long current = old;
        while (Spte.isPresentLeaf(current, Spte.PG_LEVEL_4K) && (current & bit) != 0)
        {
            // Either aging mode's rule may apply (the store does not know the VM's): a plain store
            // only where neither calls for an atomic (the union differs only on A/D-disabled leaves).
            if (!Spte.needAtomicWrite(current, Spte.PG_LEVEL_4K, false) &&
                !Spte.needAtomicWrite(current, Spte.PG_LEVEL_4K, true))
            {
                UnsafeApi.putLongOpaque(base, at, current & ~bit);
                return true;
            }
            final long witness = UnsafeApi.compareAndExchangeLong(base, at, current, current & ~bit);
            if (witness == current)
            {
                return true;
            }
            current = witness;
        }
        return false;
    }

    /**
     * Copies all 512 entries of {@code tablePfn} into {@code dst[0..512)}: a snapshot for a sweep
     * that reads a whole table (kernel: the READ_ONCE of each child SPTE by a tdp_iter walk over
     * the table, as tdp_mmu_make_huge_spte does before an in-place promotion).
     *
     * <p>Ordering: each entry is read once and whole (an 8-byte-aligned copy moves {@code long}
     * units, as {@code Unsafe.copyMemory} specifies), with no order among entries: the same as 512
     * separate READ_ONCEs that other threads' atomic updates may interleave with. Then an acquire
     * fence, so a table the caller enters through a pfn found in the copy is seen initialised (it
     * pairs with the cmpxchg that linked that table). Checks: the pfn and the array once; the page
     * live before the copy and at the same generation after it (a free, or a free and reuse,
     * overlapping the copy is a use after free).
     *
     * @throws IllegalArgumentException for a pfn outside the store or an array shorter than 512.
     */
    public void copyTable(final long tablePfn, final long[] dst)
    {
        final int page = checkPfn(tablePfn);
        if (dst.length < Spte.ENTRIES_PER_TABLE)
        {
            throw new IllegalArgumentException("copy of table pfn 0x" + Long.toHexString(tablePfn) + " into " +
                dst.length + " longs: a table has " + Spte.ENTRIES_PER_TABLE);
        }
        final long before = (long)META.getVolatile(meta, page);
        if ((before & LIVE) == 0)
        {
            throw useAfterFree(tablePfn, 0, before, 0L, "a live page");
        }
        final UnsafeBuffer buffer = buffer(page);
        UnsafeApi.copyMemory(buffer.byteArray(), buffer.addressOffset() + pageOffset(page), dst, LONG_ARRAY_BASE,
            PAGE_SIZE);
        VarHandle.acquireFence();
        final long after = (long)META.getVolatile(meta, page);
        if (after != before)
        {
            throw useAfterFree(tablePfn, 0, after, dst[0], "generation " + (before >>> 1) + " throughout the copy");
        }
    }

    /**
     * Compare-and-exchange of entry {@code index} (kernel: try_cmpxchg64).
     *
     * @return the value found: {@code expected} on success, the current value on failure.
     */
    public long cmpxchgSpte(final long tablePfn, final int index, final long expected, final long update)
    {
        final int page = checkPfn(tablePfn);
        checkIndex(index);
        final long witness = buffer(page).compareAndExchangeLong(pageOffset(page) + (index << 3), expected, update);
        checkLive(page, tablePfn, index, witness);
        return witness;
    }

    /**
     * Atomically clears {@code bits} in entry {@code index} if it is present (kernel:
     * tdp_mmu_clear_spte_bits_atomic, an atomic64_fetch_and): a cmpxchg loop, which like the
     * fetch-and never gives up, so a bit another thread sets meanwhile is kept. Decision: a
     * non-present or frozen value is left alone (the kernel's fetch-and would clear bit 8 of a
     * value frozen after the caller's snapshot; here the owner of the frozen entry keeps it whole).
     *
     * @return the value before.
     */
    public long clearBitsAtomic(final long tablePfn, final int index, final long bits)
    {
        final int page = checkPfn(tablePfn);
        checkIndex(index);
        final UnsafeBuffer buffer = buffer(page);
        final int offset = pageOffset(page) + (index << 3);
        long old = buffer.getLongVolatile(offset);
        while (Spte.isPresent(old) && (old & bits) != 0)
        {
            final long witness = buffer.compareAndExchangeLong(offset, old, old & ~bits);
            if (witness == old)
            {
                break;
            }
            old = witness;
        }
        checkLive(page, tablePfn, index, old);
        return old;
    }

    /** Atomic exchange of entry {@code index} (kernel: xchg). @return the previous value. */
    public long xchgSpte(final long tablePfn, final int index, final long update)
    {
        final int page = checkPfn(tablePfn);
        checkIndex(index);
        final long old = buffer(page).getAndSetLong(pageOffset(page) + (index << 3), update);
        checkLive(page, tablePfn, index, old);
        return old;
    }

    /** Current generation of a page (bumped at every free). */
    public long generation(final long tablePfn)
    {
        return ((long)META.getVolatile(meta, checkPfn(tablePfn))) >>> 1;
    }

    /** True when the page is allocated now. */
    public boolean isLive(final long tablePfn)
    {
        return ((long)META.getVolatile(meta, checkPfn(tablePfn)) & LIVE) != 0;
    }

    /** True if {@code pfn} lies in this store's range (allocated or not). */
    public boolean ownsPfn(final long pfn)
    {
        return pfn >= PFN_BASE && pfn < PFN_BASE + capacity;
    }

    public int capacity()
    {
        return capacity;
    }

    public long allocatedCount()
    {
        return allocated.get();
    }

    public long freedCount()
    {
        return freed.get();
    }

    public long liveCount()
    {
        return live.get();
    }

    public long peakLive()
    {
        return peak.get();
    }

    /** Direct memory reserved so far, in bytes (chunks are created on first use). */
    public long offHeapBytes()
    {
        final int pagesTouched = highWater.get();
        final int chunkCount = (pagesTouched + chunkMask) >>> chunkShift;
        // The last chunk is cut to the capacity (ensureChunk), so it may hold fewer pages.
        return Math.min((long)chunkCount << chunkShift, capacity) << PAGE_SHIFT;
    }

    private int popFree()
    {
        while (true)
        {
            final long head = freeHead.get();
            final int top = (int)head;
            if (top == 0)
            {
                return -1;
            }
            // nextFree[top - 1] was written before the push's CAS that our volatile get observed.
            final long next = nextFree[top - 1] & 0xffffffffL;
            final long newHead = (((head >>> 32) + 1) << 32) | next;
            if (freeHead.compareAndSet(head, newHead))
            {
                return top - 1;
            }
        }
    }

    private void pushFree(final int index)
    {
        while (true)
        {
            final long head = freeHead.get();
            nextFree[index] = (int)head;
            final long newHead = (((head >>> 32) + 1) << 32) | (index + 1L);
            if (freeHead.compareAndSet(head, newHead))
            {
                return;
            }
        }
    }

    private int bumpFresh()
    {
        while (true)
        {
            final int index = highWater.get();
            if (index >= capacity)
            {
                return -1;
            }
            ensureChunk(index >>> chunkShift);
            if (highWater.compareAndSet(index, index + 1))
            {
                return index;
            }
        }
    }

    private synchronized void ensureChunk(final int chunk)
    {
        // Chunks are created before any page in them is handed out; every later reader got the
        // page's pfn through a volatile SPTE read or a CAS, which orders it after this store.
        if (chunks[chunk] == null)
        {
            final int pages = Math.min(1 << chunkShift, capacity - (chunk << chunkShift));
            final ByteBuffer bytes = BufferUtil.allocateDirectAligned(pages << PAGE_SHIFT, PAGE_SIZE);
            chunks[chunk] = new UnsafeBuffer(bytes);
        }
    }

    private UnsafeBuffer buffer(final int page)
    {
        return chunks[page >>> chunkShift];
    }

    private int pageOffset(final int page)
    {
        return (page & chunkMask) << PAGE_SHIFT;
    }

    private int checkPfn(final long tablePfn)
    {
        final long index = tablePfn - PFN_BASE;
        if (index < 0 || index >= highWater.get())
        {
            throw new IllegalArgumentException("table pfn 0x" + Long.toHexString(tablePfn) +
                " is not a page of this store (range 0x" + Long.toHexString(PFN_BASE) + "..0x" +
                Long.toHexString(PFN_BASE + highWater.get()) + ")");
        }
        return (int)index;
    }

    private static void checkIndex(final int index)
    {
        if (index < 0 || index >= Spte.ENTRIES_PER_TABLE)
        {
            throw new IllegalArgumentException("SPTE index " + index + " is out of range 0..511");
        }
    }

    private void checkLive(final int page, final long tablePfn, final int index, final long value)
    {
        final long m = (long)META.getVolatile(meta, page);
        if ((m & LIVE) == 0)
        {
            throw useAfterFree(tablePfn, index, m, value, "a live page");
        }
    }

    private static UseAfterFreeException useAfterFree(
        final long tablePfn, final int index, final long meta, final long value, final String expected)
    {
        return new UseAfterFreeException(tablePfn, "use after free: table pfn 0x" + Long.toHexString(tablePfn) +
            " index " + index + " is " + ((meta & LIVE) == 0 ? "freed" : "live") + " at generation " +
            (meta >>> 1) + ", expected " + expected + "; value read 0x" + Long.toHexString(value));
    }
}
