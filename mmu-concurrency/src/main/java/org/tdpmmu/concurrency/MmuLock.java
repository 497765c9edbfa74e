package org.tdpmmu.concurrency;

import java.util.concurrent.atomic.LongAdder;

/**
 * The MMU lock (kernel: kvm->mmu_lock as an rwlock; read_lock / write_lock, cond_resched_rwlock_read
 * / _write, rwlock_needbreak, lockdep_assert_held_read / _write).
 *
 * <p>Built on {@link QueuedRwLock}, a queued rwlock like the kernel's: one padded lock word, one
 * atomic add to enter and one to leave for a reader, a FIFO wait queue for everyone who cannot get
 * in at once, and a writer at the head of that queue stops new readers. A thread that drops the lock
 * in {@link #condReschedRead()} or {@link #condReschedWrite()} re-takes it through the queue when
 * anyone is queued, so it gets back in behind the waiters instead of barging in ahead of them (the
 * yield would achieve nothing otherwise).
 *
 * <p>The kernel's rwlock is not recursive: a second read_lock on the same CPU deadlocks behind a
 * queued writer, and taking it for write while holding it deadlocks at once. Both throw here instead.
 * The check needs the caller's hold mode, which lives in the caller's {@link QueuedRwLockNode}: one
 * record per thread and lock, found through a {@link ThreadLocal}, made on the thread's first use and
 * reused after, and also the thread's node in the wait queue. So an acquisition allocates nothing and
 * writes no shared word besides the lock word; the counters are {@link LongAdder}s (striped: two
 * readers counting at once soon count in cells of their own) or are written under the write lock.
 *
 * <p>Memory ordering: every acquisition is an acquire of the lock word and every release a release
 * of it (see {@link QueuedRwLock}), so a critical section sees everything done in the critical
 * sections of the writers before it, as kernel code under mmu_lock may assume. The hold mode is
 * plain: only its own thread reads or writes it.
 */
public final class MmuLock
{
    private final QueuedRwLock lock = new QueuedRwLock();
    /** A thread's node is made on its first use of this lock and reused for every acquisition after. */
    private final ThreadLocal<QueuedRwLockNode> nodes =
        ThreadLocal.withInitial(() -> new QueuedRwLockNode(Thread.currentThread()));

    private final LongAdder readAcquisitions = new LongAdder();
    private final LongAdder contendedAcquisitions = new LongAdder();
    private final LongAdder yields = new LongAdder();

    /** Written only while holding the lock for write (single writer), read by anyone. */
    private volatile long writeAcquisitions;
    private volatile long writeHoldNanosTotal;
    private volatile long writeHoldNanosMax;
    /** Guarded by the write lock. */
    /**
     * The thread holding the lock for write, else null. Written plain by that thread only, right
     * after it acquires and right before it releases, so the owner reads its own writes exactly and
     * any other thread, stale or not, never reads itself: {@link #heldForWrite()} without the
     * thread-local lookup, which sweeps call per entry.
     */
    private Thread writer;
    private long writeAcquiredAtNanos;

    /**
     * Takes the lock for read (kernel: read_lock(&kvm->mmu_lock), queued_read_lock). Acquire.
     *
     * @throws IllegalStateException if the calling thread already holds it, in either mode.
     */
    public void readLock()
    {
        final QueuedRwLockNode self = nodes.get();
        checkNotHeld(self, "read_lock");
        acquireRead(self, false);
    }

    /**
     * Releases a read hold (kernel: read_unlock, queued_read_unlock). Release.
     *
     * @throws IllegalStateException if the calling thread does not hold it for read.
     */
    public void readUnlock()
    {
        final QueuedRwLockNode self = nodes.get();
        if (self.holdMode != QueuedRwLockNode.READ)
        {
            throw new IllegalStateException(
                "mmu_lock read_unlock on thread " + threadName() + " which does not hold it for read");
        }
        self.holdMode = QueuedRwLockNode.NONE;
        lock.readUnlock();
    }

    /**
     * Takes the lock for write (kernel: write_lock(&kvm->mmu_lock), queued_write_lock). Acquire.
     *
     * @throws IllegalStateException if the calling thread already holds it, in either mode.
     */
    public void writeLock()
    {
        final QueuedRwLockNode self = nodes.get();
        checkNotHeld(self, "write_lock");
        acquireWrite(self, false);
    }

    /**
     * Releases the write hold (kernel: write_unlock, queued_write_unlock). Release.
     *
     * @throws IllegalStateException if the calling thread does not hold it for write.
     */
    public void writeUnlock()
    {
        final QueuedRwLockNode self = nodes.get();
        if (self.holdMode != QueuedRwLockNode.WRITE)
        {
            throw new IllegalStateException(
                "mmu_lock write_unlock on thread " + threadName() + " which does not hold it for write");
        }
        releaseWrite(self);
    }

    /** True if the calling thread holds the lock for read (kernel: lockdep_assert_held_read). */
    public boolean heldForRead()
    {
        return nodes.get().holdMode == QueuedRwLockNode.READ;
    }

    /** True if the calling thread holds the lock for write (kernel: lockdep_assert_held_write). */
    public boolean heldForWrite()
    {
        return writer == Thread.currentThread();
    }

    /** True if the calling thread holds the lock in either mode (kernel: lockdep_assert_held). */
    public boolean held()
    {
        return nodes.get().holdMode != QueuedRwLockNode.NONE;
    }

    /**
     * True if some thread is waiting for the lock (kernel: rwlock_needbreak / rwlock_is_contended,
     * which ask whether the wait queue is non-empty). A hint: no ordering.
     */
    public boolean isContended()
    {
        return lock.isContended();
    }

    /**
     * For long walks under the read lock (kernel: cond_resched_rwlock_read): if another thread waits
     * for the lock, drops the read hold and takes it again, queueing behind every thread that was
     * queued when it dropped it (a writer among them gets the lock first).
     * The caller must hold the lock for read, and must revalidate what it read before, as in the
     * kernel (the TDP iterator restarts from the root).
     *
     * @return true if the lock was dropped and re-taken.
     */
    public boolean condReschedRead()
    {
        assert heldForRead() : "cond_resched_rwlock_read without mmu_lock held for read on " + threadName();
        if (!lock.isContended())
        {
            return false;
        }
        final QueuedRwLockNode self = nodes.get();
        self.holdMode = QueuedRwLockNode.NONE;
        lock.readUnlock();
        yields.increment();
        acquireRead(self, true);
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
        if (!lock.isContended())
        {
            return false;
        }
        final QueuedRwLockNode self = nodes.get();
        releaseWrite(self);
        yields.increment();
        acquireWrite(self, true);
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

    /** The lock word (see {@link QueuedRwLock}), for tests that check a writer-waiting or reader count. */
    long lockWord()
    {
        return lock.cnts();
    }

    /**
     * The fast path, else count the contention and queue. A re-take after a yield skips the fast
     * path while anyone is queued: the waiter it yielded to may be a writer head that has not yet set
     * its waiting bit, and the fast path would get in ahead of it.
     */
    private void acquireRead(final QueuedRwLockNode self, final boolean afterYield)
    {
        if ((afterYield && lock.hasQueuedThreads()) || !lock.tryReadLock())
        {
            contendedAcquisitions.increment();
            lock.readLockSlow(self);
        }
        self.holdMode = QueuedRwLockNode.READ;
        readAcquisitions.increment();
    }

    private void acquireWrite(final QueuedRwLockNode self, final boolean afterYield)
    {
        if ((afterYield && lock.hasQueuedThreads()) || !lock.tryWriteLock())
        {
            contendedAcquisitions.increment();
            lock.writeLockSlow(self);
        }
        self.holdMode = QueuedRwLockNode.WRITE;
        writer = Thread.currentThread();
        // Under the write lock: single writer, and the lock orders successive writers.
        writeAcquisitions = writeAcquisitions + 1;
        writeAcquiredAtNanos = System.nanoTime();
    }

    private void releaseWrite(final QueuedRwLockNode self)
    {
        final long held = System.nanoTime() - writeAcquiredAtNanos;
        writeHoldNanosTotal = writeHoldNanosTotal + held;
        if (held > writeHoldNanosMax)
        {
            writeHoldNanosMax = held;
        }
        self.holdMode = QueuedRwLockNode.NONE;
        writer = null;
        lock.writeUnlock();
    }

    private static void checkNotHeld(final QueuedRwLockNode self, final String operation)
    {
        if (self.holdMode == QueuedRwLockNode.WRITE)
        {
            throw new IllegalStateException("mmu_lock " + operation + " on thread " + threadName() +
                " which already holds it for write (the rwlock is not recursive)");
        }
        if (self.holdMode == QueuedRwLockNode.READ)
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
