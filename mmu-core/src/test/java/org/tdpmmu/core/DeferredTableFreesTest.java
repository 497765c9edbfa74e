package org.tdpmmu.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.util.concurrent.CountDownLatch;

import org.junit.jupiter.api.Test;
import org.tdpmmu.concurrency.Rcu;

/**
 * Batched RCU frees of unlinked tables: one callback per scope, never before a grace period,
 * every table freed even when one free fails, and emptied batches reused.
 */
class DeferredTableFreesTest
{
    private static final class Fixture implements AutoCloseable
    {
        final Rcu rcu = new Rcu();
        final PageTableStore store = new PageTableStore(256);
        final MmuCounters counters = new MmuCounters();
        final DeferredTableFrees frees = new DeferredTableFrees(rcu, store, counters);

        long[] allocate(final int n)
        {
            final long[] tables = new long[n];
            for (int i = 0; i < n; i++)
            {
                tables[i] = store.allocate();
            }
            return tables;
        }

        @Override
        public void close()
        {
            rcu.close();
        }
    }

    @Test
    void aScopeQueuesOneCallbackForAllItsTables()
    {
        try (Fixture f = new Fixture())
        {
            final long[] tables = f.allocate(100);
            f.frees.begin();
            f.frees.begin(); // nested: only the outermost end queues
            for (final long t : tables)
            {
                f.frees.free(t);
            }
            f.frees.end();
            assertEquals(100, f.frees.pendingInScope(), "still collecting in the outer scope");
            assertEquals(0, f.rcu.pendingCallbacks());
            f.frees.end();
            assertEquals(0, f.frees.pendingInScope());
            assertEquals(1, f.rcu.pendingCallbacks(), "one callback for the hundred tables");
            assertEquals(100, f.store.liveCount(), "nothing freed before the grace period");
            f.rcu.barrier();
            assertEquals(0, f.store.liveCount());
            assertEquals(100, f.counters.tablesFreed.sum());
        }
    }

    @Test
    void outsideAScopeEachTableHasItsOwnCallback()
    {
        try (Fixture f = new Fixture())
        {
            for (final long t : f.allocate(3))
            {
                f.frees.free(t);
            }
            assertEquals(3, f.rcu.pendingCallbacks());
            f.rcu.barrier();
            assertEquals(0, f.store.liveCount());
            assertEquals(3, f.counters.tablesFreed.sum());
        }
    }

    @Test
    void submitPendingQueuesWhatWasCollectedSoFar()
    {
        try (Fixture f = new Fixture())
        {
            final long[] tables = f.allocate(4);
            f.frees.begin();
            f.frees.free(tables[0]);
            f.frees.free(tables[1]);
            f.frees.submitPending();
            assertEquals(0, f.frees.pendingInScope());
            assertEquals(1, f.rcu.pendingCallbacks());
            f.frees.free(tables[2]);
            f.frees.free(tables[3]);
            f.frees.end();
            assertEquals(2, f.rcu.pendingCallbacks(), "one batch before the yield, one after");
            f.rcu.barrier();
            assertEquals(0, f.store.liveCount());
            f.frees.submitPending(); // outside a scope: nothing to do
            assertEquals(0, f.rcu.pendingCallbacks());
        }
    }

    @Test
    void aReaderInsideItsSectionHoldsTheBatch() throws Exception
    {
        try (Fixture f = new Fixture())
        {
            final long[] tables = f.allocate(8);
            final CountDownLatch inside = new CountDownLatch(1);
            final CountDownLatch leave = new CountDownLatch(1);
            final Thread reader = new Thread(() ->
            {
                f.rcu.readLock();
                inside.countDown();
                ConcurrentFaultTest.await(leave);
                f.rcu.readUnlock();
            });
            reader.start();
            ConcurrentFaultTest.await(inside);
            f.frees.begin();
            for (final long t : tables)
            {
                f.frees.free(t);
            }
            f.frees.end();
            assertEquals(0, f.rcu.tryReclaim(), "the reader that entered before the batch holds it");
            assertEquals(8, f.store.liveCount());
            leave.countDown();
            reader.join(30_000);
            f.rcu.barrier();
            assertEquals(0, f.store.liveCount());
        }
    }

    @Test
    void oneFailedFreeDoesNotKeepTheOthersAndIsReported()
    {
        try (Fixture f = new Fixture())
        {
            final long[] tables = f.allocate(3);
            f.store.free(tables[1]); // freed behind the batch's back: its free in the callback fails
            f.frees.begin();
            f.frees.free(tables[0]);
            f.frees.free(tables[1]);
            f.frees.free(tables[2]);
            f.frees.end();
            final IllegalStateException e = assertThrows(IllegalStateException.class, f.rcu::barrier);
            assertTrue(e.getMessage().contains("double free of table pfn 0x" + Long.toHexString(tables[1])),
                e.getMessage());
            assertEquals(0, f.store.liveCount(), "the other two were freed");
            assertEquals(2, f.counters.tablesFreed.sum());
        }
    }

    @Test
    void endWithoutBeginIsRefused()
    {
        try (Fixture f = new Fixture())
        {
            final IllegalStateException e = assertThrows(IllegalStateException.class, f.frees::end);
            assertTrue(e.getMessage().contains("end() without begin()"), e.getMessage());
        }
    }

    @Test
    void anEmptiedBatchIsReusedSoASteadyStreamOfScopesAllocatesNothingPerTable()
    {
        final com.sun.management.ThreadMXBean threads =
            (com.sun.management.ThreadMXBean)ManagementFactory.getThreadMXBean();
        try (Fixture f = new Fixture())
        {
            final long[] tables = f.allocate(200);
            for (int round = 0; round < 20; round++)
            {
                scopeFreeingAndRealloc(f, tables);
            }
            final long before = threads.getCurrentThreadAllocatedBytes();
            for (int round = 0; round < 10; round++)
            {
                scopeFreeingAndRealloc(f, tables);
            }
            final long perRound = (threads.getCurrentThreadAllocatedBytes() - before) / 10;
            // what stays per round: Rcu's queue node for the one callback and the barrier's mark
            assertTrue(perRound < 400, perRound + " bytes per round of 200 tables");
            assertFalse(f.store.liveCount() == 0, "the tables were handed out again");
        }
    }

    private static void scopeFreeingAndRealloc(final Fixture f, final long[] tables)
    {
        f.frees.begin();
        for (final long t : tables)
        {
            f.frees.free(t);
        }
        f.frees.end();
        f.rcu.barrier();
        for (int i = 0; i < tables.length; i++)
        {
            tables[i] = f.store.allocate();
        }
    }
}
