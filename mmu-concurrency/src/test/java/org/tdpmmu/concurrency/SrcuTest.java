package org.tdpmmu.concurrency;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.tdpmmu.concurrency.TestThreads.assertCollected;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.ref.WeakReference;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;

class SrcuTest
{
    /** As RcuTest's test of the same name: the thread's reader record does not keep its Srcu. */
    @Test
    void aDroppedSrcuIsNotKeptByAThreadThatReadInIt() throws InterruptedException
    {
        assertCollected(readInADroppedSrcu(), "an Srcu this thread read in and dropped");
    }

    private static WeakReference<Srcu> readInADroppedSrcu()
    {
        final Srcu srcu = new Srcu();
        srcu.readUnlock(srcu.readLock());
        return new WeakReference<>(srcu);
    }

    @Test
    void synchronizeWaitsForAReaderThatEnteredBefore() throws Exception
    {
        final Srcu srcu = new Srcu();
        final int idx = srcu.readLock();
        final AtomicBoolean synced = new AtomicBoolean();
        try (TestThreads threads = new TestThreads())
        {
            threads.start("writer", () ->
            {
                srcu.synchronize();
                synced.set(true);
            });
            TestThreads.awaitTrue("the writer waits for the reader", () -> srcu.waitingWriters() == 1);
            assertFalse(synced.get(), "a grace period ended while a reader from before it was inside");
            srcu.readUnlock(idx);
            threads.joinAll();
        }
        assertTrue(synced.get());
        assertEquals(1, srcu.gracePeriods());
        assertEquals(0, srcu.activeReaders());
    }

    @Test
    void aReaderOfTheNewIndexDoesNotHoldUpTheWriter() throws Exception
    {
        final Srcu srcu = new Srcu();
        final int before = srcu.readLock();
        try (TestThreads threads = new TestThreads())
        {
            threads.start("writer", srcu::synchronize);
            TestThreads.awaitTrue("the writer is draining the old index", () -> srcu.waitingWriters() == 1);
            // Entered after the flip: counted in the other index, so the writer waits only for `before`.
            final int after = srcu.readLock();
            srcu.readUnlock(before);
            threads.joinAll();
            srcu.readUnlock(after);
        }
        assertEquals(1, srcu.gracePeriods());
    }

    /**
     * The counts are per reader thread: the writer must wait for every thread's section of the old
     * index, not only the first one it finds, and a thread's unlock cannot end another's section.
     */
    @Test
    void synchronizeWaitsForEveryReaderThread() throws Exception
    {
        final Srcu srcu = new Srcu();
        final CountDownLatch entered = new CountDownLatch(1);
        final CountDownLatch leave = new CountDownLatch(1);
        final AtomicBoolean synced = new AtomicBoolean();
        final int mine = srcu.readLock();
        try (TestThreads threads = new TestThreads())
        {
            threads.start("reader", () ->
            {
                final int idx = srcu.readLock();
                entered.countDown();
                leave.await();
                srcu.readUnlock(idx);
            });
            entered.await();
            assertEquals(2, srcu.activeReaders());
            threads.start("writer", () ->
            {
                srcu.synchronize();
                synced.set(true);
            });
            TestThreads.awaitTrue("the writer waits", () -> srcu.waitingWriters() == 1);
            srcu.readUnlock(mine);
            assertThrows(IllegalStateException.class, () -> srcu.readUnlock(mine), "this thread has no section left");
            Thread.sleep(20);
            assertFalse(synced.get(), "a grace period ended while the other thread's reader was inside");
            leave.countDown();
            threads.joinAll();
        }
        assertTrue(synced.get());
        assertEquals(0, srcu.activeReaders());
    }

    @Test
    void unbalancedUnlockIsRefused()
    {
        final Srcu srcu = new Srcu();
        assertThrows(IllegalStateException.class, () -> srcu.readUnlock(0));
        assertThrows(IllegalStateException.class, () -> srcu.readUnlock(2));
    }

    /**
     * The property KVM builds on: a writer unpublishes an object, synchronizes, then "frees" it; no
     * reader ever sees a freed object it picked up inside its section.
     */
    @Test
    void noReaderSeesAnObjectFreedAfterSynchronize() throws Exception
    {
        final Srcu srcu = new Srcu();
        final AtomicReference<boolean[]> published = new AtomicReference<>(new boolean[] {true});
        final AtomicBoolean stop = new AtomicBoolean();
        final CountDownLatch started = new CountDownLatch(2);
        try (TestThreads threads = new TestThreads())
        {
            for (int r = 0; r < 2; r++)
            {
                threads.start("reader" + r, () ->
                {
                    started.countDown();
                    while (!stop.get())
                    {
                        final int idx = srcu.readLock();
                        try
                        {
                            final boolean[] live = published.get();
                            for (int i = 0; i < 8; i++)
                            {
                                if (!live[0])
                                {
                                    throw new AssertionError("read an object freed after a grace period");
                                }
                                Thread.onSpinWait();
                            }
                        }
                        finally
                        {
                            srcu.readUnlock(idx);
                        }
                    }
                });
            }
            started.await();
            for (int i = 0; i < 2_000; i++)
            {
                final boolean[] old = published.getAndSet(new boolean[] {true});
                srcu.synchronize();
                old[0] = false;
            }
            stop.set(true);
            threads.joinAll();
        }
        assertEquals(2_000, srcu.gracePeriods());
    }
}
