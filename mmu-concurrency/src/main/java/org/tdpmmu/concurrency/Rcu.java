package org.tdpmmu.concurrency;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Objects;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;

import org.jctools.queues.MpscUnboundedXaddArrayQueue;

/**
 * Simulated RCU (kernel: kernel/rcu; rcu_read_lock / rcu_read_unlock, call_rcu, synchronize_rcu,
 * rcu_barrier).
 *
 * <h2>Algorithm</h2>
 * A global epoch counter starts at 1. A reader's record holds 0 outside a read-side section, else the
 * epoch it read at its outermost entry. Every updater event takes a fresh epoch with an atomic
 * increment: {@link #callRcu} tags its callback with the value before the increment, so a reader that
 * enters after {@code callRcu} returns reads a larger epoch and never holds that callback up. A
 * callback tagged {@code T} may run once a scan that began after its tag was taken (the scan reads
 * the epoch first and finds it above {@code T}) finds no record with {@code 0 < state <= T}.
 *
 * <h2>Why a scan may trust what it sees</h2>
 * The updater unlinks an object, then calls {@code callRcu} (an atomic increment of the epoch, then a
 * release offer to the queue). The scanner first reads the epoch (volatile): for every tag below the
 * value read, the increment that took it, and so the unlink before it, happens-before the scan. Only
 * those callbacks are judged by the scan; one queued while the consumer is running callbacks waits
 * for the next scan. The scanner then issues a full fence and reads every reader's state; a
 * reader publishes its state and then issues a full fence before its first load (see
 * {@link RcuReader#enter}). For each reader one of four cases holds:
 * <ul>
 *   <li>the scan saw {@code 0 < state <= T}: the callback waits;</li>
 *   <li>the scan saw {@code state > T}: the reader's volatile read of the epoch came after the
 *       callback's increment in the synchronization order, so it synchronizes-with it and the
 *       reader's loads see the unlink;</li>
 *   <li>the scan saw 0: either the reader has left (its release store of 0 orders its loads before
 *       the callback), or its entry store is later than the scan, and then the two seq-cst fences
 *       force its loads to see the unlink;</li>
 *   <li>the record was not in the array the scan read: it was registered later, so the reader's
 *       epoch read comes after the scan's epoch read in the synchronization order, and the second
 *       case applies.</li>
 * </ul>
 * Nesting only counts depth: the state is written at the outermost entry and cleared at the outermost
 * exit, so a long nested section keeps its first epoch and holds up everything queued after it began.
 *
 * <h2>Modes</h2>
 * {@link #Rcu()} has no thread: callbacks run when someone calls {@link #tryReclaim()},
 * {@link #barrier()} or {@link #close()}. It is cheap enough to build by the thousand, as jcstress does.
 * {@link #withReclaimer(String)} adds one daemon thread that polls for elapsed grace periods.
 * Callbacks are consumed by one thread at a time (a consumer flag taken with a CAS); they run in queue
 * order, and a callback whose grace period has not elapsed holds up the ones behind it.
 *
 * <p>The read side ({@link #readLock()} / {@link #readUnlock()}) takes no lock and allocates nothing
 * after a thread's first entry: that first entry registers the thread's record in a copy-on-write
 * array.
 */
public final class Rcu implements AutoCloseable
{
    /** Slots per chunk of the callback queue: small, so an idle instance stays small. */
    private static final int QUEUE_CHUNK_SIZE = 32;
    /** Reclaimer poll interval while callbacks wait for readers. */
    private static final long RECLAIM_POLL_NANOS = 100_000;
    /** Reclaimer poll interval while the queue is empty (callRcu does not wake it: that keeps callRcu cheap). */
    private static final long IDLE_POLL_NANOS = 200_000;
    private static final RcuReader[] NO_READERS = new RcuReader[0];

    private static final VarHandle CONSUMER;
    private static final VarHandle CLOSED;
    private static final VarHandle RUN;
    private static final VarHandle LONGEST_WAIT;
    private static final VarHandle FAILURE;

    static
    {
        try
        {
            final MethodHandles.Lookup lookup = MethodHandles.lookup();
            CONSUMER = lookup.findVarHandle(Rcu.class, "consumer", Thread.class);
            CLOSED = lookup.findVarHandle(Rcu.class, "closed", boolean.class);
            RUN = lookup.findVarHandle(Rcu.class, "callbacksRun", long.class);
            LONGEST_WAIT = lookup.findVarHandle(Rcu.class, "longestGraceWaitNanos", long.class);
            FAILURE = lookup.findVarHandle(Rcu.class, "reclaimerFailure", Throwable.class);
        }
        catch (final ReflectiveOperationException ex)
        {
            throw new ExceptionInInitializerError(ex);
        }
    }

    /** A queued callback, or a barrier mark ({@code fn == null}) that completes when it reaches the head. */
    private static final class Callback
    {
        final Runnable fn;
        final long tag;
        final long queuedNanos;
        final Thread waiter;
        volatile boolean done;

        Callback(final Runnable fn, final long tag, final long queuedNanos, final Thread waiter)
        {
            this.fn = fn;
            this.tag = tag;
            this.queuedNanos = queuedNanos;
            this.waiter = waiter;
        }
    }

    private final PaddedLong epoch = new PaddedLong(1L);
    private final ThreadLocal<RcuReader> localReader = new ThreadLocal<>();
    /**
     * What a reader record names its instance by. Not the instance itself: the record is the
     * value of a thread-local entry of every thread that read here, and a value that reached this
     * instance would reach the entry's weak key through {@link #localReader}, so a dropped instance
     * (a VM closed while its reader threads live on: jcstress's actors, a sweep's main thread) and
     * its queue would stay reachable from each such thread for good, ~3 KiB per VM with Srcu's.
     */
    private final Object domain = new Object();
    private final Object registryLock = new Object();
    private volatile RcuReader[] readers = NO_READERS;
    private final MpscUnboundedXaddArrayQueue<Callback> queue = new MpscUnboundedXaddArrayQueue<>(QUEUE_CHUNK_SIZE, 0);
    private final LongAdder callbacksQueued = new LongAdder();
    private final LongAdder gracePeriods = new LongAdder();
    private final Thread reclaimer;
    private final String name;

    /** The thread consuming callbacks now, or null. Taken by CAS, released with a release store. */
    private volatile Thread consumer;
    private volatile boolean closed;
    /** Written only by the consumer (exclusive), read by anyone. */
    private volatile long callbacksRun;
    private volatile long longestGraceWaitNanos;
    private volatile Throwable reclaimerFailure;

    /** Manual-reclaim RCU: no thread; callbacks run in {@link #tryReclaim()}, {@link #barrier()}, {@link #close()}. */
    public Rcu()
    {
        this.name = "rcu";
        this.reclaimer = null;
    }

    private Rcu(final String name)
    {
        this.name = name;
        final Thread thread = new Thread(this::reclaimerLoop, name);
        thread.setDaemon(true);
        this.reclaimer = thread;
    }

    /**
     * RCU with one daemon reclaimer thread (kernel: the rcuc/rcuo callback kthreads) that runs callbacks
     * whose grace period has elapsed. {@link #close()} stops it.
     *
     * @param name the reclaimer thread's name.
     * @return a new instance whose reclaimer is running.
     */
    public static Rcu withReclaimer(final String name)
    {
        if (name == null || name.isEmpty())
        {
            throw new IllegalArgumentException("reclaimer thread name must be non-empty, name=" + name);
        }
        final Rcu rcu = new Rcu(name);
        rcu.reclaimer.start();
        return rcu;
    }

    /**
     * Enters a read-side section (kernel: rcu_read_lock). Nests. Lock free; allocates only on this
     * thread's first entry into this instance.
     */
    public void readLock()
    {
        RcuReader reader = localReader.get();
        if (reader == null)
        {
            reader = register();
        }
        enter(reader);
    }

    /**
     * Leaves a read-side section (kernel: rcu_read_unlock).
     *
     * @throws IllegalStateException if the calling thread is not inside a section.
     */
    public void readUnlock()
    {
        leave(localReader.get());
    }

    /**
     * The calling thread's read-side record for this instance, registered on first use. For a
     * thread-confined caller that enters sections at a high rate (a vCPU's hardware walk, twice a
     * fault) and keeps the record, so that {@link #readLock(RcuReader)} skips the thread-local
     * lookup. The record is this thread's only: hand it to no other thread.
     */
    public RcuReader reader()
    {
        final RcuReader reader = localReader.get();
        return reader != null ? reader : register();
    }

    /**
     * {@link #readLock()} with the caller's own record from {@link #reader()}: the same section,
     * the same ordering.
     */
    public void readLock(final RcuReader reader)
    {
        assert reader.owner == Thread.currentThread() && reader.domain == domain
            : "rcu_read_lock with another thread's or another Rcu's reader record";
        enter(reader);
    }

    /** {@link #readUnlock()} with the caller's own record from {@link #reader()}. */
    public void readUnlock(final RcuReader reader)
    {
        assert reader.owner == Thread.currentThread() && reader.domain == domain
            : "rcu_read_unlock with another thread's or another Rcu's reader record";
        leave(reader);
    }

    private void enter(final RcuReader reader)
    {
        final int depth = reader.nesting;
        if (depth == 0)
        {
            // Volatile read: it synchronizes-with every epoch increment before it, so this section
            // sees every unlink made before a callRcu whose tag is below the epoch read here.
            reader.enter(epoch.getVolatile());
        }
        reader.nesting = depth + 1;
    }

    private void leave(final RcuReader reader)
    {
        if (reader == null || reader.nesting == 0)
        {
            throw new IllegalStateException(
                "rcu_read_unlock without rcu_read_lock on thread " + Thread.currentThread().getName());
        }
        final int depth = reader.nesting - 1;
        reader.nesting = depth;
        if (depth == 0)
        {
            reader.exit();
        }
    }

    /** True if the calling thread is inside a read-side section (kernel: rcu_read_lock_held), for asserts. */
    public boolean inReadSection()
    {
        final RcuReader reader = localReader.get();
        return reader != null && reader.nesting > 0;
    }

    /**
     * Queues {@code callback} to run after every read-side section running now has ended (kernel:
     * call_rcu). Never runs it on the caller. The caller must have unlinked the object first.
     *
     * <p>Cannot fail by design, so it is no fault-injection site: the queue is unbounded and never
     * refuses an offer, as the kernel's call_rcu cannot fail (its rcu_head lives in the object being
     * freed, so queuing needs no memory). The only allocation is the queue node on the Java heap;
     * running out of that is an {@link OutOfMemoryError}, the JVM's failure, not the model's. Callers
     * that unlink a table (handle_removed_pt, teardown) therefore have no error path to get wrong
     * between freezing an entry and queuing its table.
     *
     * @param callback what to run after the grace period, typically the free of an unlinked object.
     */
    public void callRcu(final Runnable callback)
    {
        Objects.requireNonNull(callback, "callRcu callback must not be null");
        // Counted before it is visible to a consumer, so pendingCallbacks() never goes negative.
        callbacksQueued.increment();
        // Atomic increment (a seq-cst write after the caller's unlink): readers that read the new
        // value see the unlink; readers still showing an epoch <= tag hold this callback.
        final long tag = epoch.getAndIncrement();
        queue.offer(new Callback(callback, tag, System.nanoTime(), null));
    }

    /**
     * Runs, on the calling thread, every callback at the head of the queue whose grace period has
     * elapsed. Never waits: returns 0 at once if another thread is consuming callbacks or if the
     * oldest callback is still held by a reader.
     *
     * @return how many callbacks ran.
     */
    public int tryReclaim()
    {
        if (queue.isEmpty())
        {
            return 0;
        }
        final Thread self = Thread.currentThread();
        if (!CONSUMER.compareAndSet(this, null, self))
        {
            return 0;
        }
        try
        {
            return reclaimElapsed();
        }
        finally
        {
            CONSUMER.setRelease(this, (Thread)null);
        }
    }

    /**
     * Waits for a full grace period: returns once every read-side section that had begun when it was
     * called has ended (kernel: synchronize_rcu).
     *
     * @throws IllegalStateException if called inside a read-side section or from a callback (it would
     *                               wait for itself).
     */
    public void synchronize()
    {
        checkMayBlock("synchronize_rcu");
        final long start = System.nanoTime();
        final long target = epoch.getAndIncrement();
        int round = 0;
        while (gracePeriodBound() <= target)
        {
            if (Waits.isParking(round))
            {
                checkNoDeadReader(target);
            }
            Waits.backoff(round++);
        }
        gracePeriods.increment();
        recordGraceWait(System.nanoTime() - start);
    }

    /**
     * Waits until every callback queued before this call has run (kernel: rcu_barrier). With a
     * reclaimer it wakes the reclaimer and waits for it; in manual mode (or after {@link #close()}) it
     * runs them on the calling thread once their grace period has elapsed.
     *
     * @throws IllegalStateException if called inside a read-side section or from a callback, or if a
     *                               callback failed on the reclaimer thread.
     */
    public void barrier()
    {
        checkMayBlock("rcu_barrier");
        // The mark goes behind every callback whose offer completed before this call (the queue is
        // FIFO per linearization), and callbacks run in queue order, so the mark completing means
        // they all ran.
        final Callback mark = new Callback(null, 0L, 0L, Thread.currentThread());
        queue.offer(mark);
        int round = 0;
        while (!mark.done)
        {
            final Thread thread = reclaimer;
            if (thread != null && !closed && thread.isAlive())
            {
                LockSupport.unpark(thread);
                // The reclaimer unparks us when it completes the mark; the bound covers a lost race.
                LockSupport.parkNanos(this, RECLAIM_POLL_NANOS);
                checkNoDeadReader(Long.MAX_VALUE);
            }
            else if (tryReclaim() > 0 || mark.done)
            {
                round = 0;
            }
            else
            {
                if (Waits.isParking(round))
                {
                    checkNoDeadReader(Long.MAX_VALUE);
                }
                Waits.backoff(round++);
            }
        }
        rethrowReclaimerFailure();
    }

    /**
     * Stops the reclaimer thread if there is one, then runs every remaining callback (each after its
     * grace period) on the calling thread, including callbacks queued by callbacks. Idempotent.
     * After close, the instance keeps working in manual mode.
     *
     * @throws IllegalStateException if a callback failed on the reclaimer thread, or if called inside a
     *                               read-side section while callbacks are pending.
     */
    @Override
    public void close()
    {
        if (!CLOSED.compareAndSet(this, false, true))
        {
            return;
        }
        final Thread thread = reclaimer;
        if (thread != null && thread != Thread.currentThread())
        {
            LockSupport.unpark(thread);
            joinUninterruptibly(thread);
        }
        while (pendingCallbacks() > 0)
        {
            barrier();
        }
        rethrowReclaimerFailure();
    }

    /** Callbacks queued so far. */
    public long callbacksQueued()
    {
        return callbacksQueued.sum();
    }

    /** Callbacks that have run (a callback that threw counts as run). */
    public long callbacksRun()
    {
        return callbacksRun;
    }

    /** Grace periods completed: reclaim passes that retired at least one callback, plus synchronize calls. */
    public long gracePeriods()
    {
        return gracePeriods.sum();
    }

    /**
     * Longest wait seen, in nanoseconds: from callRcu to the callback starting, or the time one
     * synchronize call blocked. In manual mode it includes the time nobody called tryReclaim.
     */
    public long longestGraceWaitNanos()
    {
        return longestGraceWaitNanos;
    }

    /** Callbacks queued and not yet run. */
    public long pendingCallbacks()
    {
        // Read run first: run <= queued at every instant and queued only grows, so this is >= 0.
        final long run = callbacksRun;
        return callbacksQueued.sum() - run;
    }

    private RcuReader register()
    {
        final Thread self = Thread.currentThread();
        final RcuReader reader = new RcuReader(self, domain);
        synchronized (registryLock)
        {
            final RcuReader[] current = readers;
            // Drop records of threads that have exited outside a section; keep one that exited
            // inside a section so that waits can report it instead of silently dropping a reader.
            // One pass, one decision per record: a thread that dies between two passes would
            // leave a null slot in the array every scan walks.
            final RcuReader[] kept = new RcuReader[current.length + 1];
            int i = 0;
            for (final RcuReader r : current)
            {
                if (r.owner.isAlive() || r.stateOpaque() != 0)
                {
                    kept[i++] = r;
                }
            }
            kept[i++] = reader;
            readers = i == kept.length ? kept : java.util.Arrays.copyOf(kept, i);
        }
        localReader.set(reader);
        return reader;
    }

    /**
     * The bound below which a callback's grace period has elapsed: the smallest entry epoch among
     * readers inside a section, capped by the epoch read before the scan.
     *
     * <p>The cap matters: the scan only vouches for callbacks whose unlink happened before it. A
     * callback queued after the scan (the consumer keeps polling) may unlink an object that a reader
     * which entered after the scan still holds, while the scan saw no reader at all. A tag below the
     * epoch read here was taken by an increment that this volatile read synchronizes-with, so its
     * unlink happens-before the scan. The fence before the state loads is the scanner's half of the
     * Dekker pairing with {@link RcuReader#enter}; the acquire loads pair with {@link RcuReader#exit}.
     */
    private long gracePeriodBound()
    {
        final long bound = epoch.getVolatile();
        VarHandle.fullFence();
        final RcuReader[] snapshot = readers;
        long oldest = bound;
        for (final RcuReader reader : snapshot)
        {
            final long state = reader.stateAcquire();
            if (state != 0 && state < oldest)
            {
                oldest = state;
            }
        }
        return oldest;
    }

    /** Consumer only: runs the head of the queue while its grace period has elapsed. */
    private int reclaimElapsed()
    {
        Callback head = queue.relaxedPeek();
        if (head == null)
        {
            return 0;
        }
        final long bound = gracePeriodBound();
        int ran = 0;
        try
        {
            while (head != null && (head.fn == null || head.tag < bound))
            {
                queue.relaxedPoll();
                if (head.fn == null)
                {
                    head.done = true;
                    LockSupport.unpark(head.waiter);
                }
                else
                {
                    ran++;
                    // Single writer (the consumer flag is held): a release store is enough.
                    RUN.setRelease(this, callbacksRun + 1);
                    recordGraceWait(System.nanoTime() - head.queuedNanos);
                    head.fn.run();
                }
                head = queue.relaxedPeek();
            }
        }
        finally
        {
            if (ran > 0)
            {
                gracePeriods.increment();
            }
        }
        return ran;
    }

    private void reclaimerLoop()
    {
        while (!closed)
        {
            int ran;
            try
            {
                ran = tryReclaim();
            }
            catch (final Throwable ex)
            {
                FAILURE.compareAndSet(this, null, ex);
                ran = 1;
            }
            if (ran == 0)
            {
                LockSupport.parkNanos(this, queue.isEmpty() ? IDLE_POLL_NANOS : RECLAIM_POLL_NANOS);
            }
        }
    }

    private void checkMayBlock(final String operation)
    {
        if (inReadSection())
        {
            throw new IllegalStateException(operation + " inside an RCU read-side section on thread " +
                Thread.currentThread().getName() + " would wait for itself");
        }
        if (consumer == Thread.currentThread())
        {
            throw new IllegalStateException(operation + " from an RCU callback on thread " +
                Thread.currentThread().getName() + " would wait for itself");
        }
    }

    /** Slow path of a long wait: a reader whose thread died inside a section would block forever. */
    private void checkNoDeadReader(final long target)
    {
        for (final RcuReader reader : readers)
        {
            final long state = reader.stateAcquire();
            if (state != 0 && state <= target && !reader.owner.isAlive())
            {
                throw new IllegalStateException("thread " + reader.owner.getName() +
                    " exited inside an RCU read-side section (entered at epoch " + state + "); " +
                    "grace periods can no longer complete");
            }
        }
    }

    private void recordGraceWait(final long nanos)
    {
        long current = longestGraceWaitNanos;
        while (nanos > current && !LONGEST_WAIT.compareAndSet(this, current, nanos))
        {
            current = longestGraceWaitNanos;
        }
    }

    private void rethrowReclaimerFailure()
    {
        final Throwable failure = (Throwable)FAILURE.getAndSet(this, null);
        if (failure != null)
        {
            throw new IllegalStateException("an RCU callback failed on reclaimer thread " + name, failure);
        }
    }

    private static void joinUninterruptibly(final Thread thread)
    {
        boolean interrupted = false;
        while (true)
        {
            try
            {
                thread.join();
                break;
            }
            catch (final InterruptedException ex)
            {
                interrupted = true;
            }
        }
        if (interrupted)
        {
            Thread.currentThread().interrupt();
        }
    }
}
