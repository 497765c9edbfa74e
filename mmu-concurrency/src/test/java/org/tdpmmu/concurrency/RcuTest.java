package org.tdpmmu.concurrency;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdpmmu.concurrency.TestThreads.assertCollected;
import static org.tdpmmu.concurrency.TestThreads.assertFinishes;
import static org.tdpmmu.concurrency.TestThreads.assertStillBlocked;
import static org.tdpmmu.concurrency.TestThreads.await;

import java.lang.ref.WeakReference;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;

class RcuTest
{
    /**
     * A VM's Rcu outlives nothing: once dropped it is collectable although this thread, which
     * lives on, read in it and so holds its reader record in a thread-local. The record once
     * referred to its Rcu, which kept every dropped Rcu and its callback queue reachable from each
     * thread that had read in it (a jcstress actor thread ran out of heap after ~10^5 VMs).
     */
    @Test
    void aDroppedRcuIsNotKeptByAThreadThatReadInIt() throws InterruptedException
    {
        assertCollected(readInADroppedRcu(), "an Rcu this thread read in and dropped");
    }

    private static WeakReference<Rcu> readInADroppedRcu()
    {
        final Rcu rcu = new Rcu();
        rcu.readLock();
        rcu.readUnlock();
        rcu.readLock(rcu.reader());
        rcu.readUnlock(rcu.reader());
        return new WeakReference<>(rcu);
    }

    /** A reader on its own thread that enters, signals, and leaves when released. */
    private static Thread holdReader(final TestThreads threads, final Rcu rcu, final CountDownLatch entered,
        final CountDownLatch release)
    {
        return threads.start("reader", () ->
        {
            rcu.readLock();
            try
            {
                entered.countDown();
                await(release);
            }
            finally
            {
                rcu.readUnlock();
            }
        });
    }

    @Test
    void callbackWaitsForReaderThatEnteredBeforeIt() throws Exception
    {
        final Rcu rcu = new Rcu();
        try (TestThreads threads = new TestThreads())
        {
            final CountDownLatch entered = new CountDownLatch(1);
            final CountDownLatch release = new CountDownLatch(1);
            holdReader(threads, rcu, entered, release);
            await(entered);

            final AtomicBoolean ran = new AtomicBoolean();
            rcu.callRcu(() -> ran.set(true));
            assertFalse(ran.get(), "callRcu must never run the callback inline");
            assertEquals(0, rcu.tryReclaim());
            assertFalse(ran.get());

            final Thread barrier = threads.start("barrier", rcu::barrier);
            assertStillBlocked(barrier);
            assertEquals(0, rcu.tryReclaim());
            assertFalse(ran.get(), "callback ran while a reader that entered before it was inside");

            release.countDown();
            assertFinishes(barrier);
            assertTrue(ran.get());
            threads.joinAll();
        }
    }

    @Test
    void readerThatEnteredAfterCallRcuDoesNotHoldIt() throws Exception
    {
        final Rcu rcu = new Rcu();
        try (TestThreads threads = new TestThreads())
        {
            final AtomicBoolean ran = new AtomicBoolean();
            rcu.callRcu(() -> ran.set(true));

            final CountDownLatch entered = new CountDownLatch(1);
            final CountDownLatch release = new CountDownLatch(1);
            holdReader(threads, rcu, entered, release);
            await(entered);

            assertEquals(1, rcu.tryReclaim());
            assertTrue(ran.get());
            rcu.barrier(); // nothing queued before it is held by the late reader

            // The late reader still holds up what is queued after it entered.
            final AtomicBoolean later = new AtomicBoolean();
            rcu.callRcu(() -> later.set(true));
            assertEquals(0, rcu.tryReclaim());
            assertFalse(later.get());
            release.countDown();
            threads.joinAll();
            assertEquals(1, rcu.tryReclaim());
            assertTrue(later.get());
        }
    }

    /**
     * The consumer keeps polling after its scan. A callback queued during that time (here by the
     * callback it is running) may free an object that a reader which entered after the scan holds:
     * the scan saw no reader at all, so it must not vouch for that callback.
     */
    @Test
    void scanDoesNotVouchForCallbacksQueuedAfterIt() throws Exception
    {
        final Rcu rcu = new Rcu();
        final AtomicReference<Node> current = new AtomicReference<>(new Node());
        final Node first = current.get();
        try (TestThreads threads = new TestThreads())
        {
            final CountDownLatch entered = new CountDownLatch(1);
            final CountDownLatch release = new CountDownLatch(1);
            final AtomicBoolean sawFreed = new AtomicBoolean();
            rcu.callRcu(() ->
            {
                // Runs on the consumer, after its scan found no reader.
                threads.start("late-reader", () ->
                {
                    rcu.readLock();
                    final Node node = current.get();
                    entered.countDown();
                    await(release);
                    sawFreed.set(node.freed);
                    rcu.readUnlock();
                });
                try
                {
                    await(entered);
                }
                catch (final InterruptedException ex)
                {
                    throw new AssertionError(ex);
                }
                final Node old = current.getAndSet(new Node());
                rcu.callRcu(() -> old.freed = true);
            });
            assertEquals(1, rcu.tryReclaim(), "only the first callback may run in this pass");
            assertFalse(first.freed, "freed while the late reader is inside");
            release.countDown();
            threads.joinAll();
            assertFalse(sawFreed.get());
        }
        assertEquals(1, rcu.tryReclaim());
        assertTrue(first.freed);
    }

    @Test
    void nestedSectionKeepsItsOutermostEntry() throws Exception
    {
        final Rcu rcu = new Rcu();
        try (TestThreads threads = new TestThreads())
        {
            final CountDownLatch outerEntered = new CountDownLatch(1);
            final CountDownLatch queued = new CountDownLatch(1);
            final CountDownLatch innerDone = new CountDownLatch(1);
            final CountDownLatch release = new CountDownLatch(1);
            threads.start("nested-reader", () ->
            {
                rcu.readLock();
                outerEntered.countDown();
                await(queued);
                rcu.readLock();
                assertTrue(rcu.inReadSection());
                rcu.readUnlock();
                assertTrue(rcu.inReadSection(), "leaving the inner section must not leave the outer one");
                innerDone.countDown();
                await(release);
                rcu.readUnlock();
                assertFalse(rcu.inReadSection());
            });
            await(outerEntered);
            final AtomicBoolean ran = new AtomicBoolean();
            rcu.callRcu(() -> ran.set(true));
            queued.countDown();
            await(innerDone);
            assertEquals(0, rcu.tryReclaim());
            assertFalse(ran.get(), "the outer section still holds the callback");
            release.countDown();
            threads.joinAll();
            assertEquals(1, rcu.tryReclaim());
            assertTrue(ran.get());
        }
    }

    @Test
    void inReadSectionFollowsTheCallingThread()
    {
        final Rcu rcu = new Rcu();
        assertFalse(rcu.inReadSection());
        rcu.readLock();
        rcu.readLock();
        assertTrue(rcu.inReadSection());
        rcu.readUnlock();
        assertTrue(rcu.inReadSection());
        rcu.readUnlock();
        assertFalse(rcu.inReadSection());
    }

    @Test
    void unlockWithoutLockNamesTheThread()
    {
        final Rcu rcu = new Rcu();
        final IllegalStateException never = assertThrows(IllegalStateException.class, rcu::readUnlock);
        assertTrue(never.getMessage().contains("rcu_read_unlock without rcu_read_lock on thread " +
            Thread.currentThread().getName()), never.getMessage());

        rcu.readLock();
        rcu.readUnlock();
        final IllegalStateException extra = assertThrows(IllegalStateException.class, rcu::readUnlock);
        assertTrue(extra.getMessage().contains(Thread.currentThread().getName()));
    }

    @Test
    void blockingInsideReadSectionIsRefused()
    {
        final Rcu rcu = new Rcu();
        rcu.readLock();
        try
        {
            final IllegalStateException sync = assertThrows(IllegalStateException.class, rcu::synchronize);
            assertTrue(sync.getMessage().contains("synchronize_rcu inside an RCU read-side section"), sync.getMessage());
            final IllegalStateException barrier = assertThrows(IllegalStateException.class, rcu::barrier);
            assertTrue(barrier.getMessage().contains("rcu_barrier"), barrier.getMessage());
        }
        finally
        {
            rcu.readUnlock();
        }
        rcu.synchronize();
        rcu.barrier();
    }

    @Test
    void blockingFromCallbackIsRefused()
    {
        final Rcu rcu = new Rcu();
        rcu.callRcu(rcu::barrier);
        final IllegalStateException ex = assertThrows(IllegalStateException.class, rcu::tryReclaim);
        assertTrue(ex.getMessage().contains("from an RCU callback"), ex.getMessage());
        assertEquals(1, rcu.callbacksRun(), "a callback that threw still counts as run");
        assertEquals(0, rcu.pendingCallbacks());
    }

    @Test
    void callbackRejectsNull()
    {
        assertThrows(NullPointerException.class, () -> new Rcu().callRcu(null));
        assertThrows(IllegalArgumentException.class, () -> Rcu.withReclaimer(""));
    }

    @Test
    void synchronizeWaitsForPreexistingReaders() throws Exception
    {
        final Rcu rcu = new Rcu();
        rcu.synchronize(); // no reader: returns at once
        try (TestThreads threads = new TestThreads())
        {
            final CountDownLatch entered = new CountDownLatch(1);
            final CountDownLatch release = new CountDownLatch(1);
            holdReader(threads, rcu, entered, release);
            await(entered);
            final Thread sync = threads.start("synchronize", rcu::synchronize);
            assertStillBlocked(sync);
            release.countDown();
            assertFinishes(sync);
            threads.joinAll();
        }
        assertEquals(2, rcu.gracePeriods());
        assertTrue(rcu.longestGraceWaitNanos() > 0);
    }

    @Test
    void barrierWaitsForEveryCallbackQueuedBeforeIt() throws Exception
    {
        final Rcu rcu = new Rcu();
        final AtomicInteger ran = new AtomicInteger();
        try (TestThreads threads = new TestThreads())
        {
            final CountDownLatch entered = new CountDownLatch(1);
            final CountDownLatch release = new CountDownLatch(1);
            holdReader(threads, rcu, entered, release);
            await(entered);
            for (int i = 0; i < 100; i++)
            {
                rcu.callRcu(ran::incrementAndGet);
            }
            final Thread barrier = threads.start("barrier", () ->
            {
                rcu.barrier();
                assertEquals(100, ran.get(), "barrier returned before every earlier callback ran");
            });
            assertStillBlocked(barrier);
            assertEquals(0, ran.get());
            release.countDown();
            threads.joinAll();
        }
        assertEquals(100, ran.get());
        assertEquals(0, rcu.pendingCallbacks());
    }

    @Test
    void reclaimerRunsCallbacksWithoutTryReclaim() throws Exception
    {
        final Rcu rcu = Rcu.withReclaimer("test-rcu-reclaimer");
        try
        {
            final CountDownLatch ran = new CountDownLatch(1);
            final AtomicReference<String> thread = new AtomicReference<>();
            rcu.callRcu(() ->
            {
                thread.set(Thread.currentThread().getName());
                ran.countDown();
            });
            await(ran);
            assertEquals("test-rcu-reclaimer", thread.get());
        }
        finally
        {
            rcu.close();
        }
        assertEquals(1, rcu.callbacksRun());
    }

    @Test
    void reclaimerBarrierAndCloseRunEverything() throws Exception
    {
        final Rcu rcu = Rcu.withReclaimer("test-rcu-close");
        final AtomicInteger ran = new AtomicInteger();
        try (TestThreads threads = new TestThreads())
        {
            final CountDownLatch entered = new CountDownLatch(1);
            final CountDownLatch release = new CountDownLatch(1);
            holdReader(threads, rcu, entered, release);
            await(entered);
            for (int i = 0; i < 50; i++)
            {
                rcu.callRcu(ran::incrementAndGet);
            }
            final Thread barrier = threads.start("barrier", rcu::barrier);
            assertStillBlocked(barrier);
            assertEquals(0, ran.get(), "the reclaimer ran callbacks held by a reader");
            release.countDown();
            assertFinishes(barrier);
            assertEquals(50, ran.get());
            threads.joinAll();

            // Callbacks that queue callbacks: close drains them all.
            for (int i = 0; i < 10; i++)
            {
                rcu.callRcu(() -> rcu.callRcu(ran::incrementAndGet));
            }
        }
        rcu.close();
        rcu.close();
        assertEquals(70, rcu.callbacksRun());
        assertEquals(60, ran.get());
        assertEquals(0, rcu.pendingCallbacks());
        // After close the instance keeps working in manual mode.
        rcu.callRcu(ran::incrementAndGet);
        rcu.barrier();
        assertEquals(61, ran.get());
    }

    @Test
    void reclaimerFailureIsReportedByBarrier()
    {
        final Rcu rcu = Rcu.withReclaimer("test-rcu-failure");
        final RuntimeException boom = new RuntimeException("boom");
        rcu.callRcu(() ->
        {
            throw boom;
        });
        final IllegalStateException ex = assertThrows(IllegalStateException.class, rcu::barrier);
        assertSame(boom, ex.getCause());
        rcu.close();
    }

    @Test
    void threadThatDiesInsideASectionIsReported() throws Exception
    {
        final Rcu rcu = new Rcu();
        final Thread dead = new Thread(rcu::readLock, "dies-inside-rcu");
        dead.start();
        dead.join();
        final IllegalStateException ex = assertThrows(IllegalStateException.class, rcu::synchronize);
        assertTrue(ex.getMessage().contains("dies-inside-rcu"), ex.getMessage());
    }

    @Test
    void manualInstancesStartNoThread()
    {
        final Set<Thread> before = Thread.getAllStackTraces().keySet();
        final Rcu[] many = new Rcu[5_000];
        for (int i = 0; i < many.length; i++)
        {
            many[i] = new Rcu();
            many[i].callRcu(() -> { });
        }
        final Set<Thread> started = new HashSet<>(Thread.getAllStackTraces().keySet());
        started.removeAll(before);
        // Only threads of this test's group could come from Rcu; the JVM's own go to the system group.
        started.removeIf(t -> t.getThreadGroup() != Thread.currentThread().getThreadGroup());
        assertTrue(started.isEmpty(), "new Rcu() must not start a thread, started " + started);
        assertNotNull(many[many.length - 1]);
        assertEquals(1, many[0].pendingCallbacks(), "manual mode runs nothing by itself");
    }

    @Test
    void counters() throws Exception
    {
        final Rcu rcu = new Rcu();
        assertEquals(0, rcu.callbacksQueued());
        assertEquals(0, rcu.tryReclaim(), "nothing queued");
        for (int i = 0; i < 3; i++)
        {
            rcu.callRcu(() -> { });
        }
        assertEquals(3, rcu.callbacksQueued());
        assertEquals(3, rcu.pendingCallbacks());
        assertEquals(0, rcu.callbacksRun());
        assertEquals(3, rcu.tryReclaim());
        assertEquals(3, rcu.callbacksRun());
        assertEquals(0, rcu.pendingCallbacks());
        assertEquals(1, rcu.gracePeriods());
        rcu.synchronize();
        assertEquals(2, rcu.gracePeriods());
        assertTrue(rcu.longestGraceWaitNanos() >= 0);
    }

    /** An object that readers reach through a shared pointer; {@code freed} is the use-after-free detector. */
    private static final class Node
    {
        volatile boolean freed;
    }

    @Test
    void noCallbackRunsWhileAPreexistingReaderIsInsideManualMode() throws Exception
    {
        useAfterFreeStress(new Rcu(), true);
    }

    @Test
    void noCallbackRunsWhileAPreexistingReaderIsInsideReclaimerMode() throws Exception
    {
        useAfterFreeStress(Rcu.withReclaimer("test-rcu-stress"), false);
    }

    /**
     * 28 readers enter, follow the shared pointer, check the node is not freed, nest, check again
     * after a little work, and leave; 4 updaters swap the pointer and free the old node through
     * callRcu. A freed node seen inside a section is a use after free.
     */
    private static void useAfterFreeStress(final Rcu rcu, final boolean updatersReclaim) throws Exception
    {
        final int readers = 28;
        final int updaters = 4;
        final int readIterations = 3_000;
        final int swaps = 1_500;
        final AtomicReference<Node> current = new AtomicReference<>(new Node());
        final AtomicLong useAfterFree = new AtomicLong();
        final AtomicLong freed = new AtomicLong();
        final CountDownLatch start = new CountDownLatch(1);
        try (TestThreads threads = new TestThreads())
        {
            for (int r = 0; r < readers; r++)
            {
                threads.start("uaf-reader-" + r, () ->
                {
                    await(start);
                    for (int i = 0; i < readIterations; i++)
                    {
                        rcu.readLock();
                        final Node node = current.get();
                        if (node.freed)
                        {
                            useAfterFree.incrementAndGet();
                        }
                        rcu.readLock();
                        for (int spin = 0; spin < 20; spin++)
                        {
                            Thread.onSpinWait();
                        }
                        if (node.freed)
                        {
                            useAfterFree.incrementAndGet();
                        }
                        rcu.readUnlock();
                        if ((i & 63) == 0)
                        {
                            Thread.yield();
                        }
                        if (node.freed)
                        {
                            useAfterFree.incrementAndGet();
                        }
                        rcu.readUnlock();
                    }
                });
            }
            for (int u = 0; u < updaters; u++)
            {
                threads.start("uaf-updater-" + u, () ->
                {
                    await(start);
                    for (int i = 0; i < swaps; i++)
                    {
                        final Node old = current.getAndSet(new Node());
                        rcu.callRcu(() ->
                        {
                            old.freed = true;
                            freed.incrementAndGet();
                        });
                        if (updatersReclaim && (i & 7) == 0)
                        {
                            rcu.tryReclaim();
                        }
                        if ((i & 31) == 0)
                        {
                            Thread.yield();
                        }
                    }
                });
            }
            start.countDown();
            threads.joinAll();
        }
        rcu.barrier();
        rcu.close();
        assertEquals(0, useAfterFree.get(), "a reader saw a node freed while it was inside its section");
        assertEquals((long)updaters * swaps, freed.get());
        assertEquals((long)updaters * swaps, rcu.callbacksRun());
        assertEquals(0, rcu.pendingCallbacks());
        assertTrue(rcu.gracePeriods() > 0);
    }
}
