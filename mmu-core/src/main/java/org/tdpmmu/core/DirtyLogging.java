package org.tdpmmu.core;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

/**
 * Dirty logging of memslots: enable, harvest, disable with a huge-page recovery strategy (kernel:
 * kvm_mmu_slot_apply_flags, kvm_tdp_mmu_wrprot_slot, kvm_tdp_mmu_clear_dirty_slot,
 * tdp_mmu_split_huge_pages_root, kvm_get_dirty_log_protect, kvm_clear_dirty_log_protect,
 * kvm_tdp_mmu_clear_dirty_pt_masked).
 *
 * <p>Modes: {@link Memslot#LOG_WRPROT} clears W but keeps MMU-writable so the first write takes a
 * lockless fast fault that restores W and marks the page; {@link Memslot#LOG_DBIT} leaves W and
 * tracks writes in the D bits hardware sets, which harvesting sweeps into the bitmap (the role the
 * PML log plays on real hardware). In both modes huge leaves are write-protected so a write splits
 * them, unless eager splitting already did so at enable.
 *
 * <p>Slot-level operations are serialised per VM (kernel: slots_lock).
 */
public final class DirtyLogging
{
    /** Tables an eager split takes per lock hold (the kernel allocates one per split). */
    static final int SPLIT_CACHE_TABLES = 64;

    private final TdpMmu mmu;
    private final MmuCounters counters;
    private final boolean bugNoReprotect;
    private final Memslots slots;
    private final boolean bugHarvestUnlocked;
    /** The walk of {@link #clearDirtyPtMasked}, reused: slot operations hold this object's monitor. */
    private final TdpIter harvestIter;
    /** The assert's own walk ({@link #leafTableStillLinked}): an iterator per check would allocate per word. */
    private final TdpIter checkIter;
    /**
     * The 4 KiB leaf table the last walk of {@link #clearDirtyPtMasked} reached in the current
     * write-lock hold: the gfn of its entry 0, or -1 when there is none, and its pfn. The next
     * 64-page words of the same 2 MiB go straight to it (see {@link #clearDirtyPtMasked}).
     */
    private long leafTableGfn = -1;
    private long leafTablePfn;
    /** Wall nanoseconds per slot operation (fields, not a map lookup, on the harvest path). */
    private final LongAdder enableNanos = new LongAdder();
    private final LongAdder splitNanos = new LongAdder();
    private final LongAdder getNanos = new LongAdder();
    private final LongAdder clearNanos = new LongAdder();
    private final LongAdder disableNanos = new LongAdder();
    private final LongAdder resetNanos = new LongAdder();
    /** The per-mask step of {@link #resetDirtyRings}, one object: no allocation per reset. */
    private final DirtyRing.MaskReset resetMask = this::resetDirtyGfn;

    private final boolean eptAdBits;
    /**
     * Slots enabled with initially-set and eager splitting: each clear splits the huge pages under
     * its range before protecting (kernel 6.12: kvm_arch_mmu_enable_log_dirty_pt_masked calls
     * kvm_mmu_try_split_huge_pages for the mask's range when eager_page_split is on).
     */
    private final java.util.Set<Memslot> splitAtClear = java.util.concurrent.ConcurrentHashMap.newKeySet();
    /** VmConfig#eagerPageSplit: whether this kernel has (and enables) eager_page_split at all. */
    private final boolean eagerPageSplit;

    public DirtyLogging(final Vm vm)
    {
        this.eagerPageSplit = vm.config().eagerPageSplit();
        this.mmu = vm.mmu();
        this.counters = vm.counters();
        this.bugNoReprotect = vm.config().has(SeededBug.NO_REPROTECT_BEFORE_HARVEST);
        this.slots = vm.memslots();
        this.bugHarvestUnlocked = vm.config().has(SeededBug.HARVEST_WITHOUT_SLOTS_LOCK);
        this.eptAdBits = vm.config().eptAdBits();
        this.harvestIter = new TdpIter(vm.store());
        this.checkIter = new TdpIter(vm.store());
    }

    /**
     * Turns dirty logging on for {@code slot} (KVM_MEM_LOG_DIRTY_PAGES set).
     *
     * @param mode       {@link Memslot#LOG_WRPROT} or {@link Memslot#LOG_DBIT}.
     * @param eagerSplit split huge pages now (kernel: eager_page_split) instead of on first write;
     *                   ignored when the VM's kernel has no eager splitting ({@link VmConfig#eagerPageSplit}).
     */
    public void enable(final Memslot slot, final int mode, final boolean eagerSplit)
    {
        enable(slot, mode, eagerSplit, false);
    }

    /**
     * As {@link #enable(Memslot, int, boolean)}; with {@code initiallySet} (kernel:
     * KVM_DIRTY_LOG_INITIALLY_SET, used with manual protect) nothing is protected or split now: the
     * bitmap starts all set and each KVM_CLEAR_DIRTY_LOG protects the pages it clears, so the cost
     * moves from enable to the first clear. With {@code eagerSplit} too, each clear first splits
     * the huge pages under its range, as the kernel does (6.12); without it the clear
     * write-protects huge leaves and each splits on its first write. Decision: the split runs under
     * the read lock before the clear takes the write lock (the kernel splits under the write lock,
     * per 64-page mask); the pages end up the same, split before they are protected.
     */
    public synchronized void enable(final Memslot slot, final int mode, final boolean eagerSplit,
        final boolean initiallySet)
    {
        underSlotsLock(slot, "enable dirty logging", false, () ->
        {
            enableLocked(slot, mode, eagerSplit, initiallySet);
            return null;
        });
    }

    private void enableLocked(final Memslot slot, final int mode, final boolean eagerSplit,
        final boolean initiallySet)
    {
        if (mode != Memslot.LOG_WRPROT && mode != Memslot.LOG_DBIT)
        {
            throw new IllegalArgumentException("dirty log mode " + mode + " is not LOG_WRPROT (1) or LOG_DBIT (2)");
        }
        if (mode == Memslot.LOG_DBIT && !eptAdBits)
        {
            // kernel: PML needs EPT A/D bits (enable_pml is cleared without them); only write
            // protection can log such a VM.
            throw new IllegalArgumentException("dirty log mode LOG_DBIT (2) needs EPT A/D bits, which this VM has " +
                "off (eptAdBits=false): use LOG_WRPROT (1)");
        }
        if (slot.dirtyLogging())
        {
            throw new IllegalStateException("dirty logging is already on for " + slot);
        }
        final long t0 = System.nanoTime();
        // A fresh log, as KVM allocates a zeroed bitmap each time logging is turned on
        // (kvm_prepare_memory_region): bits left from an earlier logging period (pages written
        // while it was being disabled) are no writes of this one. Nobody marks while logging is
        // off: disable waited for every fault that saw it on.
        final DirtyBitmap bitmap = slot.dirtyBitmap();
        for (int w = 0; w < bitmap.words(); w++)
        {
            if (bitmap.lvWord(w) != 0)
            {
                bitmap.xchgWord(w, 0);
            }
        }
        // New faults map 4 KiB from here on; what is mapped already is handled below.
        slot.setLogMode(mode);
        waitForFaultsThatSawTheOldMode();
        if (initiallySet)
        {
            for (long page = 0; page < slot.npages(); page++)
            {
                slot.dirtyBitmap().setBit(page);
            }
            if (eagerSplit && eagerPageSplit)
            {
                splitAtClear.add(slot);
            }
            enableNanos.add(System.nanoTime() - t0);
            return;
        }
        if (eagerSplit && eagerPageSplit)
        {
            final long s0 = System.nanoTime();
            splitHugePages(slot);
            splitNanos.add(System.nanoTime() - s0);
        }
        if (mode == Memslot.LOG_WRPROT)
        {
            wrprotSlot(slot, Spte.PG_LEVEL_4K);
        }
        else
        {
            clearDirtySlot(slot);
            wrprotSlot(slot, Spte.PG_LEVEL_2M);
        }
        // kernel: kvm_mmu_slot_apply_flags flushes unconditionally after enabling logging (6.12),
        // not only when an SPTE lost W: a leaf without W is no proof that no TLB still holds it
        // writable. Aging makes that concrete: without A/D bits it access-tracks a writable leaf
        // (W cleared) and flushes nothing, so the write-protection above finds nothing to change
        // while a vCPU keeps writing through its cached translation, unlogged (AgeVsEagerSplit).
        mmu.flushRemoteTlbs();
        enableNanos.add(System.nanoTime() - t0);
    }

    /**
     * KVM_GET_DIRTY_LOG into a new array: {@link #getDirtyLog(Memslot, boolean, long[])} with an
     * array of the bitmap's size.
     *
     * @return the dirty bitmap, bit i = page baseGfn + i.
     */
    public long[] getDirtyLog(final Memslot slot, final boolean manualProtect)
    {
        return getDirtyLog(slot, manualProtect, new long[slot.dirtyBitmap().words()]);
    }

    /**
     * KVM_GET_DIRTY_LOG into the caller's buffer, as the ioctl fills the user's bitmap. Without
     * manual protect: take each bitmap word with an atomic exchange and re-protect its pages before
     * returning (kernel: kvm_get_dirty_log_protect). With manual protect the bitmap is only copied
     * ({@link DirtyBitmap#copyTo}, nothing changes); the caller re-protects with
     * {@link #clearDirtyLog}.
     *
     * @param out receives bit i = page baseGfn + i in {@code out[0 .. words)}, every one of those
     *            words written (zero where nothing was dirty); words past the bitmap's are untouched.
     * @return {@code out}.
     * @throws IllegalArgumentException if {@code out} is shorter than the slot's bitmap, naming both sizes.
     */
    public synchronized long[] getDirtyLog(final Memslot slot, final boolean manualProtect, final long[] out)
    {
        return underSlotsLock(slot, "get dirty log", bugHarvestUnlocked, () -> getDirtyLogLocked(slot, manualProtect, out));
    }

    private long[] getDirtyLogLocked(final Memslot slot, final boolean manualProtect, final long[] out)
    {
        mmu.hook(TestHook.Point.HARVEST_SLOT_LOOKED_UP, slot.baseGfn());
        checkLogging(slot);
        final DirtyBitmap bitmap = slot.dirtyBitmap();
        if (out.length < bitmap.words())
        {
            throw new IllegalArgumentException("get dirty log: the buffer has " + out.length + " words, the bitmap of " +
                slot + " has " + bitmap.words());
        }
        final long t0 = System.nanoTime();
        // With rings the D bits were pushed as they were set; the bitmap holds only vCPU-less writes.
        if (slot.logMode() == Memslot.LOG_DBIT && !mmu.dirtyRings())
        {
            syncDbits(slot);
        }
        if (manualProtect)
        {
            bitmap.copyTo(out);
        }
        else
        {
            harvestAndReprotect(slot, bitmap, out);
        }
        getNanos.add(System.nanoTime() - t0);
        return out;
    }

    /** The exchange-and-re-protect loop of kvm_get_dirty_log_protect, under the MMU write lock. */
    private void harvestAndReprotect(final Memslot slot, final DirtyBitmap bitmap, final long[] out)
    {
        final int words = bitmap.words();
        boolean flush = false;
        mmu.lock().writeLock();
        try
        {
            assert leafTableGfn < 0 : "the last write hold was ended";
            for (int w = 0; w < words; w++)
            {
                // A clean word needs no exchange: bits are only set concurrently, never cleared.
                if (bitmap.lvWord(w) == 0)
                {
                    out[w] = 0;
                    continue;
                }
                mmu.hook(TestHook.Point.HARVEST_BEFORE_XCHG, slot.baseGfn() + ((long)w << 6));
                final long mask = bitmap.xchgWord(w, 0);
                out[w] = mask;
                mmu.hook(TestHook.Point.HARVEST_AFTER_XCHG, slot.baseGfn() + ((long)w << 6));
                if (mask != 0 && !bugNoReprotect)
                {
                    clearDirtyPtMasked(slot, slot.baseGfn() + ((long)w << 6), mask);
                    flush = true;
                }
            }
            if (flush)
            {
                mmu.flushRemoteTlbs();
            }
        }
        finally
        {
            endWriteHold();
        }
    }

    /**
     * KVM_CLEAR_DIRTY_LOG: clear the bits of {@code masks} (word i covers pages firstPage + 64 i ..)
     * and re-protect those pages, flushing before returning (kernel: kvm_clear_dirty_log_protect).
     *
     * @return pages whose bit was set and is now cleared.
     */
    public synchronized long clearDirtyLog(final Memslot slot, final long firstPage, final long[] masks)
    {
        return underSlotsLock(slot, "clear dirty log", bugHarvestUnlocked, () -> clearDirtyLogLocked(slot, firstPage, masks));
    }

    private long clearDirtyLogLocked(final Memslot slot, final long firstPage, final long[] masks)
    {
        checkLogging(slot);
        if (firstPage < 0 || (firstPage & 63) != 0 || firstPage + 64L * masks.length > slot.npages() + 63)
        {
            throw new IllegalArgumentException("clear dirty log: first page " + firstPage + " must be a multiple of " +
                "64 and the " + masks.length + " mask words must lie inside the slot's " + slot.npages() + " pages");
        }
        final long t0 = System.nanoTime();
        if (splitAtClear.contains(slot))
        {
            final long s0 = System.nanoTime();
            final long first = slot.baseGfn() + firstPage;
            splitHugePages(slot, first, Math.min(slot.endGfn(), first + 64L * masks.length));
            splitNanos.add(System.nanoTime() - s0);
        }
        final DirtyBitmap bitmap = slot.dirtyBitmap();
        long cleared = 0;
        boolean flush = false;
        mmu.lock().writeLock();
        try
        {
            assert leafTableGfn < 0 : "the last write hold was ended";
            for (int i = 0; i < masks.length; i++)
            {
                if (masks[i] == 0)
                {
                    continue;
                }
                final int word = (int)(firstPage >>> 6) + i;
                final long reaped = bitmap.fetchAndClear(word, masks[i]);
                if (reaped != 0)
                {
                    cleared += Long.bitCount(reaped);
                    if (!bugNoReprotect)
                    {
                        clearDirtyPtMasked(slot, slot.baseGfn() + ((long)word << 6), reaped);
                        flush = true;
                    }
                }
            }
            if (flush)
            {
                mmu.flushRemoteTlbs();
            }
        }
        finally
        {
            endWriteHold();
        }
        clearNanos.add(System.nanoTime() - t0);
        return cleared;
    }

    /**
     * Runs {@code body} under the slots lock once {@code slot} is found still in the memslot set
     * (kernel: the dirty-log ioctls take kvm->slots_lock and look the slot up by id; a deleted one
     * is -ENOENT). Holding it keeps a delete or move, which frees the slot's bitmap, out until the
     * body is done. With {@code bugSkip} (the seeded bug HARVEST_WITHOUT_SLOTS_LOCK) neither.
     *
     * @throws IllegalArgumentException if the slot was deleted or moved.
     */
    private <T> T underSlotsLock(final Memslot slot, final String op, final boolean bugSkip,
        final java.util.function.Supplier<T> body)
    {
        if (bugSkip)
        {
            return body.get();
        }
        final java.util.concurrent.locks.ReentrantLock lock = slots.slotsLock();
        lock.lock();
        try
        {
            if (slots.findById(slot.id()) != slot)
            {
                throw new IllegalArgumentException(op + ": " + slot + " is no longer in the memslot set (deleted or " +
                    "moved; the kernel's -ENOENT)");
            }
            return body.get();
        }
        finally
        {
            lock.unlock();
        }
    }

    /**
     * KVM_RESET_DIRTY_RINGS (kernel: kvm_vm_ioctl_reset_dirty_pages, kvm_dirty_ring_reset): resets
     * the harvested entries of every vCPU's ring in turn, re-protecting their pages one coalesced
     * mask at a time, then flushes remote TLBs once if anything was reset. At most
     * {@link Integer#MAX_VALUE} entries in one call, over all rings (the 2025 bound).
     *
     * @return entries reset (the ioctl's return value).
     */
    public synchronized int resetDirtyRings(final java.util.List<Vcpu> vcpus)
    {
        final long t0 = System.nanoTime();
        int count = 0;
        for (final Vcpu vcpu : vcpus)
        {
            final DirtyRing ring = vcpu.dirtyRing();
            if (ring != null && count < Integer.MAX_VALUE)
            {
                count += ring.reset(resetMask, Integer.MAX_VALUE - count);
            }
        }
        if (count != 0)
        {
            counters.ringReset.add(count);
            mmu.flushRemoteTlbs();
        }
        resetNanos.add(System.nanoTime() - t0);
        return count;
    }

    /**
     * kernel: kvm_reset_dirty_gfn. Re-protects the pages of {@code mask} (bit i = page offset + i
     * of slot {@code slotId}) under the write lock, held for this mask only; an entry naming a
     * slot that is gone or pages outside it is ignored, as the kernel ignores it (userspace may
     * write anything into the shared ring). Called from {@link #resetDirtyRings}, under this
     * object's monitor (slots_lock).
     */
    private void resetDirtyGfn(final int slotId, final long offset, final long mask)
    {
        final Memslot slot = mmu.slots().findById(slotId);
        if (slot == null || !slot.dirtyLogging() || offset < 0 || offset >= slot.npages() ||
            offset + 63 - Long.numberOfLeadingZeros(mask) >= slot.npages())
        {
            return;
        }
        counters.ringResetMasks.increment();
        mmu.lock().writeLock();
        try
        {
            clearDirtyPtMasked(slot, slot.baseGfn() + offset, mask);
        }
        finally
        {
            endWriteHold();
        }
    }

    /**
     * Turns dirty logging off and recovers huge pages with {@code recovery} (kernel:
     * kvm_mmu_slot_apply_flags on KVM_MEM_LOG_DIRTY_PAGES cleared).
     */
    public synchronized void disable(final Memslot slot, final HugePageRecovery recovery)
    {
        underSlotsLock(slot, "disable dirty logging", false, () ->
        {
            disableLocked(slot, recovery);
            return null;
        });
    }

    private void disableLocked(final Memslot slot, final HugePageRecovery recovery)
    {
        checkLogging(slot);
        final long t0 = System.nanoTime();
        splitAtClear.remove(slot);
        slot.setLogMode(Memslot.LOG_OFF);
        waitForFaultsThatSawTheOldMode();
        recovery.recover(mmu, slot);
        disableNanos.add(System.nanoTime() - t0);
    }

    /**
     * After a log-mode switch, waits until no fault can still act on the old mode (kernel: the
     * memslot update's synchronize_srcu in kvm_swap_active_memslots, before
     * kvm_mmu_slot_apply_flags). Slow-path faults read the mode under the MMU read lock, so taking
     * the write lock once waits them out; the lockless fast path runs inside an RCU read-side
     * section, so a grace period waits it out. Without this, a fault that chose a 2 MiB writable
     * mapping before enable could install it after enable's write-protection passed, and writes
     * to its other pages would never be logged.
     */
    private void waitForFaultsThatSawTheOldMode()
    {
        mmu.lock().writeLock();
        mmu.lock().writeUnlock();
        mmu.rcu().synchronize();
    }

    /** Wall nanoseconds spent per operation (enable, split, get, clear, disable). */
    public Map<String, Long> opNanos()
    {
        final Map<String, Long> m = new LinkedHashMap<>();
        m.put("enable", enableNanos.sum());
        m.put("split", splitNanos.sum());
        m.put("get", getNanos.sum());
        m.put("clear", clearNanos.sum());
        m.put("disable", disableNanos.sum());
        m.put("ring-reset", resetNanos.sum());
        return m;
    }

    /**
     * Clears W (or D) of the 4 KiB leaves whose bit is in {@code mask}, pages gfnBase.. (kernel:
     * kvm_tdp_mmu_clear_dirty_pt_masked). Write lock held: a leaf hardware or the fast path may still
     * change is cleared atomically, any other with a plain store ({@link
     * PageTableStore#clearLeafBitsMasked}, one checked call per leaf table the word touches). Walks
     * with this object's one iterator (slot operations are serialised) and adds to the counters
     * once per call, not per page.
     *
     * <p>Unlike the kernel, which walks from the root for every word, a word that lies inside the
     * 4 KiB leaf table the previous walk of this hold reached goes straight to that table: one walk
     * per 2 MiB instead of eight. Safe because every path that links or unlinks a table holds the
     * MMU lock, so while the write lock is held the tables' shape is fixed (only leaf bits change,
     * by hardware and the fast path, and the masked clear handles those); the cache ends with the
     * hold ({@link #endWriteHold}). With assertions on, each use re-walks to check the table.
     */
    void clearDirtyPtMasked(final Memslot slot, final long gfnBase, final long mask)
    {
        assert mmu.lock().heldForWrite() : "clear_dirty_pt_masked needs mmu_lock held for write";
        assert Thread.holdsLock(this) : "the harvest iterator belongs to the slot operation holding this object";
        if (!mmu.hasValidRoot())
        {
            // kernel: for_each_valid_tdp_mmu_root finds none after a fast invalidation until a
            // vCPU loads a new root; the invalid roots are no vCPU's to write through.
            return;
        }
        final long bit = slot.logMode() == Memslot.LOG_WRPROT ? Spte.WRITABLE : Spte.DIRTY;
        final TdpIter iter = harvestIter;
        final long start = gfnBase + Long.numberOfTrailingZeros(mask);
        final long end = Math.min(gfnBase + 64, slot.endGfn());
        if (leafTableGfn >= 0 && start >= leafTableGfn && end <= leafTableGfn + Spte.ENTRIES_PER_TABLE)
        {
            assert leafTableStillLinked(start) : "a leaf table cached under the write lock was unlinked";
            final long selected = (mask >>> (start - gfnBase)) & lowBits((int)(end - start));
            countCleared(bit, 0, Long.bitCount(
                mmu.store().clearLeafBitsMasked(leafTablePfn, (int)(start - leafTableGfn), selected, bit)));
            return;
        }
        long clearedLeaves = 0;
        long protectedHuge = 0;
        mmu.rcu().readLock();
        try
        {
            for (iter.start(mmu.rootPfn(), mmu.rootLevel(), Spte.PG_LEVEL_4K, start, end); iter.valid(); iter.next())
            {
                if (iter.level() == Spte.PG_LEVEL_4K)
                {
                    // The rest of the word that lies in this leaf table, in one checked call.
                    leafTableGfn = iter.gfn() - iter.sptepIndex();
                    leafTablePfn = iter.sptepTable();
                    final int run = (int)Math.min(end - iter.gfn(), Spte.ENTRIES_PER_TABLE - iter.sptepIndex());
                    final long selected = (mask >>> (iter.gfn() - gfnBase)) & lowBits(run);
                    clearedLeaves += Long.bitCount(
                        mmu.store().clearLeafBitsMasked(iter.sptepTable(), iter.sptepIndex(), selected, bit));
                    if (iter.gfn() + run >= end)
                    {
                        break;
                    }
                    for (int k = 1; k < run; k++)
                    {
                        iter.next(); // past the entries just done; the loop's next() leaves the table
                    }
                    continue;
                }
                if (Spte.isPresentLeaf(iter.oldSpte(), iter.level()) &&
                    (mmu.clearSpteBits(iter, Spte.WRITABLE) & Spte.WRITABLE) != 0)
                {
                    // A huge leaf left by lazy splitting: write-protected so a write splits it.
                    protectedHuge++;
                }
            }
        }
        finally
        {
            mmu.rcu().readUnlock();
        }
        countCleared(bit, protectedHuge, clearedLeaves);
    }

    /** Adds one clearDirtyPtMasked call's work to the counters: once per call, not per page. */
    private void countCleared(final long bit, final long protectedHuge, final long clearedLeaves)
    {
        final long wrprot = protectedHuge + (bit == Spte.WRITABLE ? clearedLeaves : 0);
        if (wrprot != 0)
        {
            counters.wrprot.add(wrprot);
        }
        if (bit == Spte.DIRTY && clearedLeaves != 0)
        {
            counters.dbitCleared.add(clearedLeaves);
        }
    }

    /** Ends a harvest's or clear's write-lock hold, dropping the cached leaf table, which only the lock kept linked. */
    private void endWriteHold()
    {
        leafTableGfn = -1;
        mmu.lock().writeUnlock();
    }

    /** The {@code n} low bits set, n in 1..64. */
    private static long lowBits(final int n)
    {
        return n == 64 ? -1L : (1L << n) - 1;
    }

    /** For the assert: a fresh walk to {@code gfn} still ends in the cached leaf table. */
    private boolean leafTableStillLinked(final long gfn)
    {
        final TdpIter iter = checkIter;
        for (iter.start(mmu.rootPfn(), mmu.rootLevel(), Spte.PG_LEVEL_4K, gfn, gfn + 1); iter.valid(); iter.next())
        {
            if (iter.level() == Spte.PG_LEVEL_4K)
            {
                return iter.sptepTable() == leafTablePfn && iter.gfn() - iter.sptepIndex() == leafTableGfn;
            }
        }
        return false;
    }

    /**
     * Moves set D bits of the slot's 4 KiB leaves into the bitmap, clearing each with an atomic
     * and-not so a D bit hardware sets meanwhile is either moved now or stays for the next sweep
     * (the analogue of flushing PML buffers, kernel: kvm_arch_sync_dirty_log). Read lock.
     *
     * <p>A D bit on a leaf without W is cleared and not reported: hardware sets D only through W,
     * so it predates the write-protection (a child of a write-protected huge page inherits the
     * huge page's D bit when a write splits it, as make_huge_page_split_spte copies it), and a
     * write since would have taken the fast path, which marks the page itself. PML logs only the
     * D transitions of writes, so the kernel never reports such a page; reporting it made a
     * split huge page show up whole (found by kvm-check against a real KVM).
     */
    void syncDbits(final Memslot slot)
    {
        mmu.walkShared(slot.baseGfn(), slot.endGfn(), Spte.PG_LEVEL_4K, iter ->
        {
            final long spte = iter.oldSpte();
            if (iter.level() == Spte.PG_LEVEL_4K && Spte.isPresentLeaf(spte, iter.level()) && Spte.isDirty(spte))
            {
                final long before = mmu.clearSpteBits(iter, Spte.DIRTY);
                if ((before & Spte.DIRTY) != 0)
                {
                    counters.dbitCleared.increment();
                    if (Spte.isWritable(before))
                    {
                        mmu.markPageDirty(slot, iter.gfn());
                    }
                }
            }
            return false;
        });
    }

    /**
     * Clears W on every present leaf at or above {@code minLevel}, keeping MMU-writable (kernel:
     * kvm_tdp_mmu_wrprot_slot, read lock, atomic updates).
     *
     * @return true if a TLB flush is needed.
     */
    boolean wrprotSlot(final Memslot slot, final int minLevel)
    {
        return mmu.walkShared(slot.baseGfn(), slot.endGfn(), Spte.PG_LEVEL_4K, iter ->
            iter.level() >= minLevel && clearLeafBit(iter, Spte.WRITABLE, counters.wrprot));
    }

    /** Atomically clears {@code bit} of a present leaf; true (a flush is due) if it was set. */
    private boolean clearLeafBit(final TdpIter iter, final long bit, final java.util.concurrent.atomic.LongAdder counter)
    {
        if (!Spte.isPresentLeaf(iter.oldSpte(), iter.level()) || (mmu.clearSpteBits(iter, bit) & bit) == 0)
        {
            return false;
        }
        counter.increment();
        return true;
    }

    /** kernel: kvm_tdp_mmu_clear_dirty_slot. Clears D on every 4 KiB leaf. */
    boolean clearDirtySlot(final Memslot slot)
    {
        return mmu.walkShared(slot.baseGfn(), slot.endGfn(), Spte.PG_LEVEL_4K, iter ->
            iter.level() == Spte.PG_LEVEL_4K && clearLeafBit(iter, Spte.DIRTY, counters.dbitCleared));
    }

    /**
     * Splits every huge leaf in the slot down to 4 KiB (kernel: tdp_mmu_split_huge_pages_root, read
     * lock). Pre-order: a 1 GiB leaf becomes a table of 2 MiB leaves, which the walk then enters
     * and splits in turn. No flush: translations do not change.
     *
     * <p>Best effort, as in the kernel: when a table cannot be allocated (the store is exhausted,
     * or the fault-injection hook fails it) splitting stops once the tables already in the cache
     * are used. The kernel (6.12) allocates one table per split, with the lock dropped
     * (tdp_mmu_alloc_sp_for_split), returns -ENOMEM at the first that fails, and
     * kvm_tdp_mmu_try_split_huge_pages stops there; nobody reports it. The huge leaves left stay mapped;
     * enable write-protects them next, and each is split by its first write fault. Counted in
     * {@code split.alloc-failed}.
     *
     * @return false if an allocation failure stopped the split early.
     */
    boolean splitHugePages(final Memslot slot)
    {
        return splitHugePages(slot, slot.baseGfn(), slot.endGfn());
    }

    /** {@link #splitHugePages(Memslot)} over the slot's gfns [start, end) only. */
    boolean splitHugePages(final Memslot slot, final long start, final long end)
    {
        final TdpIter iter = new TdpIter(mmu.store());
        // No more tables than the slot could ever split into (a small slot on a small store).
        final int fill = (int)Math.min(SPLIT_CACHE_TABLES, slot.npages() / Spte.ENTRIES_PER_TABLE + 1);
        final MmuMemoryCache cache = new MmuMemoryCache(mmu.store(), fill, counters);
        // A child whose split lost a race is refilled on the retry, as the kernel reuses its sp.
        long child = -1;
        boolean exhausted = !topupForSplit(cache, fill);
        mmu.lock().readLock();
        mmu.rcu().readLock();
        // kernel: for_each_valid_tdp_mmu_root_yield_safe in kvm_tdp_mmu_try_split_huge_pages: the
        // reference keeps the root allocated across yields; a fast invalidation during a yield
        // leaves the split going on in a root the zap of invalidated roots tears down meanwhile.
        TdpMmuRoots.Root root = mmu.roots().nextRoot(null, true);
        try
        {
            if (root != null)
            {
                walk:
                for (iter.start(root.pfn(), mmu.rootLevel(), Spte.PG_LEVEL_2M, start, end);
                    iter.valid(); iter.next())
                {
                    if (mmu.condResched(iter, false, true))
                    {
                        continue;
                    }
                    mmu.hook(TestHook.Point.SPLIT_AT_ENTRY, iter.gfn());
                    while (iter.level() > Spte.PG_LEVEL_4K && Spte.isPresentLeaf(iter.oldSpte(), iter.level()))
                    {
                        if (child < 0 && cache.size() == 0)
                        {
                            if (exhausted)
                            {
                                // The allocation that failed was for this page: stop here.
                                break walk;
                            }
                            // kernel: tdp_mmu_alloc_sp_for_split drops the lock to allocate, then the
                            // walk restarts from the root.
                            mmu.rcu().readUnlock();
                            mmu.lock().readUnlock();
                            try
                            {
                                exhausted = !topupForSplit(cache, fill);
                            }
                            finally
                            {
                                mmu.lock().readLock();
                                mmu.rcu().readLock();
                            }
                            iter.markYielded();
                            break;
                        }
                        if (child < 0)
                        {
                            child = cache.take();
                        }
                        if (mmu.splitHugePage(iter, child))
                        {
                            child = -1;
                            break;
                        }
                    }
                }
            }
        }
        finally
        {
            mmu.rcu().readUnlock();
            if (root != null)
            {
                mmu.roots().put(root);
                root = null;
            }
            mmu.lock().readUnlock();
            if (child >= 0)
            {
                mmu.freeUnlinkedTable(child);
            }
            cache.free();
        }
        return !exhausted;
    }

    /**
     * Tops the split's cache up to {@code fill}, without the MMU lock.
     *
     * @return false if the store could not supply them all; what it did supply stays in the cache.
     */
    private boolean topupForSplit(final MmuMemoryCache cache, final int fill)
    {
        try
        {
            cache.topup(fill);
            return true;
        }
        catch (final OutOfTablesException e)
        {
            counters.splitAllocFailures.increment();
            return false;
        }
    }

    private static void checkLogging(final Memslot slot)
    {
        if (!slot.dirtyLogging())
        {
            throw new IllegalStateException("dirty logging is off for " + slot);
        }
    }
}
