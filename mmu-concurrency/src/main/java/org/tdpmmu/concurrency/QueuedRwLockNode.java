package org.tdpmmu.concurrency;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

abstract class QueuedRwLockNodeLhsPad
{
    /** Fills the hole after the object header, for the reason given in QueuedRwLockLhsPad. */
    int headerGap;
    long p00, p01, p02, p03, p04, p05, p06, p07;
    long p10, p11, p12, p13, p14, p15, p16, p17;
}

abstract class QueuedRwLockNodeFields extends QueuedRwLockNodeLhsPad
{
    /** The queued thread behind this one; written once per queueing by that thread. */
    volatile QueuedRwLockNode next;
    /** True from queueing until the predecessor hands the wait queue over. */
    volatile boolean waiting;
    /** {@link QueuedRwLockNode#NONE}, {@link QueuedRwLockNode#READ} or {@link QueuedRwLockNode#WRITE}; owner only, so plain. */
    int holdMode;
    /** An interrupt swallowed while parked, to restore when the slow path ends; owner only. */
    boolean interrupted;
}

/**
 * One thread's record for one {@link QueuedRwLock}: its node in the lock's wait queue (kernel: the
 * per-CPU MCS node of the qspinlock behind the rwlock's wait_lock) and the mode it holds the lock
 * in (kernel: what lockdep tracks per task). Made on the thread's first use of the lock and reused
 * for every acquisition after, so neither queueing nor the hold bookkeeping allocates.
 *
 * <p>Reuse is safe because a thread is in one lock's queue at most once: the lock is not recursive
 * (refused before queueing), and once {@link QueuedRwLock} has handed the queue on, no other thread
 * writes this node again until its owner queues it anew (the successor wrote {@code next} before the
 * hand-off could happen).
 *
 * <p>Padded like {@link RcuReader}: every acquisition writes {@code holdMode}, and two threads'
 * records on one cache line would make two readers of disjoint ranges bounce it.
 */
final class QueuedRwLockNode extends QueuedRwLockNodeFields
{
    static final int NONE = 0;
    static final int READ = 1;
    static final int WRITE = 2;

    private static final VarHandle NEXT;
    private static final VarHandle WAITING;

    static
    {
        try
        {
            final MethodHandles.Lookup lookup = MethodHandles.lookup();
            NEXT = lookup.findVarHandle(QueuedRwLockNodeFields.class, "next", QueuedRwLockNode.class);
            WAITING = lookup.findVarHandle(QueuedRwLockNodeFields.class, "waiting", boolean.class);
        }
        catch (final ReflectiveOperationException ex)
        {
            throw new ExceptionInInitializerError(ex);
        }
    }

    long q00, q01, q02, q03, q04, q05, q06, q07;
    long q10, q11, q12, q13, q14, q15, q16, q17;

    final Thread owner;

    QueuedRwLockNode(final Thread owner)
    {
        this.owner = owner;
    }

    /**
     * Resets the node before it is queued. Plain stores: the volatile swap of the queue tail that
     * follows publishes them to the predecessor and successor, which find the node only through it.
     */
    void prepare()
    {
        NEXT.set(this, null);
        WAITING.set(this, true);
    }

    /** Release store: the successor's node is fully reset before we can read it through {@code next}. */
    void link(final QueuedRwLockNode successor)
    {
        NEXT.setRelease(this, successor);
    }

    /** Acquire: pairs with {@link #link} so the node read is the one the successor prepared. */
    QueuedRwLockNode next()
    {
        return (QueuedRwLockNode)NEXT.getAcquire(this);
    }

    /**
     * Release store: everything the previous queue head did, including taking the rwlock, happens
     * before the new head's acquire read in {@link #isWaiting()}.
     */
    void handOver()
    {
        WAITING.setRelease(this, false);
    }

    /** Acquire: pairs with {@link #handOver()}. */
    boolean isWaiting()
    {
        return (boolean)WAITING.getAcquire(this);
    }
}
