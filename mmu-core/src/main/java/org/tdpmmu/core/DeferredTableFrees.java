package org.tdpmmu.core;

import java.util.concurrent.atomic.AtomicReference;

import org.tdpmmu.concurrency.Rcu;

/**
 * Frees unlinked page tables after an RCU grace period (kernel: the call_rcu of
 * tdp_mmu_free_sp_rcu_callback at the end of handle_removed_pt).
 *
 * <p>The kernel's call_rcu costs no allocation: the rcu_head lives in the page's own header.
 * {@link Rcu#callRcu} allocates a queue node per call, so a sweep that removes a table per 2 MiB
 * page would allocate per page. Inside a batch scope ({@link #begin}/{@link #end}, which the slot
 * sweeps open), the tables a thread unlinks are collected and queued with one callback for all
 * of them, the way kvfree_rcu collects pointers into bulk arrays and frees each array after one
 * grace period. Emptied batches are kept for reuse, so a steady stream of sweeps allocates nothing
 * per table. Outside a scope each table gets a callback of its own, as before.
 *
 * <p>Ordering: a table enters a batch after the caller unlinked it (the cmpxchg or exchange on its
 * parent entry); the batch is queued with {@link Rcu#callRcu}, whose atomic epoch increment comes
 * after every one of those unlinks, so its grace period covers every reader that could still hold
 * a pointer to any table in it. Queuing later than a per-table callback would only lengthen the
 * wait, never shorten it; and it happens no later than the sweep drops its RCU read-side section
 * ({@link #submitPending} at a yield, {@link #end} at the end), before which no table it
 * unlinked could be freed anyway, because the sweep is itself a reader.
 */
final class DeferredTableFrees
{
    private final Rcu rcu;
    private final PageTableStore store;
    private final MmuCounters counters;
    private final ThreadLocal<Scope> scopes = ThreadLocal.withInitial(Scope::new);
    /** One emptied batch kept for the next scope; a batch that finds it taken is dropped. */
    private final AtomicReference<Batch> spare = new AtomicReference<>();

    DeferredTableFrees(final Rcu rcu, final PageTableStore store, final MmuCounters counters)
    {
        this.rcu = rcu;
        this.store = store;
        this.counters = counters;
    }

    /** Opens (or nests into) the calling thread's batch scope. Thread-confined state, plain accesses. */
    void begin()
    {
        scopes.get().depth++;
    }

    /**
     * Closes one level of the scope; the outermost queues the batch with {@link Rcu#callRcu} (kernel:
     * call_rcu), whose epoch increment is ordered after every unlink the scope made.
     */
    void end()
    {
        final Scope scope = scopes.get();
        if (scope.depth <= 0)
        {
            throw new IllegalStateException("deferred table frees: end() without begin() on " +
                Thread.currentThread().getName());
        }
        if (--scope.depth == 0)
        {
            queue(scope);
        }
    }

    /**
     * Queues what the open scope collected so far with one call_rcu, before the caller leaves its
     * RCU read-side section at a yield (kernel: the frees tdp_mmu_iter_cond_resched lets proceed).
     */
    void submitPending()
    {
        final Scope scope = scopes.get();
        if (scope.depth > 0)
        {
            queue(scope);
        }
    }

    /**
     * Frees {@code table}, which the caller has just unlinked, after a grace period (kernel:
     * handle_removed_pt's call_rcu of tdp_mmu_free_sp_rcu_callback): into the open scope's batch
     * (plain stores, thread-confined until the batch is queued), or with a callback of its own. A
     * reused batch comes from {@link #spare} by an atomic exchange, which orders its emptying
     * (done by the reclaiming thread) before its reuse here.
     */
    void free(final long table)
    {
        final Scope scope = scopes.get();
        if (scope.depth == 0)
        {
            rcu.callRcu(() -> freeNow(table));
            return;
        }
        if (scope.batch == null)
        {
            final Batch reused = spare.getAndSet(null);
            scope.batch = reused != null ? reused : new Batch();
        }
        scope.batch.add(table);
    }

    /** Tables collected by the calling thread's open scope and not yet queued (tests). */
    int pendingInScope()
    {
        final Batch batch = scopes.get().batch;
        return batch == null ? 0 : batch.count;
    }

    private void queue(final Scope scope)
    {
        final Batch batch = scope.batch;
        if (batch != null && batch.count > 0)
        {
            scope.batch = null;
            rcu.callRcu(batch);
        }
    }

    private void freeNow(final long table)
    {
        store.free(table);
        counters.tablesFreed.increment();
    }

    /** The calling thread's scope depth and open batch; only that thread touches it. */
    private static final class Scope
    {
        int depth;
        Batch batch;
    }

    /** Table pfns freed by one callback; grows by doubling and keeps its array when reused. */
    private final class Batch implements Runnable
    {
        private long[] tables = new long[64];
        private int count;

        void add(final long table)
        {
            if (count == tables.length)
            {
                tables = java.util.Arrays.copyOf(tables, count * 2);
            }
            tables[count++] = table;
        }

        /**
         * Runs after the grace period, on whichever thread reclaims (kernel: one
         * tdp_mmu_free_sp_rcu_callback per table). The callback queue hands the batch over with
         * the ordering of its own offer and poll, so the table pfns are seen as added.
         */
        @Override
        public void run()
        {
            RuntimeException failure = null;
            int freed = 0;
            for (int i = 0; i < count; i++)
            {
                try
                {
                    store.free(tables[i]);
                    freed++;
                }
                catch (final RuntimeException ex)
                {
                    // Free the rest before reporting, as separate callbacks would have.
                    if (failure == null)
                    {
                        failure = ex;
                    }
                    else
                    {
                        failure.addSuppressed(ex);
                    }
                }
            }
            counters.tablesFreed.add(freed);
            count = 0;
            // Release: the emptied batch is published to the next scope that takes it.
            spare.compareAndSet(null, this);
            if (failure != null)
            {
                throw failure;
            }
        }
    }
}
