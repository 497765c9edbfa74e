package org.tdpmmu.core;

/**
 * Maps a GFN range up front with the largest mappings that fit (kernel: KVM_PRE_FAULT_MEMORY,
 * kvm_arch_vcpu_pre_fault_memory → kvm_tdp_map_page; the same need as mapping an identity range
 * for an in-kernel VM).
 *
 * <p>For each address, the block is the largest size that the slot's {@link
 * Memslot#canMapBlockSize rule} allows whose aligned block starts there and lies inside the range
 * and the memslot. The whole plan is validated and the table memory for the whole range reserved
 * (an upper bound: every table the blocks could need if nothing were mapped) before anything is
 * mapped, so a bad range or an exhausted store changes nothing. Each block is one walk; an address
 * already mapped by a valid leaf is left alone and counted, never mapped twice; a block whose entry
 * is already a table is filled with the next smaller blocks inside that table.
 */
public final class Prefault
{
    /** What one pre-fault did. */
    public record Result(long[] blocksPerLevel, long pagesAlreadyMapped, long tablesReserved, long tablesUsed,
                         long tablesReturned, long retries)
    {
        /** Blocks mapped at {@code level} (1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB). */
        public long blocks(final int level)
        {
            return blocksPerLevel[level];
        }
    }

    private static final int MAX_RETRIES_PER_BLOCK = 10_000;
    private static final int MAPPED = 0;
    private static final int ALREADY = 1;
    private static final int RETRY = 2;

    private final TdpMmu mmu;
    private final TdpIter iter;

    public Prefault(final Vm vm)
    {
        this.mmu = vm.mmu();
        this.iter = new TdpIter(mmu.store());
    }

    /**
     * Pre-faults guest-physical [startGpa, endGpa).
     *
     * @throws IllegalArgumentException for a range that is not 4 KiB aligned, empty, or not wholly
     *                                  inside memslots; nothing is mapped then.
     * @throws OutOfTablesException     when the store cannot hold the reservation; nothing is mapped.
     *                                  Also, rarely, when dirty logging went on since the plan and a
     *                                  block mapped as smaller blocks needs a table beyond it: then the
     *                                  blocks before it stay mapped, each whole (the kernel's
     *                                  KVM_PRE_FAULT_MEMORY returns -ENOMEM after partial progress too).
     */
    public Result prefault(final long startGpa, final long endGpa)
    {
        if ((startGpa & 4095) != 0 || (endGpa & 4095) != 0 || startGpa < 0 || endGpa <= startGpa)
        {
            throw new IllegalArgumentException("pre-fault range [0x" + Long.toHexString(startGpa) + ", 0x" +
                Long.toHexString(endGpa) + ") must be non-empty and 4 KiB aligned");
        }
        final long start = startGpa >>> 12;
        final long end = endGpa >>> 12;
        final long reserve = planTables(start, end);
        final MmuMemoryCache cache = new MmuMemoryCache(mmu.store(), (int)Math.max(1, Math.min(reserve, 1 << 20)),
            mmu.counters());
        try
        {
            cache.topup((int)reserve);
        }
        catch (final OutOfTablesException e)
        {
            cache.free();
            throw e;
        }
        final long[] perLevel = new long[Spte.MAX_LEVEL + 1];
        long already = 0;
        long retries = 0;
        try
        {
            long gfn = start;
            while (gfn < end)
            {
                final Memslot slot = mmu.slots().find(gfn);
                final int level = blockLevel(slot, gfn, end);
                final long[] outcome = new long[2];
                retries += mapBlock(cache, slot, gfn, level, perLevel, outcome);
                already += outcome[0];
                gfn += Spte.pagesPerLevel(level);
            }
        }
        finally
        {
            cache.free();
        }
        return new Result(perLevel, already, reserve, cache.taken(), cache.returnedUnused(), retries);
    }

    /** Largest block level starting at {@code gfn} inside [gfn, end) and the slot. */
    static int blockLevel(final Memslot slot, final long gfn, final long end)
    {
        for (int level = slot.maxMappingLevel(gfn); level > Spte.PG_LEVEL_4K; level--)
        {
            final long pages = Spte.pagesPerLevel(level);
            if ((gfn & (pages - 1)) == 0 && gfn + pages <= end && gfn + pages <= slot.endGfn())
            {
                return level;
            }
        }
        return Spte.PG_LEVEL_4K;
    }

    /**
     * Validates that every block lies in a memslot and counts the tables the blocks could need:
     * for each table level t, the distinct level-t tables that blocks of level <= t pass through.
     */
    private long planTables(final long start, final long end)
    {
        final int rootLevel = mmu.rootLevel();
        final long[] lastPrefix = new long[rootLevel];
        java.util.Arrays.fill(lastPrefix, -1);
        long tables = 0;
        long gfn = start;
        while (gfn < end)
        {
            final Memslot slot = mmu.slots().find(gfn);
            if (slot == null)
            {
                throw new IllegalArgumentException("pre-fault range: gfn 0x" + Long.toHexString(gfn) +
                    " is in no memslot; nothing was mapped");
            }
            final int level = blockLevel(slot, gfn, end);
            for (int t = level; t < rootLevel; t++)
            {
                final long prefix = gfn >>> (Spte.LEVEL_BITS * t);
                if (prefix != lastPrefix[t])
                {
                    lastPrefix[t] = prefix;
                    tables++;
                }
            }
            gfn += Spte.pagesPerLevel(level);
        }
        return tables;
    }

    /** Maps one block, retrying lost races and stale samples. @return retries taken. */
    private long mapBlock(final MmuMemoryCache cache, final Memslot slot, final long gfn, final int level,
        final long[] perLevel, final long[] outcome)
    {
        boolean split = false;
        for (int attempt = 0; attempt < MAX_RETRIES_PER_BLOCK; attempt++)
        {
            if (!mmu.hasValidRoot())
            {
                // A fast invalidation left no valid root (kernel: KVM_PRE_FAULT_MEMORY starts with
                // kvm_mmu_reload). Load one as a vCPU would and drop the reference at once: the
                // TDP MMU's own keeps a valid root alive.
                mmu.roots().unload(mmu.roots().load());
            }
            final long mmuSeq = mmu.invalidation().sample();
            final long pfn = mmu.host().resolvePfn(slot, gfn);
            mmu.hook(TestHook.Point.FAULT_AFTER_PFN_RESOLVED, gfn);
            mmu.lock().readLock();
            try
            {
                if (mmu.invalidation().retry(mmuSeq, gfn) || !mmu.hasValidRoot())
                {
                    continue;
                }
                if (slot.maxMappingLevel(gfn) < level)
                {
                    // Dirty logging went on since the plan: the level is decided under the lock,
                    // as a fault does, so map the block as the next smaller blocks instead.
                    split = true;
                    break;
                }
                if (mapLocked(cache, slot, gfn, pfn, level, perLevel, outcome) != RETRY)
                {
                    mmu.counters().prefaultBlocks.increment();
                    return attempt;
                }
            }
            finally
            {
                mmu.lock().readUnlock();
            }
        }
        if (!split)
        {
            throw new IllegalStateException("pre-fault of gfn 0x" + Long.toHexString(gfn) + " kept losing races (" +
                MAX_RETRIES_PER_BLOCK + " tries)");
        }
        long retries = 0;
        final long pages = Spte.pagesPerLevel(level - 1);
        for (int i = 0; i < Spte.ENTRIES_PER_TABLE; i++)
        {
            // Smaller blocks may need a table the plan did not reserve: top up outside the lock.
            cache.topup(mmu.rootLevel());
            retries += mapBlock(cache, slot, gfn + i * pages, level - 1, perLevel, outcome);
        }
        return retries;
    }

    /** One walk for one block, under the read lock (kernel: kvm_tdp_mmu_map with a fixed goal level). */
    private int mapLocked(final MmuMemoryCache cache, final Memslot slot, final long gfn, final long pfn,
        final int level, final long[] perLevel, final long[] outcome)
    {
        mmu.rcu().readLock();
        try
        {
            for (iter.start(mmu.rootPfn(), mmu.rootLevel(), level, gfn, gfn + 1); iter.valid(); iter.next())
            {
                final long old = iter.oldSpte();
                if (Spte.isFrozen(old))
                {
                    return RETRY;
                }
                if (Spte.isPresentLeaf(old, iter.level()))
                {
                    // Mapped already (by a fault or an overlapping pre-fault): leave it alone.
                    outcome[0] += Spte.pagesPerLevel(level);
                    mmu.counters().prefaultAlreadyMapped.increment();
                    return ALREADY;
                }
                if (iter.level() == level)
                {
                    if (Spte.isPresent(old))
                    {
                        return fillInside(cache, slot, gfn, pfn, level, perLevel, outcome);
                    }
                    final long leaf = Spte.makeLeaf(pfn & -Spte.pagesPerLevel(level), level,
                        TdpMmu.leafFlags(slot, false) | mmu.adFlag());
                    if (!mmu.setSpteAtomic(iter, leaf))
                    {
                        return RETRY;
                    }
                    perLevel[level]++;
                    return MAPPED;
                }
                if (Spte.isPresent(old))
                {
                    continue;
                }
                final long child = cache.take();
                if (!mmu.setSpteAtomic(iter, Spte.makeNonLeaf(child, mmu.presentExtra())))
                {
                    cache.giveBack(child);
                    return RETRY;
                }
                mmu.counters().tablesLinked.increment();
            }
            return RETRY;
        }
        finally
        {
            mmu.rcu().readUnlock();
        }
    }

    /** The block's entry is a table already: map the next smaller blocks inside it, one walk each. */
    private int fillInside(final MmuMemoryCache cache, final Memslot slot, final long gfn, final long pfn,
        final int level, final long[] perLevel, final long[] outcome)
    {
        final long pages = Spte.pagesPerLevel(level - 1);
        for (int i = 0; i < Spte.ENTRIES_PER_TABLE; i++)
        {
            int r;
            do
            {
                r = mapLocked(cache, slot, gfn + i * pages, pfn + i * pages, level - 1, perLevel, outcome);
            }
            while (r == RETRY);
        }
        return MAPPED;
    }
}
