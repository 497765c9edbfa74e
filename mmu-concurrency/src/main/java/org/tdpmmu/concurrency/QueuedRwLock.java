package org.tdpmmu.concurrency;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.locks.LockSupport;

abstract class QueuedRwLockLhsPad
{
    /**
     * Fills the 4-byte hole after a compressed object header. Left empty, the JVM (15 and later)
     * puts a subclass's small field there, in front of the padding (the lock word, while it was an
     * int, landed at offset 12, on a cache line with the object allocated before this one).
     */
    int headerGap;
    long p00, p01, p02, p03, p04, p05, p06, p07;
    long p10, p11, p12, p13, p14, p15, p16, p17;
}

abstract class QueuedRwLockCnts extends QueuedRwLockLhsPad
{
    /** The lock word: reader count above {@link QueuedRwLock#READER_SHIFT}, writer-waiting bit, writer-locked byte. */
    volatile long cnts;
}

abstract class QueuedRwLockMidPad extends QueuedRwLockCnts
{
    long m00, m01, m02, m03, m04, m05, m06, m07;
    long m10, m11, m12, m13, m14, m15, m16, m17;
}

abstract class QueuedRwLockQueue extends QueuedRwLockMidPad
{
    /** Last node of the wait queue, or null when nobody queues (kernel: the wait_lock's tail). */
    volatile QueuedRwLockNode tail;
    /** The queue head's thread while it may park waiting for {@code cnts}, else null. Head only writes it. */
    volatile Thread headWaiter;
}

/**
 * A queued reader-writer lock after the kernel's qrwlock (kernel/locking/qrwlock.c,
 * include/asm-generic/qrwlock.h): the lock itself, with no per-thread bookkeeping beyond the
 * {@link QueuedRwLockNode} each caller brings. {@link MmuLock} wraps it with the hold checks and
 * counters.
 *
 * <h2>The lock word</h2>
 * One word, alone on its cache lines: the low byte is {@link #LOCKED} while a writer holds the lock,
 * bit 8 is {@link #WAITING} while the writer at the head of the queue waits for it, and the bits from
 * {@link #READER_SHIFT} up count readers (holders, plus readers about to back out). The kernel's word
 * is 32 bits; this one is a long only because the JVM may lay a 4-byte field out beside another
 * small one, and nothing may share this line. The uncontended paths are one atomic each: a reader
 * adds {@link #READER_BIAS} and keeps it if neither writer bit was set; a writer swaps 0 for
 * {@link #LOCKED}. Readers never write any other shared word, so readers of disjoint ranges share
 * nothing but this line; it is still one line that every reader writes twice per section, which is
 * what a reader pays on a second core (in the kernel too).
 *
 * <h2>The wait queue</h2>
 * Whoever fails the fast path queues (kernel: arch_spin_lock(&amp;lock->wait_lock), a qspinlock, which
 * is an MCS queue). Here it is an MCS queue of the callers' nodes: a thread swaps itself into
 * {@code tail}, links itself behind its predecessor and waits for the predecessor to hand the queue
 * over. Only the head of the queue competes for the lock word, so waiters get the lock in FIFO
 * order, except that consecutive readers proceed together: a reader head leaves the queue as soon as
 * it holds the lock, so the reader behind it becomes head and gets in at once. A writer head sets
 * {@link #WAITING}, which turns away every new reader's fast path until the writer has been and gone;
 * this is what makes a yield in {@link MmuLock#condReschedRead()} useful.
 *
 * <h2>Waiting on a machine with fewer cores than threads</h2>
 * Every wait spins briefly, yields, then parks (the first stages of {@link Waits#backoff}); a JVM thread
 * that spins while the holder is descheduled would burn the core the holder needs. Parks are untimed,
 * so every wait has a wake-up:
 * <ul>
 *   <li>in the queue, a thread waits for its own {@code waiting} flag; the predecessor clears it and
 *       then unparks the thread, so either the waiter sees the flag clear or the permit is there when
 *       it parks;</li>
 *   <li>the queue head waits for the lock word. It publishes itself in {@code headWaiter} (volatile)
 *       and then reads the word (volatile). Every release of the lock is a volatile read-modify-write
 *       of the word followed, when its result says a head may be waiting, by a volatile read of
 *       {@code headWaiter} and an unpark. All four accesses are in the synchronization order, so
 *       either the head's read sees the release or the releaser's read sees the head (the Dekker
 *       argument). The head's first access to the word after the publish is itself a volatile
 *       read-modify-write (a reader head's bias, a writer head's {@link #WAITING}), which orders the
 *       pair by the word alone: if the head's comes first, the releaser's reads it and the publish
 *       happens-before the releaser's read of {@code headWaiter}; if the releaser's comes first, the
 *       head's sees the release. So the publish's volatile mode is not what carries the hand-shake
 *       (a release store there would be equivalent, on x86 and in the JMM); the read-modify-writes
 *       are. A release says a head may wait when it clears {@link #LOCKED} with anything left in
 *       the word (a reader head has added its bias, or a writer head its bit), or when a reader leaves
 *       the word at exactly {@link #WAITING} (the last reader gone while a writer waits).</li>
 * </ul>
 * A stale {@code headWaiter} or hand-over unpark only gives a later park of that thread a spurious
 * return; every park is in a loop that rechecks its condition. Interrupts do not end a wait (the
 * kernel's lock is not interruptible): the flag is cleared while parked, so park does not spin on
 * it, and set again when the slow path ends.
 */
final class QueuedRwLock extends QueuedRwLockQueue
{
    /** Writer-locked byte (kernel: _QW_LOCKED); a byte so that the kernel can release it with a byte store. */
    static final long LOCKED = 0xffL;
    /** A writer waits at the head of the queue (kernel: _QW_WAITING). */
    static final long WAITING = 0x100L;
    /** Either writer state (kernel: _QW_WMASK). */
    static final long WRITER_MASK = LOCKED | WAITING;
    /** Kernel: _QR_SHIFT. */
    static final int READER_SHIFT = 9;
    /** One reader (kernel: _QR_BIAS). */
    static final long READER_BIAS = 1L << READER_SHIFT;

    private static final VarHandle CNTS;
    private static final VarHandle TAIL;
    private static final VarHandle HEAD_WAITER;

    static
    {
        try
        {
            final MethodHandles.Lookup lookup = MethodHandles.lookup();
            CNTS = lookup.findVarHandle(QueuedRwLockCnts.class, "cnts", long.class);
            TAIL = lookup.findVarHandle(QueuedRwLockQueue.class, "tail", QueuedRwLockNode.class);
            HEAD_WAITER = lookup.findVarHandle(QueuedRwLockQueue.class, "headWaiter", Thread.class);
        }
        catch (final ReflectiveOperationException ex)
        {
            throw new ExceptionInInitializerError(ex);
        }
    }

    long q00, q01, q02, q03, q04, q05, q06, q07;
    long q10, q11, q12, q13, q14, q15, q16, q17;

    /**
     * Read fast path (kernel: queued_read_lock). Acquire on the add: the critical section cannot
     * start before the lock is seen free of writers, and the last writer's release is visible. On
     * failure the bias is taken back at once (a reader must not hold it while it queues, or a writer
     * head would wait for it forever).
     *
     * @return true if the caller now holds the lock for read; false if it must call {@link #readLockSlow}.
     */
    boolean tryReadLock()
    {
        final long before = (long)CNTS.getAndAddAcquire(this, READER_BIAS);
        if ((before & WRITER_MASK) == 0)
        {
            return true;
        }
        releaseReaderBias();
        return false;
    }

    /**
     * Read slow path (kernel: queued_read_lock_slowpath): queue, add the bias as head, wait for the
     * writer to leave, leave the queue. A writer cannot be waiting here: only the head sets
     * {@link #WAITING}, and this thread is the head. The bias is added with a volatile add
     * (full ordering, the same locked instruction on x86) because it is the head's half of the
     * wake-up handshake with a releasing writer; the volatile reads of the wait give the acquire.
     */
    void readLockSlow(final QueuedRwLockNode self)
    {
        enqueue(self);
        HEAD_WAITER.setVolatile(this, self.owner);
        final long before = (long)CNTS.getAndAdd(this, READER_BIAS);
        if ((before & LOCKED) != 0)
        {
            awaitCnts(self, LOCKED, 0L);
        }
        leaveQueue(self);
    }

    /**
     * Read unlock (kernel: queued_read_unlock). Release, so the critical section's accesses happen
     * before the next writer's acquire; a volatile add rather than a release-only one because it is
     * also the releaser's half of the wake-up handshake (see the class comment).
     */
    void readUnlock()
    {
        releaseReaderBias();
    }

    /**
     * Write fast path (kernel: queued_write_lock). Acquire on the exchange, as for the read fast path.
     *
     * @return true if the caller now holds the lock for write; false if it must call {@link #writeLockSlow}.
     */
    boolean tryWriteLock()
    {
        return (long)CNTS.compareAndExchangeAcquire(this, 0L, LOCKED) == 0L;
    }

    /**
     * Write slow path (kernel: queued_write_lock_slowpath): queue; as head, take the lock if it is
     * free, else set {@link #WAITING} so that no new reader gets in, and wait until the word is
     * exactly {@link #WAITING} (no reader, no writer) to swap it for {@link #LOCKED}. Volatile
     * read-modify-writes throughout: the swap needs acquire, and the bit is the head's half of the
     * wake-up handshake.
     */
    void writeLockSlow(final QueuedRwLockNode self)
    {
        enqueue(self);
        if ((long)CNTS.getVolatile(this) != 0L || !CNTS.compareAndSet(this, 0L, LOCKED))
        {
            HEAD_WAITER.setVolatile(this, self.owner);
            setWaiting();
            do
            {
                awaitCnts(self, -1L, WAITING);
            }
            while (!CNTS.compareAndSet(this, WAITING, LOCKED));
        }
        leaveQueue(self);
    }

    /**
     * The head writer's atomic OR of {@link #WAITING}: its own method so that a model checker can
     * take it as one step (Lincheck 3.7 does not see a VarHandle bitwise OR as a shared access).
     */
    void setWaiting()
    {
        CNTS.getAndBitwiseOr(this, WAITING);
    }

    /**
     * Write unlock (kernel: queued_write_unlock, a release store of the locked byte). Here the word
     * is shared with readers' biases, so the byte is cleared with an atomic subtract: release for
     * the critical section, volatile for the wake-up handshake.
     */
    void writeUnlock()
    {
        final long after = (long)CNTS.getAndAdd(this, -LOCKED) - LOCKED;
        if (after != 0)
        {
            wakeHead();
        }
    }

    /**
     * True while any thread is in the wait queue (kernel: queued_rwlock_is_contended, which asks
     * whether wait_lock is held). Opaque: a hint polled by long walks, as the kernel's plain read
     * is; a later read of the same field never sees an older value.
     */
    boolean isContended()
    {
        return TAIL.getOpaque(this) != null;
    }

    /**
     * As {@link #isContended()}, volatile: for the decision of a thread that has just released the
     * lock whether to re-take it through the queue.
     */
    boolean hasQueuedThreads()
    {
        return TAIL.getVolatile(this) != null;
    }

    /** The lock word, for tests and assertions. */
    long cnts()
    {
        return (long)CNTS.getVolatile(this);
    }

    private void releaseReaderBias()
    {
        final long after = (long)CNTS.getAndAdd(this, -READER_BIAS) - READER_BIAS;
        if (after == WAITING)
        {
            wakeHead();
        }
    }

    private void wakeHead()
    {
        final Thread head = (Thread)HEAD_WAITER.getVolatile(this);
        if (head != null)
        {
            LockSupport.unpark(head);
        }
    }

    /**
     * Waits, as queue head, until {@code (cnts & mask) == expected}. The reads are volatile: the
     * head's half of the wake-up handshake, and the acquire that orders the critical section after
     * the releaser's accesses.
     */
    private void awaitCnts(final QueuedRwLockNode self, final long mask, final long expected)
    {
        for (int round = 0; ((long)CNTS.getVolatile(this) & mask) != expected; round++)
        {
            pause(self, round);
        }
    }

    /**
     * MCS queueing (kernel: arch_spin_lock on wait_lock). The swap of {@code tail} is volatile: it
     * publishes the prepared node to the successor that swaps after us, and orders us after the
     * predecessor in the queue.
     */
    private void enqueue(final QueuedRwLockNode self)
    {
        self.prepare();
        final QueuedRwLockNode predecessor = (QueuedRwLockNode)TAIL.getAndSet(this, self);
        if (predecessor != null)
        {
            predecessor.link(self);
            for (int round = 0; self.isWaiting(); round++)
            {
                pause(self, round);
            }
        }
    }

    /**
     * Clears {@code headWaiter} and hands the queue to the successor (kernel: arch_spin_unlock on
     * wait_lock). With no successor linked, a CAS of {@code tail} back to null ends the queue; if that
     * fails a successor has swapped itself in and is about to link, so wait for the link (a few
     * instructions away; Waits' bounded parks cover a successor descheduled in between).
     */
    private void leaveQueue(final QueuedRwLockNode self)
    {
        HEAD_WAITER.setRelease(this, null);
        QueuedRwLockNode successor = self.next();
        if (successor == null)
        {
            if (TAIL.compareAndSet(this, self, null))
            {
                restoreInterrupt(self);
                return;
            }
            for (int round = 0; (successor = self.next()) == null; round++)
            {
                Waits.backoff(round);
            }
        }
        successor.handOver();
        LockSupport.unpark(successor.owner);
        restoreInterrupt(self);
    }

    /** Spin, then yield (Waits' first stages), then park until unparked; parking swallows interrupts. */
    private void pause(final QueuedRwLockNode self, final int round)
    {
        if (!Waits.isParking(round))
        {
            Waits.backoff(round);
            return;
        }
        LockSupport.park(this);
        if (Thread.interrupted())
        {
            self.interrupted = true;
        }
    }

    private static void restoreInterrupt(final QueuedRwLockNode self)
    {
        if (self.interrupted)
        {
            self.interrupted = false;
            self.owner.interrupt();
        }
    }
}
