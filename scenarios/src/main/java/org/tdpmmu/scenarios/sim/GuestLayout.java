package org.tdpmmu.scenarios.sim;

import org.tdpmmu.core.Memslot;

/**
 * Guest memory as one index space: the memslots laid end to end in slot order, page i of the space
 * being some gfn of some slot (as memstress lays out the vCPUs' regions across slots).
 */
final class GuestLayout
{
    private final Memslot[] slots;
    /** starts[i]: index of slot i's first page. */
    private final long[] starts;
    private final long totalPages;

    GuestLayout(final Memslot[] slots)
    {
        this.slots = slots.clone();
        this.starts = new long[slots.length + 1];
        for (int i = 0; i < slots.length; i++)
        {
            starts[i + 1] = starts[i] + slots[i].npages();
        }
        this.totalPages = starts[slots.length];
    }

    long totalPages()
    {
        return totalPages;
    }

    Memslot[] slots()
    {
        return slots.clone();
    }

    /** Slot index holding page {@code index}. */
    int slotOf(final long index)
    {
        int lo = 0;
        int hi = slots.length - 1;
        while (lo < hi)
        {
            final int mid = (lo + hi + 1) >>> 1;
            if (starts[mid] <= index)
            {
                lo = mid;
            }
            else
            {
                hi = mid - 1;
            }
        }
        return lo;
    }

    Memslot slot(final int i)
    {
        return slots[i];
    }

    long gfnOf(final long index)
    {
        final int s = slotOf(index);
        return slots[s].baseGfn() + (index - starts[s]);
    }

    long indexOf(final int slot, final long gfn)
    {
        return starts[slot] + (gfn - slots[slot].baseGfn());
    }
}
