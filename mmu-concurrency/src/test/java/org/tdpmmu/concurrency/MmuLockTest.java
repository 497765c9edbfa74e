package org.tdpmmu.concurrency;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdpmmu.concurrency.TestThreads.assertStillBlocked;
import static org.tdpmmu.concurrency.TestThreads.await;
import static org.tdpmmu.concurrency.TestThreads.awaitTrue;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;

class MmuLockTest
{
    @Test
    void writerExcludesReaders() throws Exception
    {
        final MmuLock lock = new MmuLock();
        final AtomicBoolean readerIn = new AtomicBoolean();
        lock.writeLock();
        try (TestThreads threads = new TestThreads())
        {
            threads.start("reader", () ->
            {
                lock.readLock();
                readerIn.set(true);
                lock.readUnlock();
            });
            // The reader counts its failed attempt before it queues: wait for both, then check.
            awaitTrue("reader queued", () -> lock.contendedAcquisitions() == 1 && lock.isContended());
            assertFalse(readerIn.get(), "a reader got in while the lock was held for write");
            lock.writeUnlock();
            threads.joinAll();
        }
        assertTrue(readerIn.get());
    }

    @Test
    void readerExcludesWriter() throws Exception
    {
        final MmuLock lock = new MmuLock();
        final AtomicBoolean writerIn = new AtomicBoolean();
        lock.readLock();
        try (TestThreads threads = new TestThreads())
        {
            threads.start("writer", () ->
            {
                lock.writeLock();
                writerIn.set(true);
                lock.writeUnlock();
            });
            awaitTrue("writer queued", () -> lock.contendedAcquisitions() == 1 && lock.isContended());
            assertFalse(writerIn.get(), "a writer got in while the lock was held for read");
            lock.readUnlock();
            threads.joinAll();
        }
        assertTrue(writerIn.get());
    }

    @Test
    void readersShare() throws Exception
    {
        final MmuLock lock = new MmuLock();
        final CountDownLatch held = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        try (TestThreads threads = new TestThreads())
        {
            threads.start("reader-1", () ->
            {
                lock.readLock();
                held.countDown();
                await(release);
                lock.readUnlock();
            });
            await(held);
            lock.readLock(); // would block forever if readers excluded each other
            assertTrue(lock.heldForRead());
            lock.readUnlock();
            release.countDown();
            threads.joinAll();
        }
        assertEquals(0, lock.contendedAcquisitions());
        assertEquals(2, lock.readAcquisitions());
    }

    @Test
    void heldForAnswersPerThreadAndMode() throws Exception
    {
        final MmuLock lock = new MmuLock();
        assertFalse(lock.held());
        lock.readLock();
        assertTrue(lock.heldForRead());
        assertFalse(lock.heldForWrite());
        assertTrue(lock.held());
        try (TestThreads threads = new TestThreads())
        {
            threads.start("other", () ->
            {
                assertFalse(lock.held(), "another thread's hold must not count as ours");
                assertFalse(lock.heldForRead());
            });
            threads.joinAll();
        }
        lock.readUnlock();
        assertFalse(lock.held());
        lock.writeLock();
        assertTrue(lock.heldForWrite());
        assertFalse(lock.heldForRead());
        assertTrue(lock.held());
        lock.writeUnlock();
        assertFalse(lock.held());
    }

    @Test
    void unlockWithoutHoldingIsRefused()
    {
        final MmuLock lock = new MmuLock();
        final IllegalStateException read = assertThrows(IllegalStateException.class, lock::readUnlock);
        assertTrue(read.getMessage().contains("read_unlock on thread " + Thread.currentThread().getName()),
            read.getMessage());
        final IllegalStateException write = assertThrows(IllegalStateException.class, lock::writeUnlock);
        assertTrue(write.getMessage().contains("write_unlock"), write.getMessage());
        lock.readLock();
        assertThrows(IllegalStateException.class, lock::writeUnlock);
        lock.readUnlock();
        lock.writeLock();
        assertThrows(IllegalStateException.class, lock::readUnlock);
        lock.writeUnlock();
    }

    @Test
    void recursionIsRefused()
    {
        final MmuLock lock = new MmuLock();
        lock.readLock();
        assertThrows(IllegalStateException.class, lock::readLock);
        final IllegalStateException upgrade = assertThrows(IllegalStateException.class, lock::writeLock);
        assertTrue(upgrade.getMessage().contains("already holds it for read"), upgrade.getMessage());
        lock.readUnlock();
        lock.writeLock();
        assertThrows(IllegalStateException.class, lock::writeLock);
        assertThrows(IllegalStateException.class, lock::readLock);
        lock.writeUnlock();
        assertFalse(lock.held());
    }

    @Test
    void condReschedReadYieldsOnlyToAWaiter() throws Exception
    {
        final MmuLock lock = new MmuLock();
        lock.readLock();
        assertFalse(lock.condReschedRead(), "nobody waits: keep the lock");
        assertEquals(0, lock.yields());

        final AtomicBoolean writerRan = new AtomicBoolean();
        try (TestThreads threads = new TestThreads())
        {
            threads.start("writer", () ->
            {
                lock.writeLock();
                writerRan.set(true);
                lock.writeUnlock();
            });
            awaitTrue("writer queued", lock::isContended);
            assertFalse(writerRan.get());
            assertTrue(lock.condReschedRead());
            // Fair lock: the re-take queued behind the writer, so it has been and gone.
            assertTrue(writerRan.get(), "condReschedRead re-took the lock before the waiting writer");
            assertTrue(lock.heldForRead());
            threads.joinAll();
        }
        assertFalse(lock.condReschedRead());
        lock.readUnlock();
        assertEquals(1, lock.yields());
        assertEquals(2, lock.readAcquisitions());
    }

    @Test
    void condReschedWriteYieldsOnlyToAWaiter() throws Exception
    {
        final MmuLock lock = new MmuLock();
        lock.writeLock();
        assertFalse(lock.condReschedWrite());

        final AtomicBoolean readerRan = new AtomicBoolean();
        try (TestThreads threads = new TestThreads())
        {
            threads.start("reader", () ->
            {
                lock.readLock();
                readerRan.set(true);
                lock.readUnlock();
            });
            awaitTrue("reader queued", lock::isContended);
            assertTrue(lock.condReschedWrite());
            assertTrue(readerRan.get(), "condReschedWrite re-took the lock before the waiting reader");
            assertTrue(lock.heldForWrite());
            threads.joinAll();
        }
        lock.writeUnlock();
        assertEquals(1, lock.yields());
        assertEquals(2, lock.writeAcquisitions());
    }

    @Test
    void condReschedWithoutTheLockTripsTheAssertion()
    {
        final MmuLock lock = new MmuLock();
        assertThrows(AssertionError.class, lock::condReschedRead);
        assertThrows(AssertionError.class, lock::condReschedWrite);
        lock.readLock();
        assertThrows(AssertionError.class, lock::condReschedWrite);
        lock.readUnlock();
    }

    @Test
    void counters()
    {
        final MmuLock lock = new MmuLock();
        for (int i = 0; i < 3; i++)
        {
            lock.readLock();
            lock.readUnlock();
        }
        lock.writeLock();
        final long start = System.nanoTime();
        while (System.nanoTime() - start < 200_000)
        {
            Thread.onSpinWait();
        }
        lock.writeUnlock();
        lock.writeLock();
        lock.writeUnlock();
        assertEquals(3, lock.readAcquisitions());
        assertEquals(2, lock.writeAcquisitions());
        assertEquals(0, lock.contendedAcquisitions());
        assertEquals(0, lock.yields());
        assertTrue(lock.writeHoldNanosMax() >= 200_000, "max=" + lock.writeHoldNanosMax());
        assertTrue(lock.writeHoldNanosTotal() >= lock.writeHoldNanosMax());
    }

    /** A thread that takes the lock once and notes its turn: the order in which the threads got in. */
    private static final class Turn
    {
        final Thread thread;
        final AtomicInteger at = new AtomicInteger(-1);

        Turn(final TestThreads threads, final String name, final MmuLock lock, final boolean write,
            final AtomicInteger turns)
        {
            thread = threads.start(name, () ->
            {
                if (write)
                {
                    lock.writeLock();
                    at.set(turns.getAndIncrement());
                    lock.writeUnlock();
                }
                else
                {
                    lock.readLock();
                    at.set(turns.getAndIncrement());
                    lock.readUnlock();
                }
            });
        }

        boolean parked()
        {
            return LockSupport.getBlocker(thread) != null;
        }
    }

    @Test
    void aWaitingWriterStopsNewReaders() throws Exception
    {
        final MmuLock lock = new MmuLock();
        final AtomicInteger turns = new AtomicInteger();
        final Turn writer;
        final Turn late;
        lock.readLock();
        try (TestThreads threads = new TestThreads())
        {
            writer = new Turn(threads, "writer", lock, true, turns);
            awaitTrue("writer waits with the writer-waiting bit set",
                () -> (lock.lockWord() & QueuedRwLock.WAITING) != 0);
            late = new Turn(threads, "late-reader", lock, false, turns);
            // Either it got in (the bug) or it queued and parked behind the writer.
            awaitTrue("late reader in or parked", () -> !late.thread.isAlive() || late.parked());
            assertStillBlocked(late.thread);
            assertEquals(-1, late.at.get(), "a reader got in past a waiting writer");
            assertEquals(2, lock.contendedAcquisitions());
            assertEquals(QueuedRwLock.READER_BIAS | QueuedRwLock.WAITING, lock.lockWord(),
                "one reader (this thread) and the waiting bit; the late reader took its bias back");
            lock.readUnlock();
            threads.joinAll();
        }
        assertEquals(0, writer.at.get());
        assertEquals(1, late.at.get());
        assertEquals(0, lock.lockWord());
        assertFalse(lock.isContended());
    }

    /** Repeated: a thread that barges back in rather than queueing wins some rounds, not all. */
    @RepeatedTest(25)
    void condReschedReadQueuesBehindEveryQueuedWriter() throws Exception
    {
        assertYieldQueuesBehindBoth(false, true);
    }

    /** Repeated, as above. */
    @RepeatedTest(25)
    void condReschedWriteQueuesBehindEveryQueuedWaiter() throws Exception
    {
        assertYieldQueuesBehindBoth(true, false);
    }

    /**
     * This thread holds the lock; a first waiter parks at the head of the queue, a writer parks
     * behind it; condResched must let both in before this thread gets the lock back.
     */
    private static void assertYieldQueuesBehindBoth(final boolean holdForWrite, final boolean firstWrites)
        throws Exception
    {
        final MmuLock lock = new MmuLock();
        final AtomicInteger turns = new AtomicInteger();
        if (holdForWrite)
        {
            lock.writeLock();
        }
        else
        {
            lock.readLock();
        }
        try (TestThreads threads = new TestThreads())
        {
            final Turn first = new Turn(threads, "first", lock, firstWrites, turns);
            awaitTrue("first waiter parked at the head of the queue", first::parked);
            final Turn second = new Turn(threads, "second-writer", lock, true, turns);
            awaitTrue("second waiter parked behind the first", second::parked);
            assertTrue(holdForWrite ? lock.condReschedWrite() : lock.condReschedRead());
            final int mine = turns.getAndIncrement();
            assertTrue(holdForWrite ? lock.heldForWrite() : lock.heldForRead());
            assertEquals(0, first.at.get());
            assertEquals(1, second.at.get(), "the yielding thread re-took the lock ahead of the queued writer");
            assertEquals(2, mine);
            threads.joinAll();
        }
        if (holdForWrite)
        {
            lock.writeUnlock();
            assertEquals(3, lock.writeAcquisitions());
        }
        else
        {
            lock.readUnlock();
        }
        assertEquals(0, lock.lockWord());
    }

    @Test
    void refusedRecursionLeavesTheLockWordUntouched() throws Exception
    {
        final MmuLock lock = new MmuLock();
        lock.readLock();
        assertThrows(IllegalStateException.class, lock::readLock);
        assertThrows(IllegalStateException.class, lock::writeLock);
        assertEquals(QueuedRwLock.READER_BIAS, lock.lockWord(), "a refused attempt left a bias or a writer bit");
        assertTrue(lock.heldForRead());
        lock.readUnlock();
        assertEquals(0, lock.lockWord());

        lock.writeLock();
        assertThrows(IllegalStateException.class, lock::readLock);
        assertThrows(IllegalStateException.class, lock::writeLock);
        assertEquals(QueuedRwLock.LOCKED, lock.lockWord());
        assertTrue(lock.heldForWrite());
        lock.writeUnlock();
        assertEquals(0, lock.lockWord());

        // and the lock still works for others: a writer on another thread gets in
        try (TestThreads threads = new TestThreads())
        {
            threads.start("writer", () ->
            {
                lock.writeLock();
                lock.writeUnlock();
            });
            threads.joinAll();
        }
        assertEquals(0, lock.contendedAcquisitions());
    }

    @Test
    void holdsAreTrackedPerLock()
    {
        final MmuLock a = new MmuLock();
        final MmuLock b = new MmuLock();
        a.readLock();
        assertFalse(b.held());
        b.writeLock(); // not recursion: another lock
        assertTrue(a.heldForRead());
        assertTrue(b.heldForWrite());
        assertThrows(IllegalStateException.class, b::readUnlock, "b is held for write, not read");
        b.writeUnlock();
        a.readUnlock();
        assertFalse(a.held());
        assertFalse(b.held());
    }

    @Test
    void anInterruptedWaiterKeepsWaitingAndKeepsItsInterrupt() throws Exception
    {
        final MmuLock lock = new MmuLock();
        final AtomicBoolean interruptedAfter = new AtomicBoolean();
        lock.writeLock();
        try (TestThreads threads = new TestThreads())
        {
            final Thread reader = threads.start("reader", () ->
            {
                lock.readLock();
                interruptedAfter.set(Thread.interrupted());
                lock.readUnlock();
            });
            awaitTrue("reader parked", () -> LockSupport.getBlocker(reader) != null);
            reader.interrupt();
            assertStillBlocked(reader);
            lock.writeUnlock();
            threads.joinAll();
        }
        assertTrue(interruptedAfter.get(), "the interrupt was lost");
        assertEquals(0, lock.lockWord());
    }
}
