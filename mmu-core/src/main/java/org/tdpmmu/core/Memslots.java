package org.tdpmmu.core;

import java.util.Arrays;

/**
 * The VM's memslots (kernel: struct kvm_memslots). Lookups are lock-free over an immutable sorted
 * array replaced copy-on-write; changes are serialised (kernel: slots_lock).
 */
public final class Memslots
{
    private final long gfnLimit;
    private volatile Memslot[] sorted = new Memslot[0];
    private int nextId;

    /** @param gfnLimit one past the largest gfn the paging depth can map. */
    public Memslots(final long gfnLimit)
    {
        this.gfnLimit = gfnLimit;
    }

    /**
     * Adds a slot of {@code npages} 4 KiB pages at {@code baseGfn}.
     *
     * @throws IllegalArgumentException for an empty, out-of-range or overlapping slot, naming it.
     */
    public synchronized Memslot add(final long baseGfn, final long npages, final Backing backing)
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
            if (baseGfn < s.endGfn() && s.baseGfn() < baseGfn + npages)
            {
                throw new IllegalArgumentException("memslot [gfn 0x" + Long.toHexString(baseGfn) + ", 0x" +
                    Long.toHexString(baseGfn + npages) + ") overlaps " + s);
            }
        }
        final int rootLevel = (63 - Long.numberOfLeadingZeros(gfnLimit)) / Spte.LEVEL_BITS;
        final Memslot slot = new Memslot(nextId++, baseGfn, npages, backing, rootLevel);
        final Memslot[] next = Arrays.copyOf(sorted, sorted.length + 1);
        next[next.length - 1] = slot;
        Arrays.sort(next, (a, b) -> Long.compare(a.baseGfn(), b.baseGfn()));
        sorted = next;
        return slot;
    }

    /**
     * Takes back a slot {@link #add} just installed, before anything could map it (a backing that
     * failed). Its id is not reused.
     */
    synchronized void remove(final Memslot slot)
    {
        final Memslot[] next = Arrays.stream(sorted).filter(s -> s != slot).toArray(Memslot[]::new);
        if (next.length == sorted.length)
        {
            throw new IllegalArgumentException("not a memslot of this VM: " + slot);
        }
        sorted = next;
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
}
