package org.tdpmmu.concurrency;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The MMU lock (kernel: kvm->mmu_lock as an rwlock; read_lock / write_lock, cond_resched_rwlock_read
 * / _write, lockdep_assert_held_read / _write).
 *
 * <p>Built on a fair {@link ReentrantReadWriteLock}: like the kernel's queued rwlock, a waiting
 * writer stops new readers, and a thread that drops the lock in {@link #condReschedRead()} or
 * {@link #condReschedWrite()} queues behind the waiters instead of barging back in (a non-fair lock
 * would let it re-take the lock at once and the yield would achieve nothing).
 *
 * <p>The kernel's rwlock is not recursive: a second read_lock on the same CPU deadlocks behind a
 * queued writer, and taking it for write while holding it deadlocks at once. The underlying Java
 * lock would allow the first and hang on the second, so both throw here instead.
 */
public final class MmuLock
{
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock(true);
    private final ReentrantReadWriteLock.ReadLock readLock = lock.readLock();
    private final ReentrantReadWriteLock.WriteLock writeLock = lock.writeLock();

    private final LongAdder readAcquisitions = new LongAdder();
    private final LongAdder contendedAcquisitions = new LongAdder();
    private final LongAdder yields = new LongAdder();

    /** Written only while holding the lock for write (single writer), read by anyone. */
    private volatile long writeAcquisitions;
    private volatile long writeHoldNanosTotal;
    private volatile long writeHoldNanosMax;
    /** Guarded by the write lock. */
    private long writeAcquiredAtNanos;

    /**
     * Takes the lock for read (kernel: read_lock(&kvm->mmu_lock)).
     *
     * @throws IllegalStateException if the calling thread already holds it, in either mode.
     */
    public void readLock()
    {
        checkNotHeld("read_lock");
        acquireRead();
    }

    /**
     * Releases a read hold (kernel: read_unlock).
     *
     * @throws IllegalStateException if the calling thread does not hold it for read.
     */
    public void readUnlock()
    {
        if (!heldForRead())
        {
            throw new IllegalStateException(
                "mmu_lock read_unlock on thread " + threadName() + " which does not hold it for read");
        }
        readLock.unlock();
    }

    /**
     * Takes the lock for write (kernel: write_lock(&kvm->mmu_lock)).
     *
     * @throws IllegalStateException if the calling thread already holds it, in either mode.
     */
    public void writeLock()
    {
        checkNotHeld("write_lock");
        acquireWrite();
    }

    /**
     * Releases the write hold (kernel: write_unlock).
     *
     * @throws IllegalStateException if the calling thread does not hold it for write.
     */
    public void writeUnlock()
    {
        if (!heldForWrite())
        {
            throw new IllegalStateException(
                "mmu_lock write_unlock on thread " + threadName() + " which does not hold it for write");
        }
        releaseWrite();
    }

    /** True if the calling thread holds the lock for read (kernel: lockdep_assert_held_read). */
    public boolean heldForRead()
    {
        return lock.getReadHoldCount() > 0;
    }

    /** True if the calling thread holds the lock for write (kernel: lockdep_assert_held_write). */
    public boolean heldForWrite()
    {
        return lock.isWriteLockedByCurrentThread();
    }

    /** True if the calling thread holds the lock in either mode (kernel: lockdep_assert_held). */
    public boolean held()
    {
        return heldForWrite() || heldForRead();
    }

    /** True if some thread is waiting for the lock (kernel: rwlock_is_contended). */
    public boolean isContended()
    {
        return lock.hasQueuedThreads();
    }

    /**
     * For long walks under the read lock (kernel: cond_resched_rwlock_read): if another thread waits
     * for the lock, drops the read hold and takes it again, queueing behind that waiter.
     * The caller must hold the lock for read, and must revalidate what it read before, as in the
     * kernel (the TDP iterator restarts from the root).
     *
     * @return true if the lock was dropped and re-taken.
     */
    public boolean condReschedRead()
    {
        assert heldForRead() : "cond_resched_rwlock_read without mmu_lock held for read on " + threadName();
        if (!lock.hasQueuedThreads())
        {
            return false;
        }
        readLock.unlock();
        yields.increment();
        acquireRead();
        return true;
    }

    /**
     * As {@link #condReschedRead()}, for a holder of the write lock (kernel: cond_resched_rwlock_write).
     *
     * @return true if the lock was dropped and re-taken.
     */
    public boolean condReschedWrite()
    {
        assert heldForWrite() : "cond_resched_rwlock_write without mmu_lock held for write on " + threadName();
        if (!lock.hasQueuedThreads())
        {
            return false;
        }
        releaseWrite();
        yields.increment();
        acquireWrite();
        return true;
    }

    /** Read acquisitions, including re-takes in condReschedRead. */
    public long readAcquisitions()
    {
        return readAcquisitions.sum();
    }

    /** Write acquisitions, including re-takes in condReschedWrite. */
    public long writeAcquisitions()
    {
        return writeAcquisitions;
    }

    /** Acquisitions (either mode) that could not take the lock at once and had to queue. */
    public long contendedAcquisitions()
    {
        return contendedAcquisitions.sum();
    }

    /** Times condResched dropped and re-took the lock. */
    public long yields()
    {
        return yields.sum();
    }

    /** Total nanoseconds the lock was held for write (each hold from acquisition to release). */
    public long writeHoldNanosTotal()
    {
        return writeHoldNanosTotal;
    }

    /** Longest single write hold, in nanoseconds. */
    public long writeHoldNanosMax()
    {
        return writeHoldNanosMax;
    }

    private void acquireRead()
    {
        // tryLock(0, unit), unlike tryLock(), honours fairness: it will not barge past a queued writer.
        if (!tryAcquire(readLock))
        {
            readLock.lock();
        }
        readAcquisitions.increment();
    }

    private void acquireWrite()
    {
        if (!tryAcquire(writeLock))
        {
            writeLock.lock();
        }
        // Under the write lock: single writer, and the lock orders successive writers.
        writeAcquisitions = writeAcquisitions + 1;
        writeAcquiredAtNanos = System.nanoTime();
    }

    private void releaseWrite()
    {
        final long held = System.nanoTime() - writeAcquiredAtNanos;
        writeHoldNanosTotal = writeHoldNanosTotal + held;
        if (held > writeHoldNanosMax)
        {
            writeHoldNanosMax = held;
        }
        writeLock.unlock();
    }

    /**
     * One attempt that honours fairness; false means the caller must block. Counts the contention,
     * except when an interrupt made the attempt impossible (then nobody knows whether it would have
     * waited).
     */
    private boolean tryAcquire(final Lock l)
    {
        try
        {
            if (l.tryLock(0L, TimeUnit.NANOSECONDS))
            {
                return true;
            }
            contendedAcquisitions.increment();
            return false;
        }
        catch (final InterruptedException ex)
        {
            // The kernel's lock is not interruptible: keep the flag for the caller and block instead.
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private void checkNotHeld(final String operation)
    {
        if (heldForWrite())
        {
            throw new IllegalStateException("mmu_lock " + operation + " on thread " + threadName() +
                " which already holds it for write (the rwlock is not recursive)");
        }
        if (heldForRead())
        {
            throw new IllegalStateException("mmu_lock " + operation + " on thread " + threadName() +
                " which already holds it for read (the rwlock is not recursive)");
        }
    }

    private static String threadName()
    {
        return Thread.currentThread().getName();
    }
}
