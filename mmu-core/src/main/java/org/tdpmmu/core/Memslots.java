package org.tdpmmu.core;

import java.util.Arrays;
import java.util.concurrent.locks.ReentrantLock;

import org.tdpmmu.concurrency.Srcu;

/**
 * The VM's memslots (kernel: struct kvm_memslots). Lookups are lock-free over an immutable sorted
 * array replaced copy-on-write as a whole (kernel: kvm_swap_active_memslots, rcu_assign_pointer of
 * kvm->memslots); readers that keep a slot past one lookup (a fault, a dirty-bitmap mark) hold a
 * read-side section of {@link #srcu()}, the VM's SRCU domain (kernel: kvm->srcu), and a writer
 * waits for them before it frees what the old set referenced. Changes are serialised by the
 * {@linkplain #slotsLock() slots lock} (kernel: kvm->slots_lock), which the dirty-log ioctls also
 * take.
 */
public final class Memslots
{
    /** kernel: KVM_USER_MEM_SLOTS on x86 (32764): user slot ids are 0 .. this - 1. */
    public static final int USER_MEM_SLOTS = 32764;

    private final long gfnLimit;
    private final int rootLevel;
    private volatile Memslot[] sorted = new Memslot[0];
    private int nextId;
    private final Srcu srcu = new Srcu();
    private final ReentrantLock slotsLock = new ReentrantLock();
    /** Bumped on every swap of the set (kernel: kvm_memslots.generation, without the in-progress bit). */
    private volatile long generation;

    /** @param gfnLimit one past the largest gfn the paging depth can map. */
    public Memslots(final long gfnLimit)
    {
        this(gfnLimit, (63 - Long.numberOfLeadingZeros(gfnLimit)) / Spte.LEVEL_BITS);
    }

    /**
     * @param gfnLimit one past the largest gfn a slot may hold: the paging depth's range, or less on
     *     a host with a narrower MAXPHYADDR (kernel: kvm_mmu_max_gfn).
     * @param rootLevel the paging depth.
     */
    public Memslots(final long gfnLimit, final int rootLevel)
    {
        this.gfnLimit = gfnLimit;
        this.rootLevel = rootLevel;
    }

    /**
     * Adds a slot of {@code npages} 4 KiB pages at {@code baseGfn}.
     *
     * @throws IllegalArgumentException for an empty, out-of-range or overlapping slot, naming it.
     */
    public Memslot add(final long baseGfn, final long npages, final Backing backing)
    {
        slotsLock.lock();
        try
        {
            while (findById(nextId) != null)
            {
                nextId++;
            }
            final Memslot slot = add(nextId, baseGfn, npages, backing);
            nextId++;
            return slot;
        }
        finally
        {
            slotsLock.unlock();
        }
    }

    /**
     * Adds a slot with id {@code id} (kernel: KVM_MR_CREATE's new slot, published by
     * kvm_create_memslot). Caller holds the slots lock.
     */
    Memslot add(final int id, final long baseGfn, final long npages, final Backing backing)
    {
        final Memslot slot = create(id, baseGfn, npages, backing);
        insert(slot);
        return slot;
    }

    /** A checked, unpublished slot (its host memory is backed before {@link #insert}). Caller holds the slots lock. */
    Memslot create(final int id, final long baseGfn, final long npages, final Backing backing)
    {
        assert slotsLock.isHeldByCurrentThread() : "memslot create needs slots_lock";
        checkRange(id, baseGfn, npages);
        return new Memslot(id, baseGfn, npages, backing, rootLevel);
    }

    /** Publishes a new set with {@code slot} added (kernel: kvm_create_memslot). Caller holds the slots lock. */
    void insert(final Memslot slot)
    {
        assert slotsLock.isHeldByCurrentThread() : "memslot create needs slots_lock";
        final Memslot[] next = Arrays.copyOf(sorted, sorted.length + 1);
        next[next.length - 1] = slot;
        publish(next);
    }

    /**
     * Checks that slot {@code id} may hold [baseGfn, baseGfn + npages): not empty, not larger than
     * KVM_MEM_MAX_NR_PAGES, inside the guest-physical range, overlapping no slot but slot
     * {@code id} itself (kernel: __kvm_set_memory_region and kvm_check_memslot_overlap).
     *
     * @throws IllegalArgumentException naming the problem; nothing changes.
     */
    void checkRange(final int id, final long baseGfn, final long npages)
    {
        if (npages <= 0)
        {
            throw new IllegalArgumentException("memslot at gfn 0x" + Long.toHexString(baseGfn) +
                " is empty (npages=" + npages + ")");
        }
        if (npages > Memslot.MAX_PAGES)
        {
            throw new IllegalArgumentException("memslot at gfn 0x" + Long.toHexString(baseGfn) + " has " + npages +
                " pages, more than KVM_MEM_MAX_NR_PAGES (" + Memslot.MAX_PAGES + ")");
        }
        if (baseGfn < 0 || baseGfn >= gfnLimit || npages > gfnLimit - baseGfn)
        {
            throw new IllegalArgumentException("memslot [gfn 0x" + Long.toHexString(baseGfn) + ", +" + npages +
                " pages) is outside the guest-physical range 0..0x" + Long.toHexString(gfnLimit));
        }
        for (final Memslot s : sorted)
        {
            if (s.id() != id && baseGfn < s.endGfn() && s.baseGfn() < baseGfn + npages)
            {
                throw new IllegalArgumentException("memslot [gfn 0x" + Long.toHexString(baseGfn) + ", 0x" +
                    Long.toHexString(baseGfn + npages) + ") overlaps " + s);
            }
        }
    }

    /**
     * Replaces slot {@code old} with {@code replacement} (null: removes it) in a new set and
     * publishes it (kernel: kvm_replace_memslot then kvm_swap_active_memslots, without the SRCU
     * wait, which the caller does). Caller holds the slots lock.
     */
    void replace(final Memslot old, final Memslot replacement)
    {
        assert slotsLock.isHeldByCurrentThread() : "a memslot swap needs slots_lock";
        final Memslot[] current = sorted;
        final Memslot[] next = new Memslot[current.length - (replacement == null ? 1 : 0)];
        int n = 0;
        boolean found = false;
        for (final Memslot s : current)
        {
            if (s == old)
            {
                found = true;
                if (replacement != null)
                {
                    next[n++] = replacement;
                }
            }
            else if (n < next.length)
            {
                next[n++] = s;
            }
        }
        if (!found)
        {
            throw new IllegalArgumentException("not a memslot of this VM: " + old);
        }
        publish(next);
    }

    private void publish(final Memslot[] next)
    {
        Arrays.sort(next, (a, b) -> Long.compare(a.baseGfn(), b.baseGfn()));
        // Volatile write: a reader that finds a slot in the new array sees it fully built.
        sorted = next;
        generation++;
    }

    /**
     * Takes back a slot {@link #add} just installed, before anything could map it (a backing that
     * failed). Its id is not reused.
     */
    void remove(final Memslot slot)
    {
        slotsLock.lock();
        try
        {
            replace(slot, null);
        }
        finally
        {
            slotsLock.unlock();
        }
    }

    /** The slot holding {@code gfn}, or null (kernel: gfn_to_memslot). */
    public Memslot find(final long gfn)
    {
        final Memslot[] slots = sorted;
        int lo = 0;
        int hi = slots.length - 1;
        while (lo <= hi)
        {
            final int mid = (lo + hi) >>> 1;
            final Memslot s = slots[mid];
            if (gfn < s.baseGfn())
            {
                hi = mid - 1;
            }
            else if (gfn >= s.endGfn())
            {
                lo = mid + 1;
            }
            else
            {
                return s;
            }
        }
        return null;
    }

    public Memslot byId(final int id)
    {
        final Memslot s = findById(id);
        if (s == null)
        {
            throw new IllegalArgumentException("no memslot with id " + id);
        }
        return s;
    }

    /** The slot with {@code id}, or null (kernel: id_to_memslot). */
    public Memslot findById(final int id)
    {
        for (final Memslot s : sorted)
        {
            if (s.id() == id)
            {
                return s;
            }
        }
        return null;
    }

    /** All slots in gfn order (a snapshot). */
    public Memslot[] all()
    {
        return sorted.clone();
    }

    public long gfnLimit()
    {
        return gfnLimit;
    }

    /** The VM's SRCU domain for memslot readers (kernel: kvm->srcu). */
    public Srcu srcu()
    {
        return srcu;
    }

    /** kernel: kvm->slots_lock. Memslot changes and the dirty-log ioctls hold it. */
    public ReentrantLock slotsLock()
    {
        return slotsLock;
    }

    /** Swaps of the set so far. */
    public long generation()
    {
        return generation;
    }
}
