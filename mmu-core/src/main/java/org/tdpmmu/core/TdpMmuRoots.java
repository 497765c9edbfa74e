package org.tdpmmu.core;

import java.util.Arrays;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import org.tdpmmu.concurrency.MmuLock;

/**
 * The TDP MMU's list of roots with their reference counts and valid / invalid state (kernel:
 * kvm->arch.tdp_mmu_roots, tdp_mmu_pages_lock, kvm_tdp_mmu_get_root / kvm_tdp_mmu_put_root,
 * tdp_mmu_next_root, kvm_tdp_mmu_alloc_root (6.9+) and kvm_tdp_mmu_get_vcpu_root_hpa (before 6.9),
 * kvm_tdp_mmu_invalidate_all_roots).
 *
 * <p>Every vCPU here has the same role (one address space, no SMM, no nested), so there is at most
 * one valid root at any time: the first vCPU that loads after a fast invalidation allocates it and
 * every other one reuses it. Invalid roots stay in the list until their last reference goes.
 *
 * <p>References: a root starts with two, one for the vCPU that allocated it and one for the TDP MMU
 * itself, which the invalidation hands to the zap of invalidated roots ({@link TdpMmu#zapAllFast});
 * each vCPU holding the root and each iteration step holds one more. The last {@link #put} unlinks
 * the root from the list and frees its table after an RCU grace period; its children must already
 * be gone (the zap freed them), or they leak, as in the kernel. The list is read locklessly, as the
 * kernel's RCU list is: a volatile array replaced whole under the pages lock, so a reader
 * sees one snapshot and iterates it without allocating (a harvest reads it once per bitmap word). A root's {@code invalid} flag is written with mmu_lock held for write
 * and read under mmu_lock (either mode), or racily by the vCPU's request check, which only hints.
 */
public final class TdpMmuRoots
{
    /** One root (kernel: the struct kvm_mmu_page of a root: role.invalid, tdp_mmu_root_count). */
    public static final class Root
    {
        private final long pfn;
        /** The table's generation when allocated: a walk that starts here checks the table is still it. */
        private final long generation;
        /** kernel: tdp_mmu_root_count. */
        private final AtomicInteger refs;
        /** kernel: role.invalid. Set once, under mmu_lock for write; volatile for the racy hint readers. */
        private volatile boolean invalid;
        /** kernel: tdp_mmu_scheduled_root_to_zap. Taken once by one zapper (a CAS: zappers share the read lock). */
        private final AtomicBoolean scheduledToZap = new AtomicBoolean();

        Root(final long pfn, final long generation, final int refs)
        {
            this.pfn = pfn;
            this.generation = generation;
            this.refs = new AtomicInteger(refs);
        }

        public long pfn()
        {
            return pfn;
        }

        public long generation()
        {
            return generation;
        }

        public boolean invalid()
        {
            return invalid;
        }

        /** References held now (tests and checks). */
        public int refs()
        {
            return refs.get();
        }

        @Override
        public String toString()
        {
            return "root pfn 0x" + Long.toHexString(pfn) + (invalid ? " (invalid" : " (valid") + ", " + refs.get() +
                " reference(s))";
        }
    }

    /** The owning MMU, for its test hook only. */
    private final TdpMmu mmu;
    private final PageTableStore store;
    private final MmuLock lock;
    private final MmuCounters counters;
    private final DeferredTableFrees frees;
    private final boolean allocUnderWriteLock;
    private static final Root[] NONE = new Root[0];
    /**
     * kernel: tdp_mmu_roots, newest first (list_add_rcu). Replaced, never changed in place, and only
     * under {@link #pagesLock}; volatile, so a reader sees a fully built array.
     */
    private volatile Root[] list = NONE;
    /** kernel: tdp_mmu_pages_lock, a spinlock; a monitor here (held for a few list operations). */
    private final Object pagesLock = new Object();

    TdpMmuRoots(final TdpMmu mmu, final PageTableStore store, final MmuLock lock, final MmuCounters counters,
        final DeferredTableFrees frees, final boolean allocUnderWriteLock)
    {
        this.mmu = mmu;
        this.store = store;
        this.lock = lock;
        this.counters = counters;
        this.frees = frees;
        this.allocUnderWriteLock = allocUnderWriteLock;
    }

    /**
     * The VM's first root, allocated when the VM is created so a VM that never invalidates keeps
     * one root shared by every vCPU from the start. One reference: the TDP MMU's own; each vCPU
     * takes its own when it loads the root. (The kernel allocates it at the first vCPU's load; the
     * table count is the same once a vCPU runs.)
     */
    Root allocFirst()
    {
        final Root root = newRoot(1);
        synchronized (pagesLock)
        {
            addFirst(root);
        }
        return root;
    }

    private Root newRoot(final int refs)
    {
        final long pfn = store.allocate();
        counters.tableAllocs.increment();
        counters.rootAllocs.increment();
        return new Root(pfn, store.generation(pfn), refs);
    }

    /** kernel: kvm_tdp_mmu_get_root, refcount_inc_not_zero. */
    static boolean tryGet(final Root root)
    {
        final AtomicInteger refs = root.refs;
        int n;
        do
        {
            n = refs.get();
            if (n == 0)
            {
                return false;
            }
        }
        while (!refs.compareAndSet(n, n + 1));
        return true;
    }

    /**
     * Drops a reference (kernel: kvm_tdp_mmu_put_root). The last one unlinks the root and frees its
     * table after a grace period; only an invalid root can lose its last reference (the TDP MMU
     * holds one on each valid root), anything else is a bug.
     */
    public void put(final Root root)
    {
        final int n = root.refs.decrementAndGet();
        if (n > 0)
        {
            return;
        }
        if (n < 0 || !root.invalid)
        {
            throw new MmuBugException("last reference put on " + root + " (count " + n + "): only an invalidated root " +
                "may lose its last reference");
        }
        synchronized (pagesLock)
        {
            remove(root);
        }
        counters.rootsFreed.increment();
        counters.zapNonLeaf.increment();
        // kernel: call_rcu(&root->rcu_head, tdp_mmu_free_sp_rcu_callback). A walker that read the
        // root pointer inside its RCU section may still read the table until the grace period ends.
        frees.free(root.pfn);
    }

    /**
     * The next root after {@code prev} (the first for null), with a reference taken on it and the
     * one on {@code prev} dropped (kernel: tdp_mmu_next_root). Roots whose count already reached
     * zero are skipped, and invalid ones too when {@code onlyValid}. The caller holds mmu_lock, as
     * validity is read under it, and a reference on {@code prev}, so prev is still in the list.
     */
    public Root nextRoot(final Root prev, final boolean onlyValid)
    {
        assert lock.held() : "tdp_mmu_next_root needs mmu_lock held";
        final Root[] snapshot = list;
        int i = 0;
        if (prev != null)
        {
            while (i < snapshot.length && snapshot[i] != prev)
            {
                i++;
            }
            i++;
        }
        Root next = null;
        for (; i < snapshot.length; i++)
        {
            final Root r = snapshot[i];
            if ((!onlyValid || !r.invalid) && tryGet(r))
            {
                next = r;
                break;
            }
        }
        if (prev != null)
        {
            put(prev);
        }
        return next;
    }

    /**
     * The valid root, or null when every root was invalidated and no vCPU has loaded a new one.
     * No reference is taken: the caller holds mmu_lock and does not drop it while it uses the root
     * (a valid root keeps the TDP MMU's reference until an invalidation, which needs the write
     * lock), or reads it inside an RCU read-side section (the root's table is freed through RCU).
     */
    public Root valid()
    {
        for (final Root r : list)
        {
            if (!r.invalid)
            {
                return r;
            }
        }
        return null;
    }

    /**
     * Loads a root for a vCPU: a reference on the valid root, or a new root if there is none
     * (kernel 6.9+: kvm_tdp_mmu_alloc_root; before 6.9: kvm_tdp_mmu_get_vcpu_root_hpa from
     * mmu_alloc_direct_roots). From 6.9 ("Allow TDP MMU (un)load to run in parallel") it looks for
     * a valid root under mmu_lock held for read, and only if none is found takes the pages lock,
     * looks again (another vCPU may have allocated meanwhile) and allocates; so N vCPUs reloading
     * at once after a fast invalidation run in parallel and only the first allocates. Before 6.9,
     * with {@link VmConfig#rootAllocUnderWriteLock}, the whole load holds mmu_lock for write, so
     * the N loads run one after another.
     *
     * <p>Caller holds no mmu_lock and is outside guest mode (it may wait for the lock).
     */
    public Root load()
    {
        if (allocUnderWriteLock)
        {
            lock.writeLock();
            try
            {
                synchronized (pagesLock)
                {
                    return getOrAllocLocked();
                }
            }
            finally
            {
                lock.writeUnlock();
            }
        }
        lock.readLock();
        try
        {
            // kernel: for_each_valid_tdp_mmu_root_yield_safe; leaving the loop early keeps the reference.
            final Root found = nextRoot(null, true);
            if (found != null)
            {
                return found;
            }
            // Another vCPU may allocate between here and the pages lock: hence the re-check there.
            mmu.hook(TestHook.Point.ROOT_LOAD_BEFORE_ALLOC, -1);
            synchronized (pagesLock)
            {
                return getOrAllocLocked();
            }
        }
        finally
        {
            lock.readUnlock();
        }
    }

    /** Re-check under the pages lock, then allocate: two references (the vCPU's and the MMU's). */
    private Root getOrAllocLocked()
    {
        for (final Root r : list)
        {
            if (!r.invalid)
            {
                if (!tryGet(r))
                {
                    // kernel: WARN_ON_ONCE; a valid root always holds the MMU's reference.
                    throw new MmuBugException("valid " + r + " has no reference left");
                }
                return r;
            }
        }
        final Root root = newRoot(2);
        addFirst(root);
        return root;
    }

    /**
     * Caller holds the pages lock. (Not asserted with Thread.holdsLock: under the model checker,
     * which models monitors itself, it is false inside the synchronized block; EXPLORE.md.)
     */
    private void addFirst(final Root root)
    {
        final Root[] old = list;
        final Root[] next = new Root[old.length + 1];
        next[0] = root;
        System.arraycopy(old, 0, next, 1, old.length);
        list = next;
    }

    /** Caller holds the pages lock (see {@link #addFirst}). */
    private void remove(final Root root)
    {
        final Root[] old = list;
        int i = 0;
        while (i < old.length && old[i] != root)
        {
            i++;
        }
        if (i == old.length)
        {
            throw new MmuBugException(root + " is not in the list of roots");
        }
        final Root[] next = Arrays.copyOf(old, old.length - 1);
        System.arraycopy(old, i + 1, next, i, old.length - i - 1);
        list = next;
    }

    /**
     * Drops a vCPU's reference on its root (kernel: kvm_mmu_free_roots → kvm_tdp_mmu_put_root), under
     * mmu_lock for read from 6.9, for write before (the same switch as {@link #load}).
     */
    public void unload(final Root root)
    {
        if (allocUnderWriteLock)
        {
            lock.writeLock();
            try
            {
                put(root);
            }
            finally
            {
                lock.writeUnlock();
            }
            return;
        }
        lock.readLock();
        try
        {
            put(root);
        }
        finally
        {
            lock.readUnlock();
        }
    }

    /**
     * Marks every valid root invalid and schedules it to be zapped, handing it the TDP MMU's
     * reference (kernel: kvm_tdp_mmu_invalidate_all_roots). Caller holds mmu_lock for write, so
     * no reader sees a root change validity under it.
     *
     * @return the roots invalidated.
     */
    int invalidateAll()
    {
        assert lock.heldForWrite() : "kvm_tdp_mmu_invalidate_all_roots needs mmu_lock held for write";
        int n = 0;
        for (final Root r : list)
        {
            if (!r.invalid)
            {
                r.scheduledToZap.set(true);
                r.invalid = true;
                n++;
            }
        }
        return n;
    }

    /** Takes the zap scheduled on {@code root}: true for exactly one caller (kernel: the flag cleared under slots_lock). */
    static boolean takeScheduledZap(final Root root)
    {
        return root.scheduledToZap.compareAndSet(true, false);
    }

    /** Roots in the list now, newest first (checks and tests; a snapshot). */
    public java.util.List<Root> snapshot()
    {
        return java.util.List.of(list);
    }

    /** Teardown: marks every root invalid and forgets them (the VM is gone; no vCPU runs). */
    java.util.List<Root> removeAllForDestroy()
    {
        assert lock.heldForWrite() : "teardown holds mmu_lock for write";
        synchronized (pagesLock)
        {
            final java.util.List<Root> all = java.util.List.of(list);
            for (final Root r : all)
            {
                r.invalid = true;
            }
            list = NONE;
            return all;
        }
    }

    /** Allocation under mmu_lock for write (before 6.9), see {@link VmConfig#rootAllocUnderWriteLock}. */
    public boolean allocUnderWriteLock()
    {
        return allocUnderWriteLock;
    }
}
