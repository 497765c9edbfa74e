package org.tdpmmu.core;

import org.tdpmmu.concurrency.MmuLock;
import org.tdpmmu.concurrency.Rcu;

/**
 * Aging of the TDP MMU: the host's reclaim asks which guest pages were used since it last asked
 * (kernel: kvm_tdp_mmu_age_gfn_range, kvm_tdp_mmu_test_age_gfn; reached from the mmu_notifier's
 * clear_flush_young, clear_young and test_young through kvm_age_gfn / kvm_test_age_gfn).
 *
 * <p>Two locking modes ({@link VmConfig#locklessAging}):
 * <ul>
 *   <li>before 6.15: mmu_lock held for write around the walk (the common mmu_notifier code took
 *       it); A is cleared by {@link TdpMmu#clearSpteBits}, whose plain-store-or-atomic choice
 *       follows {@link Spte#hasVolatileBits}, and an A/D-disabled leaf is access-tracked by a
 *       write-locked exchange.</li>
 *   <li>6.15 and later ("KVM: x86/mmu: Age sptes locklessly"): no lock, only an RCU read-side
 *       section (the valid-root iteration that tolerates RCU alone); A is cleared by an atomic
 *       bit clear ({@link PageTableStore#clearBitsAtomic}), and an A/D-disabled leaf is
 *       access-tracked by one cmpxchg which, if it fails, leaves the leaf young and is never
 *       retried: the page was most likely just used. Writers under the lock then follow
 *       {@link Spte#needsAtomicUpdate}.</li>
 * </ul>
 * Neither mode yields (none of the notifiers that age may block), and neither flushes TLBs except
 * clear_flush_young: a vCPU that keeps using a cached translation leaves A clear, which only makes
 * the page look idle (the kernel accepts the same imprecision).
 *
 * <p>Counters: {@link MmuCounters#ageYoung} and {@link MmuCounters#ageIdle} count 4 KiB pages
 * (a young 2 MiB leaf is 512 young pages) seen by clear passes; test_young counts nothing, since it
 * stops at the first young leaf. {@link MmuCounters#ageGfns} counts the gfns of every call's range,
 * clear or test (the cost model charges them as {@code age.gfn}).
 */
public final class TdpMmuAge
{
    private final TdpMmu mmu;
    private final PageTableStore store;
    private final Rcu rcu;
    private final MmuLock lock;
    private final MmuCounters counters;
    private final boolean lockless;
    private final boolean bugNoRcu;
    private final boolean bugPlainStore;
    private final boolean bugTestYoungNoPresentCheck;
    private final boolean bugTrackPlainStore;

    public TdpMmuAge(final Vm vm)
    {
        this.mmu = vm.mmu();
        this.store = vm.store();
        this.rcu = vm.rcu();
        this.lock = vm.lock();
        this.counters = vm.counters();
        this.lockless = vm.config().locklessAging();
        this.bugNoRcu = vm.config().has(SeededBug.LOCKLESS_AGE_WITHOUT_RCU);
        this.bugPlainStore = vm.config().has(SeededBug.AGE_PLAIN_STORE);
        this.bugTestYoungNoPresentCheck = vm.config().has(SeededBug.TEST_YOUNG_WITHOUT_PRESENT_CHECK);
        this.bugTrackPlainStore = vm.config().has(SeededBug.AGE_TRACK_PLAIN_STORE);
    }

    /** True when this VM ages under RCU alone (6.15+). */
    public boolean lockless()
    {
        return lockless;
    }

    /**
     * kernel: kvm_mmu_notifier_clear_flush_young. Ages [start, end) and, if any leaf was young,
     * flushes remote TLBs so the next access walks again and sets A (or faults on the
     * access-tracked leaf).
     *
     * @return true if any page in the range was young.
     */
    public boolean clearFlushYoung(final TdpIter iter, final long start, final long end)
    {
        final boolean young = clearYoung(iter, start, end);
        if (young)
        {
            mmu.flushRemoteTlbs();
        }
        return young;
    }

    /**
     * kernel: kvm_mmu_notifier_clear_young (MGLRU, idle page tracking). Ages [start, end) without a
     * TLB flush.
     *
     * @return true if any page in the range was young.
     */
    public boolean clearYoung(final TdpIter iter, final long start, final long end)
    {
        return run(iter, start, end, false);
    }

    /**
     * kernel: kvm_mmu_notifier_test_young → kvm_tdp_mmu_test_age_gfn. Reports whether any leaf in
     * [start, end) is young; changes nothing.
     */
    public boolean testYoung(final TdpIter iter, final long start, final long end)
    {
        return run(iter, start, end, true);
    }

    /** Allocating conveniences for tests and host events that age rarely. */
    public boolean clearYoung(final long start, final long end)
    {
        return clearYoung(new TdpIter(store), start, end);
    }

    public boolean clearFlushYoung(final long start, final long end)
    {
        return clearFlushYoung(new TdpIter(store), start, end);
    }

    public boolean testYoung(final long start, final long end)
    {
        return testYoung(new TdpIter(store), start, end);
    }

    private boolean run(final TdpIter iter, final long start, final long end, final boolean testOnly)
    {
        if (start < 0 || end < start)
        {
            throw new IllegalArgumentException("aging range [0x" + Long.toHexString(start) + ", 0x" +
                Long.toHexString(end) + ") is empty or negative");
        }
        // One add per call: page_idle and lru_gen age a page per call, so a per-leaf count would
        // cost the same; a range call counts its gfns, what the host side walks for it.
        counters.ageGfns.add(end - start);
        if (lockless)
        {
            return ageGfnRange(iter, start, end, testOnly);
        }
        // Before 6.15 the mmu_notifier's common code took mmu_lock for write around the walk.
        lock.writeLock();
        try
        {
            return ageGfnRange(iter, start, end, testOnly);
        }
        finally
        {
            lock.writeUnlock();
        }
    }

    /**
     * kernel: __kvm_tdp_mmu_age_gfn_range. Walks the leaves of the valid root inside one RCU
     * read-side section: in lockless mode that section is all that keeps the tables it walks from
     * being freed under it (handle_removed_pt frees them only after a grace period).
     */
    private boolean ageGfnRange(final TdpIter iter, final long start, final long end, final boolean testOnly)
    {
        assert lockless || lock.heldForWrite() : "aging before 6.15 holds mmu_lock for write";
        final boolean rcuHeld = !bugNoRcu;
        if (rcuHeld)
        {
            rcu.readLock();
        }
        try
        {
            // kernel: for_each_valid_tdp_mmu_root_rcu. The root is freed through RCU too, so
            // reading it after the validity check is safe inside the section.
            final TdpMmuRoots.Root root = mmu.rootValid() ? mmu.roots().valid() : null;
            if (root == null)
            {
                return false;
            }
            boolean young = false;
            long youngPages = 0;
            long idlePages = 0;
            for (iter.start(root.pfn(), mmu.rootLevel(), Spte.PG_LEVEL_4K, start, end); iter.valid(); iter.next())
            {
                final long old = iter.oldSpte();
                // Presence first: lockless, this walk meets entries a zap has frozen, and the
                // frozen value has A (and the huge-page bit) among its bits (is_frozen_spte).
                final boolean leaf = testOnly && bugTestYoungNoPresentCheck
                    ? Spte.isLastAtLevel(old, iter.level())
                    : Spte.isPresentLeaf(old, iter.level());
                if (!leaf)
                {
                    continue;
                }
                final long pages = Spte.pagesPerLevel(iter.level());
                if (!Spte.isYoung(old))
                {
                    idlePages += pages;
                    continue;
                }
                if (testOnly)
                {
                    return true;
                }
                young = true;
                youngPages += pages;
                mmu.hook(TestHook.Point.AGE_BEFORE_CLEAR, iter.gfn());
                ageSpte(iter);
            }
            if (!testOnly)
            {
                counters.ageYoung.add(youngPages);
                counters.ageIdle.add(idlePages);
            }
            return young;
        }
        finally
        {
            if (rcuHeld)
            {
                rcu.readUnlock();
            }
        }
    }

    /**
     * Makes one young leaf old (kernel: kvm_tdp_mmu_age_spte in 6.15, age_gfn_range before). No
     * propagation: A and access tracking are not in the dirty log, and the pfn stays.
     */
    private void ageSpte(final TdpIter iter)
    {
        final long old = iter.oldSpte();
        if (Spte.isAdEnabled(old))
        {
            if (!lockless)
            {
                mmu.clearSpteBits(iter, Spte.ACCESSED);
                return;
            }
            if (bugPlainStore)
            {
                // The seeded bug: the snapshot without A stored back, dropping whatever hardware
                // (D) or the fast path (W) set since the snapshot.
                Thread.yield();
                store.soSpte(iter.sptepTable(), iter.sptepIndex(), old & ~Spte.ACCESSED);
                iter.refreshOldSpte(old & ~Spte.ACCESSED);
                return;
            }
            // kernel: tdp_mmu_clear_spte_bits_atomic, an atomic and-not: it cannot fail, so bits
            // set meanwhile by hardware or the fast path are kept.
            iter.refreshOldSpte(store.clearBitsAtomic(iter.sptepTable(), iter.sptepIndex(), Spte.ACCESSED) &
                ~Spte.ACCESSED);
            return;
        }
        final long tracked = Spte.markForAccessTrack(old);
        if (!lockless)
        {
            // Before 6.15 (kvm_tdp_mmu_write_spte): the exchange keeps nothing a racing fast path
            // restored, which is fine: the leaf is tracked again and the next access faults. The
            // kernel also marked a writable page dirty for the host here (kvm_set_pfn_dirty): host
            // page dirtiness is not modeled.
            mmu.setSpte(iter, tracked);
            return;
        }
        if (bugTrackPlainStore)
        {
            // The seeded bug: the marked snapshot stored over whatever the entry holds now (a
            // split may have linked a table there since the walk read the huge leaf).
            Thread.yield();
            store.soSpte(iter.sptepTable(), iter.sptepIndex(), tracked);
            iter.refreshOldSpte(tracked);
            return;
        }
        // 6.15: one cmpxchg. A failure means the leaf changed, most likely because it was just
        // used (the fast path restored it) or split: leave it young, never retry.
        final long witness = store.cmpxchgSpte(iter.sptepTable(), iter.sptepIndex(), old, tracked);
        if (witness == old)
        {
            iter.refreshOldSpte(tracked);
        }
        else
        {
            counters.ageCmpxchgLost.increment();
            iter.refreshOldSpte(witness);
        }
    }
}
