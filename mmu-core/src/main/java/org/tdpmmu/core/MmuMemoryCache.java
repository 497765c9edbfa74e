package org.tdpmmu.core;

/**
 * A small stack of free page-table pages taken from the store before the MMU lock is taken, so the
 * fault path never allocates under the lock and an exhausted store fails the fault cleanly, before
 * any SPTE changed (kernel: struct kvm_mmu_memory_cache, kvm_mmu_topup_memory_cache,
 * kvm_mmu_memory_cache_alloc, kvm_mmu_free_memory_cache).
 *
 * <p>Owned by one thread (a vCPU, or one bulk operation); not thread-safe. Tables in the cache are
 * zeroed and live in the store; {@link #free()} gives them back.
 */
public final class MmuMemoryCache
{
    private final PageTableStore store;
    private final MmuCounters counters;
    private long[] tables;
    private int count;
    private long topups;
    private long taken;
    private long returned;

    public MmuMemoryCache(final PageTableStore store, final int capacity)
    {
        this(store, capacity, null);
    }

    /** @param counters where top-ups, takes and returns are also counted VM-wide; may be null. */
    public MmuMemoryCache(final PageTableStore store, final int capacity, final MmuCounters counters)
    {
        this.counters = counters;
        if (capacity < 1)
        {
            throw new IllegalArgumentException("cache capacity " + capacity + " must be >= 1");
        }
        this.store = store;
        this.tables = new long[capacity];
    }

    /**
     * Fills the cache to at least {@code min} tables (kernel: kvm_mmu_topup_memory_cache). Call
     * without the MMU lock held.
     *
     * <p>This is where a fault can run out of memory, as in the kernel: each table comes from
     * {@link PageTableStore#allocate()}, which fails when the store is full or when the
     * {@link FaultInjection} hook fails that allocation. Like kvm_mmu_topup_memory_cache, a top-up
     * that fails keeps what it got (the next top-up needs fewer) and reports -ENOMEM, here an
     * {@link OutOfTablesException}, before the caller takes the MMU lock.
     *
     * @throws OutOfTablesException if the store cannot supply them; the tables the cache already
     *                              held, and those this call got, stay; nothing else changes.
     */
    public void topup(final int min)
    {
        if (count >= min)
        {
            return;
        }
        if (min > tables.length)
        {
            final long[] bigger = new long[min];
            System.arraycopy(tables, 0, bigger, 0, count);
            tables = bigger;
        }
        topups++;
        if (counters != null)
        {
            counters.cacheTopups.increment();
        }
        while (count < min)
        {
            // Allocate first: a failed allocation must not leave a bogus slot counted.
            final long table = store.allocate();
            tables[count++] = table;
            if (counters != null)
            {
                counters.tableAllocs.increment();
            }
        }
    }

    /**
     * Takes one zeroed table (kernel: kvm_mmu_memory_cache_alloc).
     *
     * @throws IllegalStateException when empty: the caller did not top up enough, a bug.
     */
    public long take()
    {
        if (count == 0)
        {
            throw new IllegalStateException("page-table memory cache is empty: top up before taking the MMU lock");
        }
        taken++;
        if (counters != null)
        {
            counters.cacheTaken.increment();
        }
        return tables[--count];
    }

    /** Puts back a table taken but never linked (still zeroed), for the next taker. */
    public void giveBack(final long table)
    {
        if (count == tables.length)
        {
            tables = java.util.Arrays.copyOf(tables, tables.length * 2);
        }
        tables[count++] = table;
    }

    /** Returns every cached table to the store (kernel: kvm_mmu_free_memory_cache). */
    public void free()
    {
        while (count > 0)
        {
            store.free(tables[--count]);
            returned++;
            if (counters != null)
            {
                counters.cacheReturned.increment();
                counters.tablesFreed.increment();
            }
        }
    }

    public int size()
    {
        return count;
    }

    public long topups()
    {
        return topups;
    }

    public long taken()
    {
        return taken;
    }

    /** Tables handed back to the store unused. */
    public long returnedUnused()
    {
        return returned;
    }
}
