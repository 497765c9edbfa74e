package org.tdpmmu.core;

/**
 * The 2024 way (kernel 6.13+: kvm_tdp_mmu_recover_huge_pages / recover_huge_pages_range): under
 * the read lock, for each present non-leaf entry at a level the slot and backing allow as a huge
 * page, build the huge SPTE from the leaves below it and install it with cmpxchg over the non-leaf
 * entry; the old table goes through handle_removed_pt and RCU. No vCPU faults; one TLB flush per
 * memslot at the end.
 *
 * <p>Skipped, never wrong: while an invalidation is in progress (the host pages may be mid-change),
 * when the backing is not huge there, when the host no longer maps the block contiguously, or when
 * a leaf disagrees (pfn not at its offset in the huge page, or different R/X/MMU-/host-writable or
 * memory type). Stricter than the kernel, which trusts the first leaf; W of the huge page is the
 * AND of the leaves' W, A and D the OR, so no permission is widened and no dirty bit is dropped.
 */
final class PromoteInPlaceRecovery implements HugePageRecovery
{
    private static final long MUST_AGREE = Spte.READABLE | Spte.EXECUTABLE | Spte.MEMTYPE_MASK | Spte.IGNORE_PAT |
        Spte.MMU_WRITABLE | Spte.HOST_WRITABLE;
    private static final long NO_LEAF = -1L;
    private static final long DISAGREE = -2L;
    private static final ThreadLocal<LeafSummary> SUMMARY = ThreadLocal.withInitial(LeafSummary::new);

    @Override
    public String name()
    {
        return "promote_in_place";
    }

    @Override
    public void recover(final TdpMmu mmu, final Memslot slot)
    {
        if (slot.dirtyLogging())
        {
            throw new IllegalStateException("refusing to recover huge pages in " + slot + ": dirty logging is on");
        }
        final MmuCounters counters = mmu.counters();
        final boolean bugDuringInvalidation = mmu.seededBug(SeededBug.PROMOTE_DURING_INVALIDATION);
        // The strategy object is shared by every VM and thread: the accumulator and its table
        // snapshots belong to the calling thread, reused by every region and every pass.
        final LeafSummary leaves = SUMMARY.get();
        // The flush comes before the RCU section ends, as in the kernel, so no walker can still be
        // inside a removed table when the vCPUs drop their translations through it.
        mmu.rcu().readLock();
        try
        {
            if (mmu.walkShared(slot.baseGfn(), slot.endGfn(), Spte.PG_LEVEL_2M,
                iter -> promoteAt(mmu, slot, iter, counters, bugDuringInvalidation, leaves)))
            {
                // kernel: kvm_flush_remote_tlbs_memslot, once for the whole slot.
                mmu.flushRemoteTlbs();
            }
        }
        finally
        {
            mmu.rcu().readUnlock();
        }
    }

    /** Tries to replace the table at the iterator with a huge leaf; true if it did (flush due). */
    private static boolean promoteAt(final TdpMmu mmu, final Memslot slot, final TdpIter iter,
        final MmuCounters counters, final boolean bugDuringInvalidation, final LeafSummary leaves)
    {
        while (iter.level() <= Spte.PG_LEVEL_1G && Spte.isPresentTable(iter.oldSpte(), iter.level()))
        {
            final int level = iter.level();
            final long gfn = iter.gfn();
            if (slot.maxMappingLevel(gfn) < level)
            {
                if (level == Spte.PG_LEVEL_2M)
                {
                    counters.promoteSkipBacking.increment();
                }
                return false;
            }
            if (!bugDuringInvalidation && mmu.invalidation().inProgress() > 0 &&
                overlaps(mmu, gfn, gfn + Spte.pagesPerLevel(level)))
            {
                counters.promoteSkipInvalidation.increment();
                return false;
            }
            final long huge = makeHugeSpte(mmu, slot, Spte.pfn(iter.oldSpte()), level, gfn, leaves);
            if (huge == NO_LEAF)
            {
                return false;
            }
            if (huge == DISAGREE)
            {
                counters.promoteSkipMismatch.increment();
                return false;
            }
            mmu.hook(TestHook.Point.PROMOTE_BEFORE_SET, gfn);
            if (mmu.setSpteAtomic(iter, huge))
            {
                counters.promotions.increment();
                return true;
            }
            counters.promoteSkipRace.increment();
        }
        return false;
    }

    private static boolean overlaps(final TdpMmu mmu, final long start, final long end)
    {
        final long rs = mmu.invalidation().rangeStart();
        final long re = mmu.invalidation().rangeEnd();
        return start < re && rs < end;
    }

    /**
     * kernel: tdp_mmu_make_huge_spte, made strict: every present leaf below must sit at its offset
     * of one host huge page that the host still maps there.
     *
     * @return the huge SPTE, {@link #NO_LEAF} if nothing is mapped below, {@link #DISAGREE}.
     */
    private static long makeHugeSpte(final TdpMmu mmu, final Memslot slot, final long table, final int level,
        final long gfn, final LeafSummary leaves)
    {
        final long hugePfn = mmu.host().resolvePfn(slot, gfn);
        if ((hugePfn & (Spte.pagesPerLevel(level) - 1)) != 0)
        {
            return DISAGREE;
        }
        leaves.reset();
        if (!collect(mmu.store(), table, level - 1, hugePfn, leaves))
        {
            return DISAGREE;
        }
        if (leaves.first == NO_LEAF)
        {
            return NO_LEAF;
        }
        final long bits = (leaves.first & ~(Spte.WRITABLE | Spte.ACCESSED | Spte.DIRTY | Spte.LARGE | Spte.PFN_MASK)) |
            leaves.writable | leaves.accessedDirty;
        return Spte.makeHuge(bits | (hugePfn << Spte.PFN_SHIFT), level);
    }

    /** What {@link #collect} found under one table: reset per region, reused by one thread's passes. */
    private static final class LeafSummary
    {
        /** Snapshot of the table being checked, one per level below a 1 GiB page (index level - 1). */
        final long[][] tables = new long[Spte.PG_LEVEL_1G - 1][Spte.ENTRIES_PER_TABLE];
        /** The first present leaf seen, or {@link #NO_LEAF}. */
        long first;
        /** AND of the leaves' W bits. */
        long writable;
        /** OR of the leaves' A and D bits. */
        long accessedDirty;

        void reset()
        {
            first = NO_LEAF;
            writable = Spte.WRITABLE;
            accessedDirty = 0;
        }
    }

    /** Checks every present leaf under {@code table} maps {@code firstPfn} plus its offset, summing into {@code acc}. */
    private static boolean collect(final PageTableStore store, final long table, final int level,
        final long firstPfn, final LeafSummary acc)
    {
        final long pages = Spte.pagesPerLevel(level);
        // One checked copy of the table, not 512 checked reads. Entries may change after the copy
        // (A/D set by walks, W by the fast path): the cmpxchg on the parent entry decides, and
        // handle_removed_pt then freezes the entries and passes on their final values.
        final long[] entries = acc.tables[level - 1];
        store.copyTable(table, entries);
        for (int i = 0; i < Spte.ENTRIES_PER_TABLE; i++)
        {
            final long spte = entries[i];
            if (!Spte.isPresent(spte))
            {
                continue;
            }
            if (!Spte.isLastAtLevel(spte, level))
            {
                if (!collect(store, Spte.pfn(spte), level - 1, firstPfn + i * pages, acc))
                {
                    return false;
                }
                continue;
            }
            if (Spte.pfn(spte) != firstPfn + i * pages)
            {
                return false;
            }
            if (acc.first == NO_LEAF)
            {
                acc.first = spte;
            }
            else if (((spte ^ acc.first) & MUST_AGREE) != 0)
            {
                return false;
            }
            acc.writable &= spte;
            acc.accessedDirty |= spte & (Spte.ACCESSED | Spte.DIRTY);
        }
        return true;
    }
}
