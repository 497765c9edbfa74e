package org.tdpmmu.concurrency;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdpmmu.concurrency.TestThreads.await;
import static org.tdpmmu.concurrency.TestThreads.awaitTrue;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;

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
}
