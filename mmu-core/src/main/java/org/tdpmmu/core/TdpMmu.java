package org.tdpmmu.core;

import org.tdpmmu.concurrency.InvalidationSequence;
import org.tdpmmu.concurrency.MmuLock;
import org.tdpmmu.concurrency.Rcu;
import org.tdpmmu.concurrency.RemoteRequests;

/**
 * The TDP MMU: its roots ({@link TdpMmuRoots}: one shared by every vCPU until a fast invalidation,
 * {@link #zapAllFast}), faults under the read lock with atomic SPTE updates, zaps, table teardown
 * through RCU, and the mmu_notifier side (kernel: arch/x86/kvm/mmu/tdp_mmu.c).
 *
 * <p>Locking as in the kernel: faults, atomic zaps, huge-page splitting and recovery run with
 * {@link MmuLock} held for read and change SPTEs only with cmpxchg ({@link #setSpteAtomic});
 * mmu_notifier zaps, dirty-log clearing of a mask and teardown hold it for write and still use an
 * atomic exchange ({@link #setSpte}), because hardware (vCPU page walks setting A/D) and the
 * lockless fast fault path take no lock at all. Every walker is inside an RCU read-side section.
 */
public final class TdpMmu implements MmuNotifier
{
    /** kernel: RET_PF_FIXED. A translation was installed (or, from the fast path, fixed). */
    public static final int RET_PF_FIXED = 0;
    /** kernel: RET_PF_SPURIOUS. The access is already allowed; nothing changed. */
    public static final int RET_PF_SPURIOUS = 1;
    /** kernel: RET_PF_RETRY. Lost a race or stale; the vCPU re-executes the access. */
    public static final int RET_PF_RETRY = 2;
    /** kernel: RET_PF_INVALID. The fast path could not fix it; take the slow path. */
    static final int RET_PF_INVALID = 3;
    /**
     * kernel: RET_PF_EMULATE. The gfn is in no memslot (its slot was deleted or moved while the
     * vCPU ran): KVM emulates the access as MMIO and exits to userspace; nothing is mapped.
     */
    public static final int RET_PF_EMULATE = 4;

    private static final int FAST_PF_MAX_RETRIES = 4;
    /** Spins inside the seeded non-atomic zap's window (INVALID_ROOT_ZAP_NOT_ATOMIC only). */
    private static final int BUG_WINDOW_SPINS = 1 << 9;

    private final PageTableStore store;
    private final Rcu rcu;
    private final MmuLock lock;
    private final InvalidationSequence invalidation;
    private final RemoteRequests requests;
    private final Memslots slots;
    private final HostMemory host;
    private final MmuCounters counters;
    private final VmConfig config;
    private final int rootLevel;
    /** The end of a whole-root zap (kernel: tdp_mmu_max_gfn_exclusive): no slot reaches past it. */
    private final long maxGfnExclusive;
    /** kernel: kvm->arch.tdp_mmu_roots. */
    private final TdpMmuRoots roots;
    private final DeferredTableFrees deferredFrees;
    /** False once the VM is destroyed (every root gone). */
    private volatile boolean alive = true;
    /** Set before any vCPU runs (tests only); read plain on every hook point. */
    private TestHook hook = TestHook.NONE;

    private final boolean bugSkipRetry;
    private final boolean bugNoFreeze;
    private final boolean bugNoRcuFree;
    private final boolean bugNoFlushAfterZap;
    private final boolean bugPlainStore;
    private final boolean bugNoFrozenCheck;
    private final boolean bugNoDirtyCarry;
    private final boolean bugLeakLoser;
    private final boolean bugRingPushBeforeWritable;
    private final boolean bugFastPfPlainStore;
    private final boolean bugSkipStaleRootCheck;
    private final boolean bugInvalidRootZapNotAtomic;
    /**
     * The VM has dirty rings (kernel: kvm->dirty_ring_size != 0): set once, before any vCPU
     * exists ({@link Vm#enableDirtyRing}), so every later reader sees it.
     */
    private volatile boolean dirtyRings;
    /** VmConfig#locklessAging: aging under RCU alone (6.15+). */
    private final boolean locklessAging;
    /** VmConfig#spteNeedsAtomicUpdate: which atomic-update rule a write-locked writer follows. */
    private final boolean atomicRule615;
    /** VmConfig#retryBeforeMmuLock: the 6.8 mmu_notifier check before the pfn lookup and the lock. */
    private final boolean retryBeforeLock;
    /** VmConfig#splitHugeOnFault: split a huge leaf above the fault's level (6.2+) or zap it (before). */
    private final boolean splitHugeOnFault;
    /** VmConfig#faultUnderWriteLock: faults take mmu_lock for write (before 5.12) or for read. */
    private final boolean faultUnderWriteLock;
    /**
     * The layout's values (VmConfig#suppressVeNonPresent), final fields read plain: the same cost
     * on the hot path as the constants they replace.
     */
    private final long nonPresent;
    private final long frozen;
    private final long presentExtra;
    /**
     * Flags every new leaf gets: {@link Spte#LEAF_AD_DISABLED} when the VM's EPT has no A/D bits,
     * {@link Spte#LEAF_SUPPRESS_VE} in the 6.11+ layout.
     */
    private final int adFlag;

    TdpMmu(final VmConfig config, final PageTableStore store, final Rcu rcu, final MmuLock lock,
        final InvalidationSequence invalidation, final RemoteRequests requests, final Memslots slots,
        final HostMemory host, final MmuCounters counters, final long maxGfnExclusive)
    {
        this.maxGfnExclusive = maxGfnExclusive;
        this.store = store;
        this.rcu = rcu;
        this.lock = lock;
        this.invalidation = invalidation;
        this.requests = requests;
        this.slots = slots;
        this.host = host;
        this.counters = counters;
        this.config = config;
        this.rootLevel = config.rootLevel();
        this.bugSkipRetry = config.has(SeededBug.SKIP_INVALIDATION_RETRY);
        this.bugRingPushBeforeWritable = config.has(SeededBug.RING_PUSH_BEFORE_WRITABLE);
        this.bugFastPfPlainStore = config.has(SeededBug.FAST_PF_PLAIN_STORE);
        this.bugNoFreeze = config.has(SeededBug.NO_FREEZE_IN_REMOVED_PT);
        this.bugNoRcuFree = config.has(SeededBug.NO_RCU_DEFERRED_FREE);
        this.bugNoFlushAfterZap = config.has(SeededBug.NO_FLUSH_AFTER_ZAP);
        this.bugPlainStore = config.has(SeededBug.PLAIN_STORE_INSTEAD_OF_CMPXCHG);
        this.bugNoFrozenCheck = config.has(SeededBug.NO_FROZEN_CHECK_BEFORE_INSTALL);
        this.bugNoDirtyCarry = config.has(SeededBug.NO_DIRTY_CARRY_ON_ZAP);
        this.bugLeakLoser = config.has(SeededBug.LEAK_LOSER_TABLE);
        this.bugSkipStaleRootCheck = config.has(SeededBug.SKIP_STALE_ROOT_CHECK);
        this.bugInvalidRootZapNotAtomic = config.has(SeededBug.INVALID_ROOT_ZAP_NOT_ATOMIC);
        this.locklessAging = config.locklessAging();
        this.atomicRule615 = config.spteNeedsAtomicUpdate();
        this.retryBeforeLock = config.retryBeforeMmuLock();
        this.splitHugeOnFault = config.splitHugeOnFault();
        this.faultUnderWriteLock = config.faultUnderWriteLock();
        final boolean sve = config.suppressVeNonPresent();
        this.nonPresent = Spte.nonPresent(sve);
        this.frozen = Spte.frozen(sve);
        this.presentExtra = Spte.presentExtra(sve);
        this.adFlag = (config.eptAdBits() ? 0 : Spte.LEAF_AD_DISABLED) | (sve ? Spte.LEAF_SUPPRESS_VE : 0);
        this.deferredFrees = new DeferredTableFrees(rcu, store, counters);
        // One shared root for every vCPU (no SMM, one address space) until a fast invalidation.
        this.roots = new TdpMmuRoots(this, store, lock, counters, deferredFrees, config.rootAllocUnderWriteLock());
        roots.allocFirst();
    }

    /** Installs a test pause point; call before any other thread uses the VM. */
    public void setTestHook(final TestHook hook)
    {
        this.hook = hook == null ? TestHook.NONE : hook;
    }

    /** Calls the test hook (no-op outside tests). */
    public void hook(final TestHook.Point point, final long gfn)
    {
        hook.at(point, gfn);
    }

    /** True when {@code bug} was seeded into this VM (tests only). */
    public boolean seededBug(final SeededBug bug)
    {
        return config.has(bug);
    }

    /**
     * The valid root's table (kernel: what for_each_valid_tdp_mmu_root yields; here there is at most
     * one valid root). For a caller that holds mmu_lock and does not drop it while it walks, or that
     * walks inside one RCU read-side section: see {@link TdpMmuRoots#valid}. A VM that never
     * invalidates has the same root for its whole life.
     *
     * @throws IllegalStateException when every root was invalidated and no vCPU loaded a new one.
     */
    public long rootPfn()
    {
        final TdpMmuRoots.Root r = roots.valid();
        if (r == null)
        {
            throw new IllegalStateException("no valid root: every root was invalidated and no vCPU has loaded a new one");
        }
        return r.pfn();
    }

    /** True if a valid root exists now (see {@link #rootPfn}). */
    public boolean hasValidRoot()
    {
        return roots.valid() != null;
    }

    /** The list of roots (kernel: kvm->arch.tdp_mmu_roots). */
    public TdpMmuRoots roots()
    {
        return roots;
    }

    public int rootLevel()
    {
        return rootLevel;
    }

    /** One past the last gfn a memslot may hold and a whole-root zap visits (kernel: tdp_mmu_max_gfn_exclusive). */
    public long maxGfnExclusive()
    {
        return maxGfnExclusive;
    }

    VmConfig config()
    {
        return config;
    }

    /** The VM uses dirty rings (set by {@link Vm#enableDirtyRing}, before any vCPU). */
    public boolean dirtyRings()
    {
        return dirtyRings;
    }

    void setDirtyRings()
    {
        dirtyRings = true;
    }

    /** False once the VM is destroyed (its roots are all gone); a fast invalidation leaves it true. */
    public boolean rootValid()
    {
        return alive;
    }

    /**
     * Handles an EPT violation on {@code gfn} (kernel: kvm_tdp_page_fault: fast_page_fault, then
     * the invalidation-sequence sample, pfn lookup and kvm_tdp_mmu_map under the read lock).
     *
     * @param iter the faulting vCPU's own iterator (no allocation per fault).
     * @return {@link #RET_PF_FIXED}, {@link #RET_PF_SPURIOUS} or {@link #RET_PF_RETRY}.
     */
    public int pageFault(final TdpIter iter, final long gfn, final boolean write)
    {
        final MmuMemoryCache cache = new MmuMemoryCache(store, rootLevel, counters);
        try
        {
            return pageFault(iter, cache, gfn, write);
        }
        finally
        {
            cache.free();
        }
    }

    /**
     * As {@link #pageFault(TdpIter, long, boolean)}, taking page tables only from {@code cache},
     * which is topped up first, before any lock: an exhausted store (or an allocation the
     * fault-injection hook fails) fails the fault with {@link OutOfTablesException} before any SPTE
     * changed, the lock untaken and the invalidation sequence unsampled (kernel:
     * mmu_topup_memory_caches returns -ENOMEM, kvm_mmu_page_fault returns it, and KVM_RUN fails
     * with -ENOMEM to userspace; the access is not done). The tables the top-up did get stay in
     * the cache for the next fault. Under the lock nothing allocates, so nothing there can fail
     * half-way: {@link #map} only takes from the cache, and {@link #handleRemovedPt} only frees.
     */
    public int pageFault(final TdpIter iter, final MmuMemoryCache cache, final long gfn, final boolean write)
    {
        return pageFault(iter, cache, gfn, write, null);
    }

    /**
     * As {@link #pageFault(TdpIter, MmuMemoryCache, long, boolean)} on behalf of the vCPU whose
     * dirty ring is {@code ring} (kernel: kvm_get_running_vcpu in mark_page_dirty_in_slot): a page
     * the fault dirties is pushed there; with {@code ring} null (no vCPU, or no rings) it goes to
     * the slot's bitmap.
     */
    public int pageFault(final TdpIter iter, final MmuMemoryCache cache, final long gfn, final boolean write,
        final DirtyRing ring)
    {
        return pageFault(null, iter, cache, gfn, write, ring);
    }

    /**
     * As {@link #pageFault(TdpIter, MmuMemoryCache, long, boolean, DirtyRing)} on {@code root}, the
     * root the faulting vCPU has loaded (kernel: vcpu->arch.mmu->root). Null: the valid root at the
     * time (callers without a vCPU, on a VM whose roots no fast invalidation changes meanwhile).
     * A fault whose root became invalid before it took the lock is stale and retries (kernel:
     * is_page_fault_stale): the vCPU reloads its root at its next entry.
     */
    public int pageFault(final TdpMmuRoots.Root root, final TdpIter iter, final MmuMemoryCache cache, final long gfn,
        final boolean write, final DirtyRing ring)
    {
        return pageFault(root, iter, cache, gfn, write, ring, null, null, null);
    }

    /**
     * As {@link #pageFault(TdpMmuRoots.Root, TdpIter, MmuMemoryCache, long, boolean, DirtyRing)} for
     * a vCPU that brings its thread's RCU and SRCU records ({@code reader} from {@link #rcu()},
     * {@code srcuReader} from the memslots' domain, so neither section looks a thread-local up; the
     * sections are the same) and its own counts ({@code stat}: the fast path's fix and dirty mark
     * land there, not in the VM's adders). Any may be null: the thread-local record, the VM's adders.
     */
    public int pageFault(final TdpMmuRoots.Root root, final TdpIter iter, final MmuMemoryCache cache, final long gfn,
        final boolean write, final DirtyRing ring, final org.tdpmmu.concurrency.RcuReader reader,
        final org.tdpmmu.concurrency.SrcuReader srcuReader, final VcpuStat stat)
    {
        // The whole fault is one SRCU read-side section (kernel: vcpu_run holds kvm->srcu around
        // the exit handler): a memslot delete or move waits for it before flushing the slot, so a
        // slot this fault found valid cannot lose its SPTEs' flush to an install that comes later.
        final org.tdpmmu.concurrency.Srcu srcu = slots.srcu();
        final org.tdpmmu.concurrency.SrcuReader sr = srcuReader != null ? srcuReader : srcu.reader();
        final int srcuIdx = srcu.readLock(sr);
        try
        {
            final Memslot slot = slots.find(gfn);
            if (slot == null)
            {
                counters.faultEmulate.increment();
                return RET_PF_EMULATE;
            }
            return pageFaultInSlot(root, iter, cache, slot, gfn, write, ring, reader, stat);
        }
        finally
        {
            srcu.readUnlock(sr, srcuIdx);
        }
    }

    private int pageFaultInSlot(final TdpMmuRoots.Root root, final TdpIter iter, final MmuMemoryCache cache, final Memslot slot, final long gfn,
        final boolean write, final DirtyRing ring, final org.tdpmmu.concurrency.RcuReader reader, final VcpuStat stat)
    {
        // The fast path comes first even in an invalid slot, as in the kernel: it only fixes an
        // existing leaf with cmpxchg, so the slot's flush, which may run concurrently once the
        // SRCU wait is over, either sees the fix or makes the cmpxchg fail.
        final int fast = fastPageFault(root, slot, gfn, write, ring, reader, stat);
        if (fast != RET_PF_INVALID)
        {
            return fast;
        }
        if (slot.invalid())
        {
            // kernel: __kvm_mmu_faultin_pfn, a slot being deleted or moved: retry until it is gone.
            counters.faultRetry.increment();
            return RET_PF_RETRY;
        }
        // One table per level below the root, plus one for a split: the most one fault can link.
        cache.topup(rootLevel);
        // The sample must precede the pfn lookup: an invalidation that changes the pfn after this
        // point either is still in progress or has moved the sequence when we check under the lock.
        final long mmuSeq = invalidation.sample();
        // kernel 6.8+ kvm_faultin_pfn: a mapping being changed makes the fault retry before the pfn
        // lookup and before mmu_lock, where waiting can only slow the invalidation down.
        if (retryBeforeLock && !bugSkipRetry && invalidation.retry(mmuSeq, gfn))
        {
            return retryUnlocked();
        }
        final long pfn = host.resolvePfn(slot, gfn);
        hook.at(TestHook.Point.FAULT_AFTER_PFN_RESOLVED, gfn);
        if (retryBeforeLock && !bugSkipRetry && invalidation.retry(mmuSeq, gfn))
        {
            return retryUnlocked();
        }
        // kernel before 5.12 (a2855afc7ee8): the TDP MMU fault held mmu_lock exclusively, so every
        // fault of every vCPU was serialised on it.
        if (faultUnderWriteLock)
        {
            lock.writeLock();
        }
        else
        {
            lock.readLock();
        }
        try
        {
            // The level depends on the slot's log mode: read it under the lock, so a dirty-log
            // enable (which waits for read holders after switching the mode) either sees this
            // fault's SPTE when it write-protects, or this fault sees the new mode.
            final int goalLevel = slot.maxMappingLevel(gfn);
            // kernel: is_page_fault_stale, first half. The root cannot become invalid while this
            // fault holds the read lock (invalidation takes it for write), so after this check
            // nothing is installed into a root that the zap of invalidated roots may have passed.
            final TdpMmuRoots.Root on = root != null ? root : roots.valid();
            if (on == null || (on.invalid() && !bugSkipStaleRootCheck))
            {
                counters.faultRetryStaleRoot.increment();
                counters.faultRetry.increment();
                return RET_PF_RETRY;
            }
            if (!bugSkipRetry && invalidation.retry(mmuSeq, gfn))
            {
                counters.faultRetryInvalidation.increment();
                counters.faultRetry.increment();
                return RET_PF_RETRY;
            }
            final int r = map(on.pfn(), iter, cache, slot, gfn, pfn, goalLevel, write, ring);
            countFault(r);
            return r;
        }
        finally
        {
            if (faultUnderWriteLock)
            {
                lock.writeUnlock();
            }
            else
            {
                lock.readUnlock();
            }
        }
    }

    /**
     * The lock the atomic SPTE operations need: mmu_lock for read, or for write when faults take it
     * so ({@link VmConfig#faultUnderWriteLock}, before 5.12; the atomic operations are as correct
     * under the exclusive lock, and the kernel's asserts accept either since 6.8).
     */
    private boolean sharedOrFaultLock()
    {
        return lock.heldForRead() || faultUnderWriteLock && lock.heldForWrite();
    }

    /** A fault given up before mmu_lock (6.8+): counted as an invalidation retry, and apart. */
    private int retryUnlocked()
    {
        counters.faultRetryBeforeLock.increment();
        counters.faultRetryInvalidation.increment();
        counters.faultRetry.increment();
        return RET_PF_RETRY;
    }

    /**
     * Lockless fix of a write to a leaf that dirty logging write-protected but left MMU-writable,
     * or of any access to a leaf aging access-tracked on a VM without EPT A/D bits (kernel:
     * fast_page_fault on the TDP MMU): restore W (and mark the page dirty) or R/X with cmpxchg.
     */
    int fastPageFault(final TdpMmuRoots.Root root, final Memslot slot, final long gfn, final boolean write,
        final DirtyRing ring, final org.tdpmmu.concurrency.RcuReader reader, final VcpuStat stat)
    {
        if (reader != null)
        {
            rcu.readLock(reader);
        }
        else
        {
            rcu.readLock();
        }
        try
        {
            // Lockless: the vCPU's own root, which its reference keeps allocated; an invalid root
            // may still be fixed here, the zap of invalidated roots sees the change (cmpxchg).
            final TdpMmuRoots.Root on = root != null ? root : roots.valid();
            if (on == null)
            {
                return RET_PF_INVALID;
            }
            final long rootPfn = on.pfn();
            for (int attempt = 0; attempt < FAST_PF_MAX_RETRIES; attempt++)
            {
                // kernel: kvm_tdp_mmu_fast_pf_get_last_sptep, a lockless walk to the last SPTE.
                long table = rootPfn;
                int level = rootLevel;
                int index;
                long spte;
                while (true)
                {
                    index = Spte.index(gfn, level);
                    spte = store.lvSpte(table, index);
                    if (!Spte.isPresent(spte) || Spte.isLastAtLevel(spte, level))
                    {
                        break;
                    }
                    table = Spte.pfn(spte);
                    level--;
                }
                if (!Spte.isPresent(spte) || !Spte.isLastAtLevel(spte, level))
                {
                    return RET_PF_INVALID;
                }
                final boolean tracked = Spte.isAccessTrack(spte);
                if (!tracked && (!write || Spte.isWritable(spte)))
                {
                    counters.faultSpurious.increment();
                    return RET_PF_SPURIOUS;
                }
                // kernel 6.15 fast_page_fault: an access-tracked leaf gets R/X back from the saved
                // bits, and W too on a write if it is MMU-writable.
                long fixed = tracked ? Spte.restoreAccessTrack(spte) : spte;
                if (write && !Spte.isWritable(fixed))
                {
                    if (!Spte.isMmuWritable(fixed) || (level > Spte.PG_LEVEL_4K && slot.dirtyLogging()))
                    {
                        // Not ours to grant, or a huge page in a logged slot the slow path must split.
                        return RET_PF_INVALID;
                    }
                    fixed |= Spte.WRITABLE;
                }
                final boolean grantsWrite = Spte.isWritable(fixed) && !Spte.isWritable(spte);
                if (bugRingPushBeforeWritable && ring != null && grantsWrite)
                {
                    markPageDirty(slot, gfn, ring);
                }
                if (!bugFastPfPlainStore)
                {
                    hook.at(TestHook.Point.FAST_PF_BEFORE_CMPXCHG, gfn);
                }
                if (bugFastPfPlainStore ? plainFix(table, index, spte, fixed, gfn) : store.cmpxchgSpte(table, index, spte, fixed) == spte)
                {
                    if (tracked)
                    {
                        counters.accessTrackRestored.increment();
                    }
                    // The dirty bit must be set only after W is back: a harvest that cleared it
                    // in between re-protects this SPTE after reading the bitmap word. Likewise a
                    // ring entry: a reset of it between the push and this cmpxchg would re-protect
                    // nothing, and the W set here would let later writes go unlogged.
                    if (grantsWrite && !(bugRingPushBeforeWritable && ring != null))
                    {
                        markPageDirty(slot, gfn, ring, stat);
                    }
                    // Counted apart from fault.installed: the outcomes fault.* add up to the exits.
                    if (stat != null)
                    {
                        stat.pfFast++;
                    }
                    else
                    {
                        counters.faultFast.increment();
                    }
                    return RET_PF_FIXED;
                }
                counters.cmpxchgFailures.increment();
            }
            return RET_PF_INVALID;
        }
        finally
        {
            if (reader != null)
            {
                rcu.readUnlock(reader);
            }
            else
            {
                rcu.readUnlock();
            }
        }
    }

    /**
     * The seeded bug FAST_PF_PLAIN_STORE: the racy read-compare-store the cmpxchg replaces. The
     * test hook sits in its window, between the compare and the store (where a zap's exchange is
     * then overwritten), and a yield widens it for the stress test, as with the set_spte_atomic bug.
     */
    private boolean plainFix(final long table, final int index, final long snapshot, final long fixed, final long gfn)
    {
        if (store.lvSpte(table, index) != snapshot)
        {
            return false;
        }
        hook.at(TestHook.Point.FAST_PF_BEFORE_CMPXCHG, gfn);
        Thread.yield();
        store.soSpte(table, index, fixed);
        return true;
    }

    /**
     * Installs the translation of {@code gfn} at {@code goalLevel} (kernel: kvm_tdp_mmu_map).
     * Links missing tables, splits huge leaves above the goal, and gives up with RETRY on any lost
     * race or frozen entry. Caller holds the read lock.
     */
    int map(final long rootPfn, final TdpIter iter, final MmuMemoryCache cache, final Memslot slot, final long gfn,
        final long pfn, final int goalLevel, final boolean write, final DirtyRing ring)
    {
        assert sharedOrFaultLock() : "kvm_tdp_mmu_map needs mmu_lock held for read";
        if (!alive)
        {
            throw new IllegalStateException("fault on a destroyed VM (root invalid)");
        }
        rcu.readLock();
        try
        {
            for (iter.start(rootPfn, rootLevel, goalLevel, gfn, gfn + 1); iter.valid(); iter.next())
            {
                final long old = iter.oldSpte();
                // Another thread owns a frozen entry: retry rather than allocate a table we would free.
                if (Spte.isFrozen(old) && !bugNoFrozenCheck)
                {
                    return RET_PF_RETRY;
                }
                if (iter.level() == goalLevel)
                {
                    return mapTargetLevel(iter, slot, gfn, pfn, write, ring);
                }
                if (Spte.isPresent(old) && !Spte.isLarge(old))
                {
                    continue;
                }
                // kernel up to 6.1: a huge leaf above the goal is zapped (freeze, flush, clear) and
                // the walk goes on through a new empty table; only this page is mapped, the rest of
                // the huge page faults again page by page.
                if (Spte.isPresent(old) && !splitHugeOnFault)
                {
                    if (!zapSpteAtomic(iter))
                    {
                        return RET_PF_RETRY;
                    }
                    counters.faultZapHuge.increment();
                }
                final long child = cache.take();
                final boolean linked = Spte.isPresent(iter.oldSpte()) ? splitHugePage(iter, child) : linkTable(iter, child);
                if (!linked)
                {
                    counters.tablesLostRace.increment();
                    if (!bugLeakLoser)
                    {
                        store.free(child);
                        counters.tablesFreed.increment();
                    }
                    return RET_PF_RETRY;
                }
            }
            return RET_PF_RETRY;
        }
        finally
        {
            rcu.readUnlock();
        }
    }

    /** kernel: tdp_mmu_map_handle_target_level. */
    private int mapTargetLevel(final TdpIter iter, final Memslot slot, final long gfn, final long pfn,
        final boolean write, final DirtyRing ring)
    {
        final int level = iter.level();
        final long old = iter.oldSpte();
        final long leafPfn = pfn & -Spte.pagesPerLevel(level);
        final long newSpte;
        if (Spte.isPresentLeaf(old, level) && Spte.pfn(old) == leafPfn)
        {
            // Another vCPU mapped it first: add only what this access needs, never take away. An
            // access-tracked leaf (the fast path gave up on it) gets its saved R/X back first.
            final long base = Spte.isAccessTrack(old) ? Spte.restoreAccessTrack(old) : old;
            if (base == old && (!write || Spte.isWritable(old)))
            {
                return RET_PF_SPURIOUS;
            }
            newSpte = write ? base | Spte.WRITABLE | Spte.MMU_WRITABLE | Spte.HOST_WRITABLE : base;
        }
        else
        {
            newSpte = Spte.makeLeaf(leafPfn, level, leafFlags(slot, write) | adFlag);
        }
        if (!setSpteAtomic(iter, newSpte))
        {
            return RET_PF_RETRY;
        }
        if (Spte.isPresent(old) && !Spte.isLastAtLevel(old, level))
        {
            // A huge leaf replaced a table: walkers may hold translations through the old table.
            flushRemoteTlbs();
        }
        if (write && slot.dirtyLogging())
        {
            markPageDirty(slot, gfn, ring);
        }
        return RET_PF_FIXED;
    }

    /**
     * What a new leaf grants (kernel: make_spte with ACC_ALL). Decision: outside dirty logging a
     * leaf is writable from the start (the host page is writable), with D set only by a write. In
     * a write-protect-logged slot a read fault maps it MMU-writable but not W, so the first write
     * takes the fast path and is logged; a D-bit-logged slot maps it writable with D clear.
     */
    static int leafFlags(final Memslot slot, final boolean write)
    {
        int flags = Spte.LEAF_ACCESSED;
        if (slot.logMode() == Memslot.LOG_WRPROT && !write)
        {
            flags |= Spte.LEAF_MMU_WRITABLE;
        }
        else
        {
            flags |= Spte.LEAF_WRITABLE;
        }
        if (write)
        {
            flags |= Spte.LEAF_DIRTY;
        }
        return flags;
    }

    /**
     * Atomically replaces the iterator's entry (kernel: tdp_mmu_set_spte_atomic). On a lost race
     * returns false and leaves the current value in the iterator's snapshot; nothing else changes.
     * On success propagates the change ({@link #handleChangedSpte}).
     */
    public boolean setSpteAtomic(final TdpIter iter, final long newSpte)
    {
        assert sharedOrFaultLock() : "tdp_mmu_set_spte_atomic needs mmu_lock held for read";
        final long old = iter.oldSpte();
        assert bugNoFrozenCheck || !Spte.isFrozen(old) : "set_spte_atomic over a frozen entry";
        if (!trySet(iter, old, newSpte))
        {
            return false;
        }
        handleChangedSpte(iter.gfn(), old, newSpte, iter.level(), true);
        return true;
    }

    /** The cmpxchg itself, or with the seeded bug the racy read-compare-store it replaced. */
    private boolean trySet(final TdpIter iter, final long old, final long newSpte)
    {
        final long table = iter.sptepTable();
        final int index = iter.sptepIndex();
        if (bugPlainStore)
        {
            final long current = store.lvSpte(table, index);
            if (current != old)
            {
                iter.refreshOldSpte(current);
                counters.cmpxchgFailures.increment();
                return false;
            }
            // The bug's window, compare passed and store not done: a test holds two threads here.
            hook.at(TestHook.Point.BEFORE_SET_SPTE, iter.gfn());
            Thread.yield();
            store.soSpte(table, index, newSpte);
            return true;
        }
        hook.at(TestHook.Point.BEFORE_SET_SPTE, iter.gfn());
        final long witness = store.cmpxchgSpte(table, index, old, newSpte);
        if (witness != old)
        {
            iter.refreshOldSpte(witness);
            counters.cmpxchgFailures.increment();
            return false;
        }
        return true;
    }

    /**
     * Zaps the iterator's entry under the read lock (kernel: tdp_mmu_zap_spte_atomic): freeze,
     * flush, then write non-present, then propagate. Propagation comes last so vCPUs faulting on
     * the entry spin on the frozen value only briefly.
     */
    public boolean zapSpteAtomic(final TdpIter iter)
    {
        assert sharedOrFaultLock() : "tdp_mmu_zap_spte_atomic needs mmu_lock held for read";
        final long old = iter.oldSpte();
        if (!trySet(iter, old, frozen))
        {
            return false;
        }
        hook.at(TestHook.Point.ZAP_AFTER_FREEZE, iter.gfn());
        if (!bugNoFlushAfterZap)
        {
            flushRemoteTlbs();
        }
        store.soSpte(iter.sptepTable(), iter.sptepIndex(), nonPresent);
        if (Spte.isLastAtLevel(old, iter.level()))
        {
            counters.zapLeaf.increment();
        }
        handleChangedSpte(iter.gfn(), old, nonPresent, iter.level(), true);
        iter.refreshOldSpte(nonPresent);
        return true;
    }

    /**
     * Replaces the iterator's entry under the write lock (kernel: tdp_mmu_iter_set_spte). An atomic
     * exchange, not a store: hardware may set A/D and the fast path may set W concurrently.
     */
    public void setSpte(final TdpIter iter, final long newSpte)
    {
        assert lock.heldForWrite() : "tdp_mmu_set_spte needs mmu_lock held for write";
        final long old = writeSpteLocked(iter, newSpte);
        if (Spte.isFrozen(old))
        {
            throw new MmuBugException("frozen SPTE under the write lock at gfn 0x" + Long.toHexString(iter.gfn()));
        }
        handleChangedSpte(iter.gfn(), old, newSpte, iter.level(), false);
        iter.refreshOldSpte(newSpte);
    }

    /**
     * Propagates one SPTE change (kernel: handle_changed_spte): a present leaf changing pfn is a
     * bug; a dirty leaf losing its D bit carries it to the dirty log; a table unlinked goes to
     * {@link #handleRemovedPt}.
     */
    void handleChangedSpte(final long gfn, final long old, final long newSpte, final int level, final boolean shared)
    {
        if (old == newSpte)
        {
            return;
        }
        final boolean wasPresent = Spte.isPresent(old);
        if (!wasPresent)
        {
            return;
        }
        final boolean isPresent = Spte.isPresent(newSpte);
        final boolean wasLeaf = Spte.isLastAtLevel(old, level);
        final boolean isLeaf = isPresent && Spte.isLastAtLevel(newSpte, level);
        final boolean pfnChanged = Spte.pfn(old) != Spte.pfn(newSpte);
        if (wasLeaf && isLeaf && pfnChanged)
        {
            throw new MmuBugException("present leaf changed pfn without a zap at gfn 0x" + Long.toHexString(gfn) +
                ": " + Spte.describe(old, level) + " -> " + Spte.describe(newSpte, level));
        }
        if (wasLeaf)
        {
            // A split (leaf -> table) keeps D in the children; every other loss of a set D bit
            // loses the only record of the write unless it reaches the log now.
            final boolean dLost = !isPresent || (isLeaf && (!Spte.isDirty(newSpte) || pfnChanged));
            if (Spte.isDirty(old) && Spte.isWritable(old) && dLost && !bugNoDirtyCarry)
            {
                carryDirty(gfn, level);
            }
            return;
        }
        if (!isPresent || isLeaf || pfnChanged)
        {
            handleRemovedPt(Spte.pfn(old), level - 1, gfn, shared);
        }
    }

    /**
     * Tears down an unlinked table (kernel: handle_removed_pt): freezes each entry with an atomic
     * exchange — a thread holding a pointer into the table may still install into an empty entry,
     * and hardware may still set A/D through cached upper levels until the flush — propagates
     * each old value, and frees the table after a grace period.
     *
     * <p>No step here can fail for lack of memory: freezing and propagating allocate nothing, and
     * the deferred free ({@link Rcu#callRcu}) cannot refuse. So no entry is ever left frozen by an
     * error half-way through (the scenario checks look for one after every run).
     */
    void handleRemovedPt(final long table, final int level, final long baseGfn, final boolean shared)
    {
        final long pages = Spte.pagesPerLevel(level);
        // Counted per table: the kernel visits every entry, present or not (the cost model's unit).
        counters.removedPtEntries.add(Spte.ENTRIES_PER_TABLE);
        for (int i = 0; i < Spte.ENTRIES_PER_TABLE; i++)
        {
            final long gfn = baseGfn + i * pages;
            hook.at(TestHook.Point.REMOVED_PT_BEFORE_ENTRY, gfn);
            long old;
            if (bugNoFreeze)
            {
                old = store.lvSpte(table, i);
            }
            else if (shared)
            {
                // A frozen entry belongs to a thread zapping through a stale pointer; wait until
                // it writes its final value, then take ownership.
                while (Spte.isFrozen(old = store.xchgSpte(table, i, frozen)))
                {
                    counters.frozenSpins.increment();
                    Thread.onSpinWait();
                }
            }
            else
            {
                old = store.lvSpte(table, i);
                if (!Spte.isPresent(old))
                {
                    continue;
                }
                old = store.xchgSpte(table, i, frozen);
            }
            handleChangedSpte(gfn, old, frozen, level, shared);
        }
        freeTableDeferred(table);
    }

    private void freeTableDeferred(final long table)
    {
        counters.zapNonLeaf.increment();
        if (bugNoRcuFree)
        {
            store.free(table);
            counters.tablesFreed.increment();
            return;
        }
        deferredFrees.free(table);
    }

    /** kernel: tdp_mmu_link_sp. Installs a non-leaf entry pointing at {@code child}. */
    private boolean linkTable(final TdpIter iter, final long child)
    {
        if (!setSpteAtomic(iter, Spte.makeNonLeaf(child, presentExtra)))
        {
            return false;
        }
        counters.tablesLinked.increment();
        return true;
    }

    /**
     * Replaces the huge leaf at the iterator with a table of 512 smaller leaves mapping the same
     * memory (kernel: tdp_mmu_split_huge_page). No flush: every translation stays the same.
     * {@code child} is a table nobody else can reach; a lost link race leaves it filled and unlinked,
     * and the caller may fill it again or free it.
     */
    public boolean splitHugePage(final TdpIter iter, final long child)
    {
        // The child is private until linked: plain stores, published by the link's cmpxchg.
        store.fillSplitChildren(child, iter.oldSpte(), iter.level());
        if (!linkTable(iter, child))
        {
            return false;
        }
        counters.splits.increment();
        return true;
    }

    public long allocTable()
    {
        final long t = store.allocate();
        counters.tableAllocs.increment();
        return t;
    }

    /**
     * kernel: mark_page_dirty_in_slot. With dirty rings, a page a vCPU dirties is pushed to that
     * vCPU's ring ({@code ring}); a page dirtied without a vCPU ({@code ring} null) goes to the
     * slot's bitmap, as with KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP. Decision: the bitmap is always
     * kept beside the rings (the kernel needs it only on arm64, where the ITS tables are written
     * without a vCPU; on x86 such a write WARNs), so harvesting the bitmap stays valid with rings.
     * No test-and-set on the ring: each mark is one entry, as in the kernel; a page is marked
     * again only after its protection was reset, so an entry per mark is also an entry per write
     * that the reset must see.
     */
    public void markPageDirty(final Memslot slot, final long gfn, final DirtyRing ring)
    {
        markPageDirty(slot, gfn, ring, null);
    }

    /** As {@link #markPageDirty(Memslot, long, DirtyRing)}, a bitmap mark counted in {@code stat} if not null. */
    private void markPageDirty(final Memslot slot, final long gfn, final DirtyRing ring, final VcpuStat stat)
    {
        if (ring != null && slot.dirtyLogging())
        {
            ring.push(slot.id(), gfn - slot.baseGfn());
            counters.ringPushed.increment();
            return;
        }
        markBitmap(slot, gfn, stat);
    }

    /** kernel: mark_page_dirty_in_slot without a running vCPU: the slot's bitmap. */
    public void markPageDirty(final Memslot slot, final long gfn)
    {
        markBitmap(slot, gfn, null);
    }

    /** The bitmap half of mark_page_dirty_in_slot; a new mark is counted in {@code stat}, or the VM's adder if null. */
    private void markBitmap(final Memslot slot, final long gfn, final VcpuStat stat)
    {
        if (slot.dirtyLogging() && slot.dirtyBitmap().setBit(gfn - slot.baseGfn()))
        {
            if (stat != null)
            {
                stat.dirtyMarked++;
            }
            else
            {
                counters.dirtyMarked.increment();
            }
        }
    }

    /**
     * Moves the D bit of a writable leaf that is going away into the dirty log. Only in a D-bit
     * logged slot, where D is the record of a write (the PML log's role); a write-protect logged
     * slot marked the page when the fault granted W. Only for a writable leaf (checked by the
     * caller): hardware sets D only through W, so D on a write-protected leaf predates the
     * protection, that is the enable or the harvest that protected it, and records no write since
     * (kernel: the PML log, not the SPTE, is KVM's record, so a zap marks nothing).
     */
    private void carryDirty(final long gfn, final int level)
    {
        final Memslot slot = slots.find(gfn);
        // With rings a D-bit logged page was pushed when its D bit was set (the PML log's role):
        // the zap has nothing left to carry.
        if (slot == null || slot.logMode() != Memslot.LOG_DBIT || dirtyRings)
        {
            return;
        }
        final long pages = Spte.pagesPerLevel(level);
        final long end = Math.min(gfn + pages, slot.endGfn());
        for (long g = Math.max(gfn, slot.baseGfn()); g < end; g++)
        {
            if (slot.dirtyBitmap().setBit(g - slot.baseGfn()))
            {
                counters.dirtyCarried.increment();
            }
        }
    }

    /**
     * Replaces the iterator's entry with the MMU lock held for write (kernel: kvm_tdp_mmu_write_spte):
     * an atomic exchange if the entry may change without the lock ({@link Spte#needAtomicWrite}
     * with the rule of the VM's aging mode),
     * so a bit hardware or the fast path sets meanwhile is returned rather than lost; otherwise a
     * release store, because nobody else can change the entry and the iterator's snapshot is exact.
     * A non-present entry also goes through the exchange (the kernel stores it plainly): the frozen
     * value is not present, and the exchange lets {@link #setSpte} see a frozen entry that a buggy
     * shared-mode path left behind instead of trusting the snapshot.
     *
     * @return the value replaced.
     */
    private long writeSpteLocked(final TdpIter iter, final long newSpte)
    {
        final long old = iter.oldSpte();
        if (Spte.needAtomicWrite(old, iter.level(), atomicRule615) || !Spte.isPresent(old))
        {
            return store.xchgSpte(iter.sptepTable(), iter.sptepIndex(), newSpte);
        }
        store.soSpte(iter.sptepTable(), iter.sptepIndex(), newSpte);
        return old;
    }

    /**
     * Clears {@code bits} in the iterator's entry (kernel: tdp_mmu_clear_spte_bits). With the lock
     * held for write and a leaf without volatile bits, one release store; otherwise an atomic
     * and-not (a cmpxchg loop), because hardware and the fast path change other bits without the
     * lock, and under the read lock so may other sweeps. No propagation: callers clear only W or D,
     * which the dirty log accounts for itself.
     *
     * @return the value before.
     */
    public long clearSpteBits(final TdpIter iter, final long bits)
    {
        final long table = iter.sptepTable();
        final int index = iter.sptepIndex();
        long old = iter.oldSpte();
        if (!Spte.isPresent(old) || (old & bits) == 0)
        {
            return old;
        }
        if (!Spte.needAtomicWrite(old, iter.level(), atomicRule615) && lock.heldForWrite())
        {
            store.soSpte(table, index, old & ~bits);
            iter.refreshOldSpte(old & ~bits);
            return old;
        }
        while (true)
        {
            final long witness = store.cmpxchgSpte(table, index, old, old & ~bits);
            if (witness == old)
            {
                iter.refreshOldSpte(old & ~bits);
                return old;
            }
            counters.cmpxchgFailures.increment();
            old = witness;
            if (!Spte.isPresent(old) || (old & bits) == 0)
            {
                iter.refreshOldSpte(old);
                return old;
            }
        }
    }

    /**
     * Gives the lock up for a moment if another thread waits for it (kernel:
     * tdp_mmu_iter_cond_resched): flushes first if a flush is pending, leaves the RCU section
     * around the lock drop, and marks the iterator so its next step restarts from the root. Never
     * yields twice at the same gfn. Caller is inside one RCU read-side section.
     *
     * @return true if it yielded (the caller's pending flush was done).
     */
    public boolean condResched(final TdpIter iter, final boolean flush, final boolean shared)
    {
        if (!iter.madeProgressSinceYield() || !lock.isContended())
        {
            return false;
        }
        if (flush)
        {
            flushRemoteTlbs();
        }
        // Tables unlinked so far may be freed once this walker (a reader itself) has let go.
        deferredFrees.submitPending();
        rcu.readUnlock();
        try
        {
            if (shared)
            {
                lock.condReschedRead();
            }
            else
            {
                lock.condReschedWrite();
            }
        }
        finally
        {
            rcu.readLock();
        }
        counters.yields.increment();
        iter.markYielded();
        return true;
    }

    /** One step of a {@link #walkShared} sweep. */
    @FunctionalInterface
    public interface SpteVisitor
    {
        /**
         * Looks at (and may change, atomically) the iterator's entry.
         *
         * @return true if the change leaves a TLB flush pending.
         */
        boolean visit(TdpIter iter);
    }

    /**
     * Walks [start, end) down to {@code minLevel} with the MMU lock held for read and inside one
     * RCU read-side section, yielding when the lock is contended (flushing first if a flush is
     * pending, as tdp_mmu_iter_cond_resched does): the loop every slot-wide sweep of the kernel's
     * tdp_mmu.c shares (wrprot, clear-dirty, zap-collapsible, recover-huge-pages). The tables the
     * sweep unlinks are freed by one RCU callback queued at its end or at a yield
     * ({@link DeferredTableFrees}), not one each.
     *
     * @return true if a flush is still pending at the end; the caller flushes.
     */
    public boolean walkShared(final long start, final long end, final int minLevel, final SpteVisitor visitor)
    {
        final TdpIter iter = new TdpIter(store);
        boolean flush = false;
        deferredFrees.begin();
        lock.readLock();
        try
        {
            // kernel: for_each_valid_tdp_mmu_root_yield_safe: the reference on each root keeps it
            // allocated across a yield, during which a fast invalidation may invalidate it.
            for (TdpMmuRoots.Root root = roots.nextRoot(null, true); root != null; root = roots.nextRoot(root, true))
            {
                rcu.readLock();
                try
                {
                    for (iter.start(root.pfn(), rootLevel, minLevel, start, end); iter.valid(); iter.next())
                    {
                        if (condResched(iter, flush, true))
                        {
                            flush = false;
                            continue;
                        }
                        flush |= visitor.visit(iter);
                    }
                }
                finally
                {
                    rcu.readUnlock();
                }
            }
        }
        finally
        {
            lock.readUnlock();
            deferredFrees.end();
        }
        return flush;
    }

    /** kernel: kvm_flush_remote_tlbs. Every vCPU drops its TLB before this returns. */
    public void flushRemoteTlbs()
    {
        counters.tlbFlushRequests.increment();
        requests.makeAllCpusRequest(RemoteRequests.REQ_TLB_FLUSH, true);
    }

    /**
     * Zaps every leaf in [start, end) under the write lock (kernel: tdp_mmu_zap_leafs via
     * kvm_tdp_mmu_unmap_gfn_range). Tables stay linked.
     *
     * @return true if a TLB flush is needed.
     */
    public boolean zapLeafs(final TdpIter iter, final long start, final long end)
    {
        assert lock.heldForWrite() : "tdp_mmu_zap_leafs needs mmu_lock held for write here";
        boolean flush = false;
        // kernel: kvm_tdp_mmu_unmap_gfn_range walks invalid roots too: a vCPU that has not reloaded
        // yet, or the zap of invalidated roots, may still reach them. Only a valid root's zap needs
        // a flush: every vCPU flushes its TLB when it loads a new root.
        for (TdpMmuRoots.Root root = roots.nextRoot(null, false); root != null; root = roots.nextRoot(root, false))
        {
            rcu.readLock();
            try
            {
                for (iter.start(root.pfn(), rootLevel, Spte.PG_LEVEL_4K, start, end); iter.valid(); iter.next())
                {
                    final long old = iter.oldSpte();
                    if (!Spte.isPresentLeaf(old, iter.level()))
                    {
                        continue;
                    }
                    setSpte(iter, nonPresent);
                    counters.zapLeaf.increment();
                    flush |= !root.invalid();
                }
            }
            finally
            {
                rcu.readUnlock();
            }
        }
        return flush;
    }

    /**
     * Invalidates every root and zaps them (kernel: kvm_mmu_zap_all_fast, the TDP MMU half): with
     * mmu_lock held for write, marks each root invalid (kvm_tdp_mmu_invalidate_all_roots) and, in
     * the same critical section, asks every vCPU to drop its root and load a valid one
     * (KVM_REQ_MMU_FREE_OBSOLETE_ROOTS, waiting for the vCPUs in guest mode to take it); then, with
     * the lock dropped, zaps the invalidated roots under the read lock ({@link #zapInvalidatedRoots}).
     * When this returns no SPTE of an invalidated root is present; the roots themselves go when the
     * last vCPU holding one reloads. Callable from any thread that holds no mmu_lock and is not a
     * vCPU in guest mode (kernel: the caller holds slots_lock; here concurrent callers are allowed,
     * each root is zapped by one of them).
     */
    public void zapAllFast()
    {
        if (lock.held())
        {
            throw new IllegalStateException("zapAllFast takes mmu_lock itself: the calling thread already holds it");
        }
        lock.writeLock();
        try
        {
            if (!alive)
            {
                throw new IllegalStateException("zapAllFast on a destroyed VM");
            }
            counters.fastInvalidations.increment();
            roots.invalidateAll();
            requests.makeAllCpusRequest(RemoteRequests.REQ_MMU_FREE_OBSOLETE_ROOTS, true);
        }
        finally
        {
            lock.writeUnlock();
        }
        hook.at(TestHook.Point.FAST_ZAP_AFTER_INVALIDATE, -1);
        zapInvalidatedRoots();
    }

    /**
     * Zaps each root scheduled by an invalidation, under mmu_lock held for read, and puts the
     * reference the invalidation gave it (kernel: kvm_tdp_mmu_zap_invalidated_roots). The put comes
     * after the zap, so the root stays reachable by mmu_notifier zaps while it is being zapped.
     * No TLB flush: a vCPU flushes its TLB when it loads its new root.
     */
    public void zapInvalidatedRoots()
    {
        final TdpIter iter = new TdpIter(store);
        deferredFrees.begin();
        lock.readLock();
        try
        {
            for (TdpMmuRoots.Root root = roots.nextRoot(null, false); root != null; root = roots.nextRoot(root, false))
            {
                if (!TdpMmuRoots.takeScheduledZap(root))
                {
                    continue;
                }
                if (!root.invalid())
                {
                    throw new MmuBugException("zap scheduled on " + root + ", which is valid");
                }
                zapRoot(iter, root, true);
                roots.put(root);
            }
        }
        finally
        {
            lock.readUnlock();
            deferredFrees.end();
        }
    }

    /**
     * Zaps every SPTE of {@code root} in passes of growing granularity, 4 KiB, 2 MiB, 1 GiB, then
     * the root's own entries (kernel: tdp_mmu_zap_root): the first passes free small tables one at
     * a time, so a yield comes after a bounded amount of work. The caller holds a reference on the
     * root and mmu_lock ({@code shared}: for read, atomic updates).
     */
    void zapRoot(final TdpIter iter, final TdpMmuRoots.Root root, final boolean shared)
    {
        assert shared ? lock.heldForRead() : lock.heldForWrite() : "tdp_mmu_zap_root: mmu_lock mode";
        rcu.readLock();
        try
        {
            zapRootPass(iter, root, shared, Spte.PG_LEVEL_4K);
            zapRootPass(iter, root, shared, Spte.PG_LEVEL_2M);
            zapRootPass(iter, root, shared, Spte.PG_LEVEL_1G);
            zapRootPass(iter, root, shared, rootLevel);
        }
        finally
        {
            rcu.readUnlock();
        }
    }

    /** kernel: __tdp_mmu_zap_root. One pass: every present entry at {@code zapLevel} or below it. */
    private void zapRootPass(final TdpIter iter, final TdpMmuRoots.Root root, final boolean shared, final int zapLevel)
    {
        for (iter.start(root.pfn(), rootLevel, zapLevel, 0, maxGfnExclusive); iter.valid();
            iter.next())
        {
            if (condResched(iter, false, shared))
            {
                continue;
            }
            while (Spte.isPresent(iter.oldSpte()) && iter.level() <= zapLevel)
            {
                final long old = iter.oldSpte();
                final boolean leaf = Spte.isLastAtLevel(old, iter.level());
                hook.at(TestHook.Point.ROOT_ZAP_BEFORE_SET, iter.gfn());
                if (!shared)
                {
                    setSpte(iter, nonPresent);
                }
                else if (bugInvalidRootZapNotAtomic)
                {
                    // The seeded bug: a store of the snapshot's replacement, as if the lock were
                    // held for write; a split that linked a table here meanwhile is overwritten.
                    // The window between the read and the store is widened (a few microseconds,
                    // about a split's wait to re-take the lock after its yield), so a stress run
                    // meets it; the other plain-store bug yields for the same reason.
                    for (int spin = 0; spin < BUG_WINDOW_SPINS; spin++)
                    {
                        Thread.onSpinWait();
                    }
                    store.soSpte(iter.sptepTable(), iter.sptepIndex(), nonPresent);
                    handleChangedSpte(iter.gfn(), old, nonPresent, iter.level(), true);
                    iter.refreshOldSpte(nonPresent);
                }
                else if (!setSpteAtomic(iter, nonPresent))
                {
                    // Lost to a fault, a split or the fast path: look at the new value again.
                    continue;
                }
                if (leaf)
                {
                    counters.zapLeaf.increment();
                }
                break;
            }
        }
    }

    /**
     * Zaps the leaves of {@code slot}'s range and flushes (kernel: kvm_arch_flush_shadow_memslot
     * with KVM_X86_QUIRK_SLOT_ZAP_ALL off: kvm_unmap_gfn_range, then the flush of
     * kvm_mmu_zap_memslot_pages_and_flush; the TDP MMU has no shadowed guest tables to zap).
     * Tables stay linked, as after an mmu_notifier zap. Takes the MMU lock itself.
     */
    public void zapMemslot(final Memslot slot)
    {
        final TdpIter iter = new TdpIter(store);
        lock.writeLock();
        try
        {
            if (zapLeafs(iter, slot.baseGfn(), slot.endGfn()))
            {
                flushRemoteTlbs();
            }
        }
        finally
        {
            lock.writeUnlock();
        }
    }

    /** kernel: kvm_mmu_notifier_invalidate_range_start → kvm_mmu_invalidate_begin + unmap. */
    @Override
    public void invalidateRangeStart(final long startGfn, final long endGfn)
    {
        final TdpIter iter = new TdpIter(store);
        lock.writeLock();
        try
        {
            invalidation.begin(startGfn, endGfn);
            counters.invalidations.increment();
            if (zapLeafs(iter, startGfn, endGfn) && !bugNoFlushAfterZap)
            {
                flushRemoteTlbs();
            }
        }
        finally
        {
            lock.writeUnlock();
        }
    }

    /** kernel: kvm_mmu_notifier_invalidate_range_end → kvm_mmu_invalidate_end. */
    @Override
    public void invalidateRangeEnd(final long startGfn, final long endGfn)
    {
        lock.writeLock();
        try
        {
            invalidation.end(startGfn, endGfn);
        }
        finally
        {
            lock.writeUnlock();
        }
    }

    /**
     * Zaps the whole paging structure and frees the root (kernel: kvm_tdp_mmu_zap_all then the
     * root's put). Caller then waits for an RCU barrier to see every table back in the store.
     */
    public void destroy()
    {
        lock.writeLock();
        try
        {
            if (!alive)
            {
                return;
            }
            alive = false;
            // kernel: kvm_mmu_uninit_tdp_mmu. No vCPU runs any more: every root goes, whoever
            // held a reference (a vCPU's last load, an invalid root no zap reached).
            final java.util.List<TdpMmuRoots.Root> all = roots.removeAllForDestroy();
            // Every table of the structure goes to one RCU callback, not one each.
            deferredFrees.begin();
            rcu.readLock();
            try
            {
                final long pages = Spte.pagesPerLevel(rootLevel);
                for (final TdpMmuRoots.Root root : all)
                {
                    for (int i = 0; i < Spte.ENTRIES_PER_TABLE; i++)
                    {
                        final long old = store.xchgSpte(root.pfn(), i, nonPresent);
                        handleChangedSpte(i * pages, old, nonPresent, rootLevel, false);
                    }
                }
            }
            finally
            {
                rcu.readUnlock();
                deferredFrees.end();
            }
            flushRemoteTlbs();
            for (final TdpMmuRoots.Root root : all)
            {
                freeTableDeferred(root.pfn());
            }
        }
        finally
        {
            lock.writeUnlock();
        }
    }

    void countFault(final int r)
    {
        switch (r)
        {
            case RET_PF_FIXED:
                counters.faultInstalled.increment();
                break;
            case RET_PF_SPURIOUS:
                counters.faultSpurious.increment();
                break;
            default:
                counters.faultRetry.increment();
        }
    }

    /** Returns an unused table to the store (a table that lost its link race). */
    public void freeUnlinkedTable(final long table)
    {
        store.free(table);
        counters.tablesFreed.increment();
    }

    /** True when aging runs under RCU alone (6.15+), see {@link VmConfig#locklessAging}. */
    public boolean locklessAging()
    {
        return locklessAging;
    }

    /** {@link Spte#LEAF_AD_DISABLED} on a VM without EPT A/D bits, else 0: OR it into new leaves' flags. */
    public int adFlag()
    {
        return adFlag;
    }

    /** The layout's non-present value (kernel: SHADOW_NONPRESENT_VALUE). */
    public long nonPresent()
    {
        return nonPresent;
    }

    /** The layout's frozen value (kernel: FROZEN_SPTE). */
    public long frozen()
    {
        return frozen;
    }

    /** The bits the layout adds to every present entry (kernel: shadow_present_mask's SVE bit). */
    public long presentExtra()
    {
        return presentExtra;
    }

    public PageTableStore store()
    {
        return store;
    }

    public Rcu rcu()
    {
        return rcu;
    }

    public MmuLock lock()
    {
        return lock;
    }

    public InvalidationSequence invalidation()
    {
        return invalidation;
    }

    public Memslots slots()
    {
        return slots;
    }

    public HostMemory host()
    {
        return host;
    }

    public MmuCounters counters()
    {
        return counters;
    }
}
