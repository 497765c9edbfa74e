package org.tdpmmu.concurrency;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.tdpmmu.concurrency.TestThreads.await;

import java.lang.management.ManagementFactory;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;

import org.junit.jupiter.api.Test;

/**
 * Many threads on one {@link MmuLock}, more than the machine's cores, each for under a second: mutual
 * exclusion, no lost wake-ups (a lost one hangs a thread, and the bounded join fails), and no
 * allocation per acquisition.
 */
class MmuLockStressTest
{
    private static final long RUN_NANOS = TimeUnit.MILLISECONDS.toNanos(700);
    /** What {@code inside} gains while a writer is in; readers add 1 each. */
    private static final int WRITER_INSIDE = 1 << 16;

    /** Plain fields: only the lock orders them. A writer moves both; a reader must see them equal. */
    private static final class Shared
    {
        long first;
        long second;
    }

    @Test
    void writersExcludeEveryoneAndReadersSeeWholeUpdates() throws Exception
    {
        final MmuLock lock = new MmuLock();
        final Shared shared = new Shared();
        final AtomicInteger inside = new AtomicInteger();
        final LongAdder writes = new LongAdder();
        final LongAdder reads = new LongAdder();
        final LongAdder writeYields = new LongAdder();
        final LongAdder readYields = new LongAdder();
        final long deadline = System.nanoTime() + RUN_NANOS;
        try (TestThreads threads = new TestThreads())
        {
            for (int t = 0; t < 6; t++)
            {
                threads.start("mixer-" + t, () ->
                {
                    final ThreadLocalRandom random = ThreadLocalRandom.current();
                    while (System.nanoTime() < deadline)
                    {
                        if (random.nextInt(4) == 0)
                        {
                            writeSection(lock, shared, inside, random, writeYields);
                            writes.increment();
                        }
                        else
                        {
                            readSection(lock, shared, inside, random, readYields);
                            reads.increment();
                        }
                    }
                });
            }
            threads.joinAll();
        }
        assertTrue(writes.sum() > 0 && reads.sum() > 0, "writes=" + writes + " reads=" + reads);
        assertEquals(writes.sum(), shared.first, "a write was lost: two writers overlapped");
        assertEquals(shared.first, shared.second);
        assertEquals(writes.sum() + writeYields.sum(), lock.writeAcquisitions());
        assertEquals(reads.sum() + readYields.sum(), lock.readAcquisitions());
        assertEquals(writeYields.sum() + readYields.sum(), lock.yields());
        assertEquals(0, lock.lockWord());
        assertFalse(lock.isContended());
    }

    private static void writeSection(final MmuLock lock, final Shared shared, final AtomicInteger inside,
        final ThreadLocalRandom random, final LongAdder yields)
    {
        lock.writeLock();
        try
        {
            enter(inside, WRITER_INSIDE, 0, "a writer found someone inside");
            shared.first = shared.first + 1;
            spin(random.nextInt(50));
            shared.second = shared.second + 1;
            if (random.nextInt(8) == 0)
            {
                inside.addAndGet(-WRITER_INSIDE);
                if (lock.condReschedWrite())
                {
                    yields.increment();
                }
                enter(inside, WRITER_INSIDE, 0, "a writer found someone inside after condReschedWrite");
            }
            inside.addAndGet(-WRITER_INSIDE);
        }
        finally
        {
            lock.writeUnlock();
        }
    }

    private static void readSection(final MmuLock lock, final Shared shared, final AtomicInteger inside,
        final ThreadLocalRandom random, final LongAdder yields)
    {
        lock.readLock();
        try
        {
            enter(inside, 1, WRITER_INSIDE - 1, "a reader found a writer inside");
            final long first = shared.first;
            spin(random.nextInt(50));
            final long second = shared.second;
            if (first != second)
            {
                fail("a reader saw half a write: " + first + " != " + second);
            }
            if (random.nextInt(16) == 0)
            {
                inside.decrementAndGet();
                if (lock.condReschedRead())
                {
                    yields.increment();
                }
                enter(inside, 1, WRITER_INSIDE - 1, "a reader found a writer inside after condReschedRead");
            }
            inside.decrementAndGet();
        }
        finally
        {
            lock.readUnlock();
        }
    }

    /** Adds {@code mine} to {@code inside} and fails if what was there before exceeds {@code allowed}. */
    private static void enter(final AtomicInteger inside, final int mine, final int allowed, final String failure)
    {
        final int before = inside.getAndAdd(mine);
        if (before > allowed)
        {
            fail(failure + " (inside=" + before + ")");
        }
    }

    private static void spin(final int rounds)
    {
        for (int i = 0; i < rounds; i++)
        {
            Thread.onSpinWait();
        }
    }

    @Test
    void everyWaiterIsWokenWhenHoldersSleep() throws Exception
    {
        // Holders sleep inside the lock now and then, so waiters get past spinning and yielding
        // and park: each park must be matched by a wake-up, or its thread never finishes.
        final MmuLock lock = new MmuLock();
        final LongAdder acquisitions = new LongAdder();
        final long deadline = System.nanoTime() + RUN_NANOS;
        try (TestThreads threads = new TestThreads())
        {
            for (int t = 0; t < 8; t++)
            {
                final boolean writer = t % 3 == 0;
                threads.start((writer ? "writer-" : "reader-") + t, () ->
                {
                    final ThreadLocalRandom random = ThreadLocalRandom.current();
                    while (System.nanoTime() < deadline)
                    {
                        final boolean write = writer ? random.nextInt(4) != 0 : random.nextInt(8) == 0;
                        if (write)
                        {
                            lock.writeLock();
                        }
                        else
                        {
                            lock.readLock();
                        }
                        if (random.nextInt(16) == 0)
                        {
                            LockSupport.parkNanos(20_000);
                        }
                        if (write)
                        {
                            lock.writeUnlock();
                        }
                        else
                        {
                            lock.readUnlock();
                        }
                        acquisitions.increment();
                    }
                });
            }
            threads.joinAll();
        }
        assertEquals(acquisitions.sum(), lock.readAcquisitions() + lock.writeAcquisitions());
        assertTrue(lock.contendedAcquisitions() > 0, "the run never queued: it tested nothing");
        assertEquals(0, lock.lockWord());
        assertFalse(lock.isContended());
    }

    @Test
    void acquisitionsAllocateNothingWithTwoReaders() throws Exception
    {
        final com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean)ManagementFactory.getThreadMXBean();
        assertTrue(mx.isThreadAllocatedMemorySupported() && mx.isThreadAllocatedMemoryEnabled(),
            "per-thread allocation counts are not available");
        final MmuLock lock = new MmuLock();
        final CountDownLatch held = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        final int rounds = 100_000;
        try (TestThreads threads = new TestThreads())
        {
            // The first reader stays in, so every acquisition below is a second reader's: the case in
            // which ReentrantReadWriteLock made and dropped a hold counter each time.
            threads.start("first-reader", () ->
            {
                lock.readLock();
                held.countDown();
                await(release);
                lock.readUnlock();
            });
            await(held);
            final long self = Thread.currentThread().getId();
            for (int warm = 0; warm < 20; warm++)
            {
                readRounds(lock, rounds);
            }
            final long before = mx.getThreadAllocatedBytes(self);
            readRounds(lock, rounds);
            final long readBytes = mx.getThreadAllocatedBytes(self) - before;
            release.countDown();
            threads.joinAll();

            for (int warm = 0; warm < 20; warm++)
            {
                writeRounds(lock, rounds);
            }
            final long beforeWrites = mx.getThreadAllocatedBytes(self);
            writeRounds(lock, rounds);
            final long writeBytes = mx.getThreadAllocatedBytes(self) - beforeWrites;

            assertTrue(readBytes < 1024, rounds + " read acquisitions allocated " + readBytes + " bytes");
            assertTrue(writeBytes < 1024, rounds + " write acquisitions allocated " + writeBytes + " bytes");
        }
    }

    private static void readRounds(final MmuLock lock, final int rounds)
    {
        for (int i = 0; i < rounds; i++)
        {
            lock.readLock();
            assertTrue(lock.heldForRead());
            lock.readUnlock();
        }
    }

    private static void writeRounds(final MmuLock lock, final int rounds)
    {
        for (int i = 0; i < rounds; i++)
        {
            lock.writeLock();
            assertTrue(lock.heldForWrite());
            lock.writeUnlock();
        }
    }
}
