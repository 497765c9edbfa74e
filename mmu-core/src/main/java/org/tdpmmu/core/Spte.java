package org.tdpmmu.core;

/**
 * The 64-bit shadow page-table entry in the x86 EPT layout KVM's TDP MMU uses, as constants and
 * static functions over {@code long} (kernel: arch/x86/kvm/mmu/spte.h).
 *
 * <pre>
 *  bit  0 R   1 W   2 X   3-5 EPT memory type   6 ignore-PAT   7 large page
 *  bit  8 accessed   9 dirty   11 MMU-present (KVM software bit: "present" means this bit)
 *  bits 12-51 pfn    52-53 A/D type (2: A/D disabled)    54 saved R   56 saved X (access tracking)
 *  57 host-writable   58 MMU-writable (KVM software bits)   63 suppress #VE (from 6.11)
 * </pre>
 *
 * Two layouts of the non-present and frozen values ({@link VmConfig#suppressVeNonPresent}): before
 * 6.11 the non-present value is 0 and the frozen one 0x5a0; from 6.11 (the TDX preparation series,
 * "KVM: x86/mmu: Allow non-zero value for non-present SPTE and removed SPTE", with the rename of
 * REMOVED_SPTE to FROZEN_SPTE) both carry bit 63, "suppress #VE", and so does every present entry
 * KVM builds (shadow_present_mask gained the bit in the same series). Presence is bit 11 in both, so
 * {@link #isPresent} needs no layout; {@link #isFrozen} ignores bit 63, which is exact in each
 * layout (0x5a0 never occurs in the newer one, bit 63 | 0x5a0 never in the older), so neither test
 * reads per-VM state; the writers take the values from {@link #nonPresent}/{@link #frozen}. EPT A/D bits
 * are on unless a VM turns them off ({@link VmConfig#eptAdBits}); its leaves then carry
 * {@link #AD_DISABLED} and age by access tracking ({@link #markForAccessTrack}). Writable invariants hold for every value this class builds:
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
    /** kernel: SPTE_TDP_AD_DISABLED (bits 52-53 = 2): a leaf of a VM whose EPT has no A/D bits. */
    public static final long AD_DISABLED = 2L << 52;
    /** kernel: SHADOW_ACC_TRACK_SAVED_BITS_SHIFT. R (bit 0) is saved at 54, X (bit 2) at 56. */
    public static final int ACC_TRACK_SAVED_SHIFT = 54;
    /** kernel: SHADOW_ACC_TRACK_SAVED_BITS_MASK, the bits an access-tracked entry saves (R and X). */
    public static final long ACC_TRACK_SAVED_MASK = READABLE | EXECUTABLE;
    /** kernel: shadow_acc_track_mask with EPT A/D off: R, W and X, cleared to make accesses fault. */
    public static final long ACC_TRACK_MASK = READABLE | WRITABLE | EXECUTABLE;

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
    /** kernel: VMX_EPT_SUPPRESS_VE_BIT, bit 63; in every SPTE value KVM writes from 6.11 on. */
    public static final long SUPPRESS_VE = 1L << 63;
    /** kernel 6.11+: SHADOW_NONPRESENT_VALUE (x86-64). */
    public static final long NONPRESENT_SVE = SUPPRESS_VE;
    /** kernel 6.11+: FROZEN_SPTE = SHADOW_NONPRESENT_VALUE | 0x5a0. */
    public static final long FROZEN_SVE = SUPPRESS_VE | FROZEN;

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
    /** The VM's EPT has no A/D bits: mark the leaf {@link #AD_DISABLED}; A and D flags are ignored. */
    public static final int LEAF_AD_DISABLED = 32;
    /** The 6.11+ layout: set {@link #SUPPRESS_VE} in the leaf (kernel: shadow_present_mask has it). */
    public static final int LEAF_SUPPRESS_VE = 64;

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

    /**
     * kernel: is_frozen_spte / is_removed_spte. True on the frozen value of either layout: one
     * AND more than an equality test, and no per-VM state on the hot path.
     */
    public static boolean isFrozen(final long spte)
    {
        return (spte & ~SUPPRESS_VE) == FROZEN;
    }

    /** The non-present value of a layout: {@link #NONPRESENT_SVE} from 6.11, {@link #NONPRESENT} before. */
    public static long nonPresent(final boolean suppressVe)
    {
        return suppressVe ? NONPRESENT_SVE : NONPRESENT;
    }

    /** The frozen value of a layout: {@link #FROZEN_SVE} from 6.11, {@link #FROZEN} before. */
    public static long frozen(final boolean suppressVe)
    {
        return suppressVe ? FROZEN_SVE : FROZEN;
    }

    /** The bits a layout adds to every present entry (kernel: the SVE part of shadow_present_mask). */
    public static long presentExtra(final boolean suppressVe)
    {
        return suppressVe ? SUPPRESS_VE : 0L;
    }

    /** True if {@code spte} is the non-present value of either layout (nothing but bit 63 set). */
    public static boolean isNonPresentValue(final long spte)
    {
        return (spte & ~SUPPRESS_VE) == 0;
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

    /** kernel: spte_ad_enabled. False on the leaves of a VM without EPT A/D bits. */
    public static boolean isAdEnabled(final long spte)
    {
        return (spte & AD_DISABLED) == 0;
    }

    /**
     * kernel: is_access_track_spte. A present leaf of an A/D-disabled VM whose R/W/X aging cleared
     * (R and X saved): every access faults, and the fast path restores it.
     */
    public static boolean isAccessTrack(final long spte)
    {
        return !isAdEnabled(spte) && (spte & ACC_TRACK_MASK) == 0;
    }

    /**
     * kernel: is_accessed_spte. With A/D bits the A bit; without them any entry not access-tracked
     * (it has been used since aging marked it, or aging never did). Test presence first.
     */
    public static boolean isYoung(final long spte)
    {
        return isAdEnabled(spte) ? isAccessed(spte) : !isAccessTrack(spte);
    }

    /**
     * kernel: mark_spte_for_access_track. With A/D bits, A cleared; without, R and X saved in bits
     * 54/56 and R/W/X cleared (W is not saved: the fast path gives it back to an MMU-writable
     * entry on a write). An entry already tracked is returned as it is.
     */
    public static long markForAccessTrack(final long spte)
    {
        if (isAdEnabled(spte))
        {
            return spte & ~ACCESSED;
        }
        if (isAccessTrack(spte))
        {
            return spte;
        }
        return (spte & ~(ACC_TRACK_MASK | (ACC_TRACK_SAVED_MASK << ACC_TRACK_SAVED_SHIFT))) |
            ((spte & ACC_TRACK_SAVED_MASK) << ACC_TRACK_SAVED_SHIFT);
    }

    /** kernel: restore_acc_track_spte. R and X back from the saved bits, which are cleared. */
    public static long restoreAccessTrack(final long spte)
    {
        final long saved = (spte >>> ACC_TRACK_SAVED_SHIFT) & ACC_TRACK_SAVED_MASK;
        return (spte & ~(ACC_TRACK_SAVED_MASK << ACC_TRACK_SAVED_SHIFT)) | saved;
    }

    /**
     * True if a present leaf may still change without the MMU lock, before 6.15 (kernel 6.12:
     * spte_has_volatile_bits): the fast path may set W on an MMU-writable leaf that lacks it or
     * restore an access-tracked one; with A/D bits, hardware sets A on any access and D on a write
     * through W, each with a cmpxchg. A leaf with none of those left to change (A set; D set if W;
     * not waiting for the fast path) can only be changed by the holder of the lock. Aging is one
     * of those holders before 6.15 (it takes the lock for write), so it adds no volatile bit.
     */
    public static boolean hasVolatileBits(final long spte)
    {
        if (!isWritable(spte) && isMmuWritable(spte))
        {
            return true;
        }
        if (isAccessTrack(spte))
        {
            return true;
        }
        return isAdEnabled(spte) && (!isAccessed(spte) || (isWritable(spte) && !isDirty(spte)));
    }

    /**
     * The same question once aging takes no lock (kernel 6.15: spte_needs_atomic_update, from "Age
     * sptes locklessly"): every A/D-disabled leaf may be access-tracked by a lockless ager (and a
     * tracked one restored by the fast path); A stops being a reason, because KVM tolerates a lost
     * or resurrected A bit (aging does not flush TLBs either), while D set by hardware on a
     * writable leaf is still the record of a write.
     */
    public static boolean needsAtomicUpdate(final long spte)
    {
        if (!isWritable(spte) && isMmuWritable(spte))
        {
            return true;
        }
        if (!isAdEnabled(spte))
        {
            return true;
        }
        return isWritable(spte) && !isDirty(spte);
    }

    /**
     * Present, writable, accessed and dirty, A/D on: a 4 KiB leaf with these bits all set has W
     * and D set and no volatile bits under either rule (hardware has nothing left to set and the
     * fast path nothing to restore), so a write-locked clear of W or D may use a plain store. A
     * one-test shortcut for the leaf a guest write leaves; any other leaf takes {@link
     * #needAtomicWrite}. An A/D-disabled leaf never matches it, because it never has D.
     */
    public static final long STABLE_DIRTY_LEAF = MMU_PRESENT | WRITABLE | ACCESSED | DIRTY;

    /**
     * True if a writer holding the MMU lock for write must still replace {@code spte} atomically
     * (kernel: kvm_tdp_mmu_spte_need_atomic_write), with the rule of the aging mode: {@link
     * #hasVolatileBits} while aging takes the lock, {@link #needsAtomicUpdate} once it does not.
     * Anything but a present leaf (a table entry, a non-present or frozen entry) changes only under
     * the lock.
     */
    public static boolean needAtomicWrite(final long spte, final int level, final boolean locklessAging)
    {
        return isPresent(spte) && isLastAtLevel(spte, level) &&
            (locklessAging ? needsAtomicUpdate(spte) : hasVolatileBits(spte));
    }

    /** {@link #needAtomicWrite(long, int, boolean)} with aging under the lock (before 6.15). */
    public static boolean needAtomicWrite(final long spte, final int level)
    {
        return needAtomicWrite(spte, level, false);
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
        if ((flags & LEAF_SUPPRESS_VE) != 0)
        {
            spte |= SUPPRESS_VE;
        }
        if ((flags & LEAF_AD_DISABLED) != 0)
        {
            return spte | AD_DISABLED;
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

    /** An entry pointing at the table with {@code tablePfn} (kernel: make_nonleaf_spte), pre-6.11 layout. */
    public static long makeNonLeaf(final long tablePfn)
    {
        return makeNonLeaf(tablePfn, 0L);
    }

    /** As {@link #makeNonLeaf(long)} with the layout's {@link #presentExtra} bits. */
    public static long makeNonLeaf(final long tablePfn, final long presentExtra)
    {
        checkPfn(tablePfn);
        return MMU_PRESENT | READABLE | WRITABLE | EXECUTABLE | ACCESSED | (tablePfn << PFN_SHIFT) | presentExtra;
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
        if (isFrozen(spte))
        {
            sb.append("FROZEN");
        }
        else if (!isPresent(spte))
        {
            sb.append(isNonPresentValue(spte) ? "not-present" : "not-present junk");
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
            appendIf(sb, spte, AD_DISABLED, " noAD");
            appendIf(sb, spte, ACC_TRACK_SAVED_MASK << ACC_TRACK_SAVED_SHIFT, " tracked");
            appendIf(sb, spte, SUPPRESS_VE, " SVE");
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
