package org.tdpmmu.scenarios.sim;

import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.LockSupport;

import org.tdpmmu.scenarios.engine.Timeline;

/**
 * Samples the cumulative guest accesses and faults of all vCPUs every {@code interval} on a thread
 * of its own, into arrays allocated before the run, for the report's timeline through the disable
 * step (the refault storm after a zap, which in-place promotion removes).
 *
 * <p>Each vCPU publishes its own two running totals into a slot of its own ({@link #publish}: two
 * release stores, no allocation, no shared cache line, nothing the vCPU waits for); the sampler
 * reads every slot with acquire loads and stores the sums. A vCPU's slot is written only by its
 * thread, so the totals a sample sees never go backwards. The sampler does not stop the vCPUs: a
 * sample is a sum of per-vCPU values read a few ns apart, not one instant — the error is at most
 * the accesses of one read, far below one interval's count.
 *
 * <p>Memory is bounded and known before the run ({@link #heapBytes}): when the arrays are full the
 * sampler keeps every other sample and doubles its interval, so a long run is covered whole at a
 * coarser step. With the defaults (1 ms, 8192 samples) a run of up to 8 s keeps 1 ms resolution.
 *
 * <p>Threads: {@link #publish} on vCPU threads; {@link #stepStarted}, {@link #stepEnded},
 * {@link #start} and {@link #finish} on the thread that drives the run; the sample arrays are
 * written only by the sampler thread until {@link #finish} joins it (which orders them before the
 * driver reads them).
 */
final class TimelineSampler
{
    /** Default sampling interval. */
    static final long DEFAULT_INTERVAL_NANOS = 1_000_000L;
    /** Default number of samples kept. */
    static final int DEFAULT_CAPACITY = 8192;
    /** Longs per vCPU slot: 128 bytes, so two vCPUs never share a line (nor an adjacent-line prefetch pair). */
    private static final int SLOT = 16;
    private static final int ACCESSES = 0;
    private static final int FAULTS = 1;

    private final int vcpus;
    private final AtomicLongArray published;
    private final long[] time;
    private final long[] accesses;
    private final long[] faults;
    private final long[] stepStart;
    private final long[] stepEnd;
    private final Thread thread;
    private long origin;
    private long interval;
    private int size;
    private volatile boolean stop;

    TimelineSampler(final int vcpus, final int steps)
    {
        this(vcpus, steps, DEFAULT_INTERVAL_NANOS, DEFAULT_CAPACITY);
    }

    TimelineSampler(final int vcpus, final int steps, final long intervalNanos, final int capacity)
    {
        if (vcpus < 1 || steps < 0 || intervalNanos <= 0 || capacity < 4 || (capacity & 1) != 0)
        {
            throw new IllegalArgumentException("vcpus=" + vcpus + " steps=" + steps + " intervalNanos=" +
                intervalNanos + " capacity=" + capacity + " (want vcpus >= 1, interval > 0, an even capacity >= 4)");
        }
        this.vcpus = vcpus;
        this.published = new AtomicLongArray(vcpus * SLOT);
        this.time = new long[capacity];
        this.accesses = new long[capacity];
        this.faults = new long[capacity];
        this.stepStart = new long[steps];
        this.stepEnd = new long[steps];
        this.interval = intervalNanos;
        this.thread = new Thread(this::loop, "timeline-sampler");
        this.thread.setDaemon(true);
    }

    /** Heap bytes a sampler of {@code vcpus}, {@code steps} and {@code capacity} holds (for estimates). */
    static long heapBytes(final int vcpus, final int steps, final int capacity)
    {
        return 8L * (3L * capacity + (long)vcpus * SLOT + 2L * steps) + 512;
    }

    /**
     * vCPU {@code vcpu}'s running totals; called on that vCPU's thread only. Release stores: the
     * sampler's acquire loads see a value this thread wrote, never a torn or reordered one.
     */
    void publish(final int vcpu, final long accessCount, final long faultCount)
    {
        final AtomicLongArray p = published;
        final int base = vcpu * SLOT;
        p.setRelease(base + ACCESSES, accessCount);
        p.setRelease(base + FAULTS, faultCount);
    }

    /** Starts the clock (time 0, sample 0) and the sampler thread. */
    void start()
    {
        origin = System.nanoTime();
        sample(0);
        thread.start();
    }

    /** Step {@code index} started at {@code nanoTime} ({@link System#nanoTime()}, the step's own wall clock). */
    void stepStarted(final int index, final long nanoTime)
    {
        stepStart[index] = nanoTime - origin;
    }

    /** Step {@code index} ended at {@code nanoTime}. */
    void stepEnded(final int index, final long nanoTime)
    {
        stepEnd[index] = nanoTime - origin;
    }

    /** Stops the sampler, takes a last sample, and returns the timeline. */
    Timeline finish()
    {
        stop = true;
        LockSupport.unpark(thread);
        try
        {
            thread.join();
        }
        catch (final InterruptedException e)
        {
            Thread.currentThread().interrupt();
        }
        sample(System.nanoTime() - origin);
        return new Timeline(interval, java.util.Arrays.copyOf(time, size), java.util.Arrays.copyOf(accesses, size),
            java.util.Arrays.copyOf(faults, size), stepStart, stepEnd);
    }

    /** Stops the sampler thread without a result (the run failed). */
    void abandon()
    {
        stop = true;
        LockSupport.unpark(thread);
    }

    private void loop()
    {
        long next = interval;
        while (!stop)
        {
            final long now = System.nanoTime() - origin;
            if (now < next)
            {
                LockSupport.parkNanos(next - now);
                continue;
            }
            sample(now);
            // A late wake-up (a loaded machine) starts a new grid rather than sampling in a burst.
            next = Math.max(next + interval, now + interval / 2);
        }
    }

    /** One sample at {@code at} ns since the start; the sampler thread's, or the driver's before start / after finish. */
    void sample(final long at)
    {
        if (size == time.length)
        {
            halve();
        }
        long a = 0;
        long f = 0;
        final AtomicLongArray p = published;
        for (int v = 0; v < vcpus; v++)
        {
            a += p.getAcquire(v * SLOT + ACCESSES);
            f += p.getAcquire(v * SLOT + FAULTS);
        }
        time[size] = at;
        accesses[size] = a;
        faults[size] = f;
        size++;
    }

    /** Keeps samples 0, 2, 4, ... and doubles the interval: bounded memory, the whole run covered. */
    private void halve()
    {
        final int kept = (size + 1) / 2;
        for (int i = 1; i < kept; i++)
        {
            time[i] = time[2 * i];
            accesses[i] = accesses[2 * i];
            faults[i] = faults[2 * i];
        }
        size = kept;
        interval *= 2;
    }
}
