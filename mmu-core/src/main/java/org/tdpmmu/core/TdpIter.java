package org.tdpmmu.core;

/**
 * A pre-order walk of a TDP paging structure over a GFN range (kernel: struct tdp_iter,
 * tdp_iter_start, tdp_iter_next, tdp_iter_restart; arch/x86/kvm/mmu/tdp_iter.c).
 *
 * <p>A mutable flyweight: one instance is reused for many walks and allocates nothing after
 * construction. The caller must be inside an RCU read-side section while it walks, because the
 * tables on {@code ptPath} may be unlinked by another thread at any moment; the iterator never
 * enters a table it has not just re-read a present non-leaf entry for.
 *
 * <p>Use: {@code for (it.start(root, rootLevel, minLevel, start, end); it.valid(); it.next())}.
 * The walk ends when the current entry's gfn reaches {@code end}. After a walker drops its locks
 * (a yield) it calls {@link #markYielded()} and the next {@link #next()} restarts from the root at
 * the last-level gfn it had reached, as the kernel does after cond_resched.
 */
public final class TdpIter
{
    private final PageTableStore store;
    /** Table pfn per level (index level - 1), the kernel's pt_path. */
    private final long[] ptPath = new long[Spte.MAX_LEVEL];
    /** Generation of each table on the path when it was entered, for use-after-free detection. */
    private final long[] ptGen = new long[Spte.MAX_LEVEL];

    private long nextLastLevelGfn;
    private long yieldedGfn;
    private long gfn;
    private long endGfn;
    private int rootLevel;
    private int minLevel;
    private int level;
    private int index;
    private long oldSpte;
    private boolean valid;
    private boolean yielded;
    private long stepsDown;

    public TdpIter(final PageTableStore store)
    {
        this.store = store;
    }

    /**
     * Starts a walk from {@code rootPfn} (a table at {@code rootLevel}) over [startGfn, endGfn),
     * descending no lower than {@code minLevel} (kernel: tdp_iter_start).
     */
    public TdpIter start(
        final long rootPfn, final int rootLevel, final int minLevel, final long startGfn, final long endGfn)
    {
        if (rootLevel != 4 && rootLevel != 5)
        {
            throw new IllegalArgumentException("root level " + rootLevel + " is not 4 or 5");
        }
        if (minLevel < Spte.PG_LEVEL_4K || minLevel > rootLevel)
        {
            throw new IllegalArgumentException("min level " + minLevel + " is out of range 1.." + rootLevel);
        }
        final long limit = 1L << (Spte.LEVEL_BITS * rootLevel);
        if (startGfn < 0 || endGfn > limit || startGfn > endGfn)
        {
            throw new IllegalArgumentException("gfn range [0x" + Long.toHexString(startGfn) + ", 0x" +
                Long.toHexString(endGfn) + ") is outside 0..0x" + Long.toHexString(limit) +
                " of a level-" + rootLevel + " root");
        }
        this.rootLevel = rootLevel;
        this.minLevel = minLevel;
        this.endGfn = endGfn;
        this.nextLastLevelGfn = startGfn;
        this.ptPath[rootLevel - 1] = rootPfn;
        this.ptGen[rootLevel - 1] = store.generation(rootPfn);
        this.stepsDown = 0;
        restart();
        return this;
    }

    /** kernel: tdp_iter_restart. Back to the root, at the last-level gfn reached so far. */
    public void restart()
    {
        yielded = false;
        yieldedGfn = nextLastLevelGfn;
        level = rootLevel;
        gfn = Spte.roundGfn(nextLastLevelGfn, level);
        refreshSptep();
        valid = gfn < endGfn;
    }

    /** kernel: tdp_iter_next. Pre-order: down if possible, else side, else up and side. */
    public void next()
    {
        if (yielded)
        {
            restart();
            return;
        }
        if (tryStepDown())
        {
            checkEnd();
            return;
        }
        do
        {
            if (tryStepSide())
            {
                checkEnd();
                return;
            }
        }
        while (tryStepUp());
        valid = false;
    }

    /**
     * Re-reads the current entry (after a failed cmpxchg the caller already has the witness; this
     * is for callers that waited, e.g. on a frozen entry).
     */
    public long reread()
    {
        oldSpte = store.lvSpte(ptPath[level - 1], ptGen[level - 1], index);
        return oldSpte;
    }

    /** Records the value a failed cmpxchg returned as the new snapshot (kernel: iter->old_spte = old). */
    public void refreshOldSpte(final long current)
    {
        this.oldSpte = current;
    }

    /**
     * The walker dropped its locks and RCU section; the next {@link #next()} restarts from the root.
     * kernel: tdp_mmu_iter_cond_resched sets iter->yielded.
     */
    public void markYielded()
    {
        assert gfn >= yieldedGfn;
        yielded = true;
    }

    /** The kernel refuses to yield twice at the same gfn, so every yield makes forward progress. */
    public boolean madeProgressSinceYield()
    {
        return nextLastLevelGfn != yieldedGfn;
    }

    private boolean tryStepDown()
    {
        if (level == minLevel)
        {
            return false;
        }
        // Re-read: the entry may have been zapped or frozen since the snapshot, and a table whose
        // entry is no longer present must never be entered.
        oldSpte = store.lvSpte(ptPath[level - 1], ptGen[level - 1], index);
        if (!Spte.isPresent(oldSpte) || Spte.isLastAtLevel(oldSpte, level))
        {
            return false;
        }
        final long child = Spte.pfn(oldSpte);
        level--;
        ptPath[level - 1] = child;
        ptGen[level - 1] = store.generation(child);
        gfn = Spte.roundGfn(nextLastLevelGfn, level);
        stepsDown++;
        refreshSptep();
        return true;
    }

    private boolean tryStepSide()
    {
        if (index == Spte.ENTRIES_PER_TABLE - 1)
        {
            return false;
        }
        gfn += Spte.pagesPerLevel(level);
        nextLastLevelGfn = gfn;
        index++;
        oldSpte = store.lvSpte(ptPath[level - 1], ptGen[level - 1], index);
        return true;
    }

    private boolean tryStepUp()
    {
        if (level == rootLevel)
        {
            return false;
        }
        level++;
        gfn = Spte.roundGfn(gfn, level);
        refreshSptep();
        return true;
    }

    private void refreshSptep()
    {
        index = Spte.index(gfn, level);
        oldSpte = store.lvSpte(ptPath[level - 1], ptGen[level - 1], index);
    }

    private void checkEnd()
    {
        if (gfn >= endGfn)
        {
            valid = false;
        }
    }

    public boolean valid()
    {
        return valid;
    }

    /** First gfn the current entry maps (rounded to its level). */
    public long gfn()
    {
        return gfn;
    }

    public int level()
    {
        return level;
    }

    public int rootLevel()
    {
        return rootLevel;
    }

    public int minLevel()
    {
        return minLevel;
    }

    /** Snapshot of the current entry (kernel: iter->old_spte). */
    public long oldSpte()
    {
        return oldSpte;
    }

    /** Table holding the current entry (with {@link #sptepIndex()}, the kernel's iter->sptep). */
    public long sptepTable()
    {
        return ptPath[level - 1];
    }

    /** Generation of {@link #sptepTable()} when the walk entered it. */
    public long sptepGeneration()
    {
        return ptGen[level - 1];
    }

    public int sptepIndex()
    {
        return index;
    }

    /** Table at {@code level} on the current path. */
    public long ptPath(final int atLevel)
    {
        return ptPath[atLevel - 1];
    }

    public long nextLastLevelGfn()
    {
        return nextLastLevelGfn;
    }

    /** Times this walk stepped down into a child table (a hardware walk's levels read, minus the root). */
    public long stepsDown()
    {
        return stepsDown;
    }
}
