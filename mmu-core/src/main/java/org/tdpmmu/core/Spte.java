package org.tdpmmu.core;

/**
 * The 64-bit shadow page-table entry in the x86 EPT layout KVM's TDP MMU uses, as constants and
 * static functions over {@code long} (kernel: arch/x86/kvm/mmu/spte.h).
 *
 * <pre>
 *  bit  0 R   1 W   2 X   3-5 EPT memory type   6 ignore-PAT   7 large page
 *  bit  8 accessed   9 dirty   11 MMU-present (KVM software bit: "present" means this bit)
 *  bits 12-51 pfn    57 host-writable   58 MMU-writable (KVM software bits)
 * </pre>
 *
 * Decisions: the non-present value is 0 (the pre-6.11 SHADOW_NONPRESENT_VALUE; newer kernels also
 * keep "suppress #VE", bit 63, set in it, which changes nothing this model observes). A/D bits are
 * always enabled (EPT A/D on). Writable invariants hold for every value this class builds:
 * W implies MMU-writable implies host-writable.
 */
public final class Spte
{
    public static final long READABLE = 1L;
    public static final long WRITABLE = 1L << 1;
    public static final long EXECUTABLE = 1L << 2;
    public static final int MEMTYPE_SHIFT = 3;
    public static final long MEMTYPE_MASK = 7L << MEMTYPE_SHIFT;
    /** EPT memory type write-back, what KVM uses for guest RAM. */
    public static final long MEMTYPE_WB = 6L << MEMTYPE_SHIFT;
    public static final long IGNORE_PAT = 1L << 6;
    public static final long LARGE = 1L << 7;
    public static final long ACCESSED = 1L << 8;
    public static final long DIRTY = 1L << 9;
    public static final long MMU_PRESENT = 1L << 11;
    public static final long HOST_WRITABLE = 1L << 57;
    public static final long MMU_WRITABLE = 1L << 58;

    public static final int PFN_SHIFT = 12;
    /** pfn field, bits 12-51. */
    public static final long PFN_MASK = ((1L << 52) - 1) & ~((1L << PFN_SHIFT) - 1);
    public static final long MAX_PFN = (1L << 40) - 1;

    /**
     * kernel: REMOVED_SPTE / FROZEN_SPTE. Owned by one thread while it changes the entry; nobody
     * else may install over it. No R/W/X and no MMU-present bit, so never present and never a
     * leaf; it does have bits 5, 7, 8, 10, so {@link #isLarge} and {@link #isAccessed} are true on
     * it: callers test {@link #isPresent}/{@link #isFrozen} first.
     */
    public static final long FROZEN = 0x5a0L;
    /** kernel: SHADOW_NONPRESENT_VALUE before bit 63 was added to it. */
    public static final long NONPRESENT = 0L;

    public static final int ENTRIES_PER_TABLE = 512;
    public static final int LEVEL_BITS = 9;
    public static final int PG_LEVEL_4K = 1;
    public static final int PG_LEVEL_2M = 2;
    public static final int PG_LEVEL_1G = 3;
    public static final int PG_LEVEL_512G = 4;
    public static final int MAX_LEVEL = 5;

    /** Flags for {@link #makeLeaf}. */
    public static final int LEAF_WRITABLE = 1;
    /** Host mapping is writable but W is withheld (dirty logging write-protect): MMU-writable stays set. */
    public static final int LEAF_MMU_WRITABLE = 2;
    public static final int LEAF_HOST_WRITABLE = 4;
    public static final int LEAF_ACCESSED = 8;
    public static final int LEAF_DIRTY = 16;

    private Spte()
    {
    }

    /** Guest frames covered by one entry at {@code level} (kernel: KVM_PAGES_PER_HPAGE). */
    public static long pagesPerLevel(final int level)
    {
        return 1L << (LEVEL_BITS * (level - 1));
    }

    /** Shift of the gfn that selects the index at {@code level}. */
    public static int gfnShift(final int level)
    {
        return LEVEL_BITS * (level - 1);
    }

    /** Index of {@code gfn} in a table at {@code level} (kernel: SPTE_INDEX). */
    public static int index(final long gfn, final int level)
    {
        return (int)(gfn >>> gfnShift(level)) & (ENTRIES_PER_TABLE - 1);
    }

    /** {@code gfn} rounded down to the first frame of its entry at {@code level} (kernel: gfn_round_for_level). */
    public static long roundGfn(final long gfn, final int level)
    {
        return gfn & -pagesPerLevel(level);
    }

    /** kernel: is_shadow_present_pte. The frozen value is never present. */
    public static boolean isPresent(final long spte)
    {
        return (spte & MMU_PRESENT) != 0;
    }

    /** kernel: is_frozen_spte / is_removed_spte. */
    public static boolean isFrozen(final long spte)
    {
        return spte == FROZEN;
    }

    /** kernel: is_large_pte. True on {@link #FROZEN}: test presence first. */
    public static boolean isLarge(final long spte)
    {
        return (spte & LARGE) != 0;
    }

    /** kernel: is_last_spte. Only meaningful on a present entry. */
    public static boolean isLastAtLevel(final long spte, final int level)
    {
        return level == PG_LEVEL_4K || isLarge(spte);
    }

    /** A present entry that maps memory (not a table) at {@code level}. */
    public static boolean isPresentLeaf(final long spte, final int level)
    {
        return isPresent(spte) && isLastAtLevel(spte, level);
    }

    /** A present entry that points to a child table. */
    public static boolean isPresentTable(final long spte, final int level)
    {
        return isPresent(spte) && !isLastAtLevel(spte, level);
    }

    /** kernel: is_writable_pte. */
    public static boolean isWritable(final long spte)
    {
        return (spte & WRITABLE) != 0;
    }

    /** kernel: is_mmu_writable_spte. */
    public static boolean isMmuWritable(final long spte)
    {
        return (spte & MMU_WRITABLE) != 0;
    }

    public static boolean isHostWritable(final long spte)
    {
        return (spte & HOST_WRITABLE) != 0;
    }

    /** kernel: is_accessed_spte. True on {@link #FROZEN}: test presence first. */
    public static boolean isAccessed(final long spte)
    {
        return (spte & ACCESSED) != 0;
    }

    /** kernel: is_dirty_spte. */
    public static boolean isDirty(final long spte)
    {
        return (spte & DIRTY) != 0;
    }

    /**
     * True if a present leaf may still change without the MMU lock (kernel: spte_has_volatile_bits):
     * the fast path may set W on an MMU-writable leaf that lacks it, and hardware sets A on any
     * access and D on a write through W, each with a cmpxchg. A leaf with none of those left to
     * change (A set; D set if W; not waiting for the fast path) can only be changed by the holder
     * of the lock.
     */
    public static boolean hasVolatileBits(final long spte)
    {
        if (!isWritable(spte) && isMmuWritable(spte))
        {
            return true;
        }
        return !isAccessed(spte) || (isWritable(spte) && !isDirty(spte));
    }

    /**
     * Present, writable, accessed and dirty: a 4 KiB leaf with these bits all set has W and D set
     * and no volatile bits (hardware has nothing left to set and the fast path nothing to restore),
     * so a write-locked clear of W or D may use a plain store. A one-test shortcut for the leaf a
     * guest write leaves; any other leaf takes {@link #needAtomicWrite}.
     */
    public static final long STABLE_DIRTY_LEAF = MMU_PRESENT | WRITABLE | ACCESSED | DIRTY;

    /**
     * True if a writer holding the MMU lock for write must still replace {@code spte} atomically
     * (kernel: kvm_tdp_mmu_spte_need_atomic_write): a present leaf with volatile bits. Anything
     * else (a table entry, a non-present or frozen entry) changes only under the lock.
     */
    public static boolean needAtomicWrite(final long spte, final int level)
    {
        return isPresent(spte) && isLastAtLevel(spte, level) && hasVolatileBits(spte);
    }

    /** kernel: spte_to_pfn. */
    public static long pfn(final long spte)
    {
        return (spte & PFN_MASK) >>> PFN_SHIFT;
    }

    /**
     * A leaf mapping {@code pfn} at {@code level} (kernel: make_spte). R and X always; W only with
     * {@link #LEAF_WRITABLE}, which implies MMU- and host-writable.
     */
    public static long makeLeaf(final long pfn, final int level, final int flags)
    {
        checkPfn(pfn);
        checkLevel(level);
        if ((pfn & (pagesPerLevel(level) - 1)) != 0)
        {
            throw new IllegalArgumentException(
                "pfn 0x" + Long.toHexString(pfn) + " is not aligned for a level " + level + " leaf");
        }
        long spte = MMU_PRESENT | READABLE | EXECUTABLE | MEMTYPE_WB | IGNORE_PAT | (pfn << PFN_SHIFT);
        if (level > PG_LEVEL_4K)
        {
            spte |= LARGE;
        }
        if ((flags & LEAF_WRITABLE) != 0)
        {
            spte |= WRITABLE | MMU_WRITABLE | HOST_WRITABLE;
        }
        if ((flags & LEAF_MMU_WRITABLE) != 0)
        {
            spte |= MMU_WRITABLE | HOST_WRITABLE;
        }
        if ((flags & LEAF_HOST_WRITABLE) != 0)
        {
            spte |= HOST_WRITABLE;
        }
        if ((flags & LEAF_ACCESSED) != 0)
        {
            spte |= ACCESSED;
        }
        if ((flags & LEAF_DIRTY) != 0)
        {
            spte |= DIRTY;
        }
        return spte;
    }

    /** An entry pointing at the table with {@code tablePfn} (kernel: make_nonleaf_spte). */
    public static long makeNonLeaf(final long tablePfn)
    {
        checkPfn(tablePfn);
        return MMU_PRESENT | READABLE | WRITABLE | EXECUTABLE | ACCESSED | (tablePfn << PFN_SHIFT);
    }

    /**
     * The entry for one of the 512 children of a huge leaf being split, at {@code index} in the
     * child table (kernel: make_small_spte / make_huge_page_split_spte). Permissions and A/D carry
     * over; the large bit is kept only if the child level is still above 4 KiB.
     */
    public static long makeSplitChild(final long hugeSpte, final int hugeLevel, final int index)
    {
        final int childLevel = hugeLevel - 1;
        final long childPfn = pfn(hugeSpte) + ((long)index << gfnShift(childLevel));
        long child = (hugeSpte & ~PFN_MASK) | (childPfn << PFN_SHIFT);
        if (childLevel == PG_LEVEL_4K)
        {
            child &= ~LARGE;
        }
        return child;
    }

    /**
     * The huge leaf at {@code level} that a child leaf implies (kernel: make_huge_spte): the
     * child's bits with the large bit set and the pfn rounded down to the huge page.
     */
    public static long makeHuge(final long childLeaf, final int level)
    {
        final long hugePfn = pfn(childLeaf) & -pagesPerLevel(level);
        return (childLeaf & ~PFN_MASK) | LARGE | (hugePfn << PFN_SHIFT);
    }

    /** Human-readable decoding for error messages, e.g. {@code 0x...[P R W X L A D HW MW pfn=0x..] level 2}. */
    public static String describe(final long spte, final int level)
    {
        final StringBuilder sb = new StringBuilder(64);
        sb.append("0x").append(Long.toHexString(spte)).append(" [");
        if (spte == FROZEN)
        {
            sb.append("FROZEN");
        }
        else if (!isPresent(spte))
        {
            sb.append(spte == NONPRESENT ? "not-present" : "not-present junk");
        }
        else
        {
            sb.append(isLastAtLevel(spte, level) ? "leaf" : "table");
            appendIf(sb, spte, READABLE, " R");
            appendIf(sb, spte, WRITABLE, " W");
            appendIf(sb, spte, EXECUTABLE, " X");
            appendIf(sb, spte, LARGE, " L");
            appendIf(sb, spte, ACCESSED, " A");
            appendIf(sb, spte, DIRTY, " D");
            appendIf(sb, spte, HOST_WRITABLE, " HW");
            appendIf(sb, spte, MMU_WRITABLE, " MW");
            sb.append(" pfn=0x").append(Long.toHexString(pfn(spte)));
        }
        return sb.append("] level ").append(level).toString();
    }

    static void checkLevel(final int level)
    {
        if (level < PG_LEVEL_4K || level > MAX_LEVEL)
        {
            throw new IllegalArgumentException("level " + level + " is out of range 1..5");
        }
    }

    private static void checkPfn(final long pfn)
    {
        if (pfn < 0 || pfn > MAX_PFN)
        {
            throw new IllegalArgumentException("pfn 0x" + Long.toHexString(pfn) + " is out of range 0..0x" +
                Long.toHexString(MAX_PFN));
        }
    }

    private static void appendIf(final StringBuilder sb, final long spte, final long bit, final String name)
    {
        if ((spte & bit) != 0)
        {
            sb.append(name);
        }
    }
}
