package org.tdpmmu.concurrency;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The mmu_notifier invalidation sequence (kernel: kvm->mmu_invalidate_seq,
 * mmu_invalidate_in_progress, mmu_invalidate_range_start / _end, mmu_invalidate_begin / _end,
 * mmu_invalidate_retry_gfn).
 *
 * <p>A fault calls {@link #sample()} before it resolves the host pfn and {@link #retry(long, long)}
 * before it installs the SPTE; it retries when an invalidation covering its gfn ran or is running in
 * between. {@link #begin} / {@link #end} may come from several host threads and are serialised by an
 * internal lock; {@link #sample()} and {@link #retry} are lock free.
 *
 * <h2>Why retry never misses an invalidation (no false negatives)</h2>
 * In the kernel, begin/end run under mmu_lock for write and retry under it for read, so retry sees a
 * consistent snapshot. Here it does not rely on that. The writers keep three rules:
 * <ol>
 *   <li>begin writes the range, then publishes the in-progress count (volatile);</li>
 *   <li>while the count is above 0 the range only widens (start only decreases, end only grows,
 *       each a separate volatile store), so every intermediate range still covers every running
 *       invalidation; the range is reset only when the count is 0;</li>
 *   <li>end bumps the sequence (volatile) before it drops the count (volatile).</li>
 * </ol>
 * retry reads, in this order, all volatile: the count, the range start, the range end, the sequence.
 * Take an invalidation I over gfn and a sample s:
 * <ul>
 *   <li>I's sequence bump is later than the sample and earlier than retry's sequence read: that
 *       read sees the bump (volatile reads see the last write in synchronization order), so
 *       sequence != s and retry answers true.</li>
 *   <li>I's count publish is earlier than retry's count read, and I's bump later than retry's
 *       sequence read (I runs across the whole of retry): the count read is at least 1, no reset can
 *       happen while I runs, so the range read covers I's range, which contains gfn; true.</li>
 *   <li>Otherwise I either ended before the sample (its bump is in s; the pfn lookup after the sample
 *       sees its effect) or had not been published when retry read the count (it begins after
 *       retry's linearization point). Neither needs a retry.</li>
 * </ul>
 * A stale count read (an invalidation that has since ended) may pair with a range of a later one;
 * its end bumped the sequence before the range could be reset, so the sequence read catches it. The
 * sequence is monotonic, so {@code sequence != s} is a safe test. False positives (a retry that was
 * not needed) are allowed, as in the kernel.
 */
public final class InvalidationSequence
{
    private static final VarHandle SEQUENCE;

    static
    {
        try
        {
            SEQUENCE = MethodHandles.lookup().findVarHandle(InvalidationSequence.class, "sequence", long.class);
        }
        catch (final ReflectiveOperationException ex)
        {
            throw new ExceptionInInitializerError(ex);
        }
    }

    private final Object writerLock = new Object();

    private volatile long sequence;
    private volatile int inProgress;
    private volatile long rangeStart;
    private volatile long rangeEnd;
    /** Written under writerLock only. */
    private volatile long begins;
    private volatile long ends;

    /**
     * Starts invalidating [startGfn, endGfn) (kernel: mmu_invalidate_begin plus the range update of
     * kvm_mmu_invalidate_range_add). Nested and overlapping calls widen the range in progress.
     *
     * @throws IllegalArgumentException unless startGfn < endGfn.
     */
    public void begin(final long startGfn, final long endGfn)
    {
        checkRange("begin", startGfn, endGfn);
        synchronized (writerLock)
        {
            final int count = inProgress;
            if (count == 0)
            {
                // No retry trusts the range while the count is 0 (a stale count read is caught by
                // the sequence, see the class comment), so the reset may be seen half done.
                rangeStart = startGfn;
                rangeEnd = endGfn;
            }
            else
            {
                // Widen one bound at a time: each store yields a superset of what was there.
                if (startGfn < rangeStart)
                {
                    rangeStart = startGfn;
                }
                if (endGfn > rangeEnd)
                {
                    rangeEnd = endGfn;
                }
            }
            // Publish last: a retry that counts this invalidation reads the range written above.
            inProgress = count + 1;
            begins = begins + 1;
        }
    }

    /**
     * Ends an invalidation begun with {@link #begin} (kernel: mmu_invalidate_end): bumps the
     * sequence, then drops the in-progress count.
     *
     * @throws IllegalArgumentException unless startGfn < endGfn.
     * @throws IllegalStateException    if no invalidation is in progress, or the range is outside every
     *                                  range begun (no begin matches it).
     */
    public void end(final long startGfn, final long endGfn)
    {
        checkRange("end", startGfn, endGfn);
        synchronized (writerLock)
        {
            final int count = inProgress;
            if (count == 0)
            {
                throw new IllegalStateException("mmu_invalidate_end [" + startGfn + ", " + endGfn +
                    ") without a matching begin: no invalidation in progress");
            }
            if (startGfn < rangeStart || endGfn > rangeEnd)
            {
                throw new IllegalStateException("mmu_invalidate_end [" + startGfn + ", " + endGfn +
                    ") outside the range in progress [" + rangeStart + ", " + rangeEnd + "): no begin matches it");
            }
            // Bump before the drop: a retry that reads the dropped count then reads the bumped sequence.
            sequence = sequence + 1;
            inProgress = count - 1;
            ends = ends + 1;
        }
    }

    /**
     * Samples the sequence (kernel: fault->mmu_seq = kvm->mmu_invalidate_seq; smp_rmb()). A fault takes
     * it before it resolves the host pfn; the acquire keeps that lookup from moving above the sample.
     */
    public long sample()
    {
        return (long)SEQUENCE.getAcquire(this);
    }

    /**
     * True if the fault that took {@code sample} must retry for {@code gfn} (kernel:
     * mmu_invalidate_retry_gfn): an invalidation covering gfn is in progress, or the sequence moved
     * since the sample. Lock free. Never false when an invalidation overlapping gfn ended after the
     * sample or is in progress now.
     */
    public boolean retry(final long sample, final long gfn)
    {
        // Order matters: count, start, end, sequence (see the class comment).
        if (inProgress != 0 && gfn >= rangeStart && gfn < rangeEnd)
        {
            return true;
        }
        return sequence != sample;
    }

    /** The sequence: how many invalidations have ended. */
    public long sequence()
    {
        return sequence;
    }

    /** Invalidations begun and not yet ended. */
    public int inProgress()
    {
        return inProgress;
    }

    /** Start of the range in progress (inclusive); meaningful while {@link #inProgress()} > 0. */
    public long rangeStart()
    {
        return rangeStart;
    }

    /** End of the range in progress (exclusive); meaningful while {@link #inProgress()} > 0. */
    public long rangeEnd()
    {
        return rangeEnd;
    }

    /** Calls to begin. */
    public long begins()
    {
        return begins;
    }

    /** Calls to end that succeeded. */
    public long ends()
    {
        return ends;
    }

    private static void checkRange(final String operation, final long startGfn, final long endGfn)
    {
        if (startGfn >= endGfn)
        {
            throw new IllegalArgumentException("mmu_invalidate_" + operation + " needs startGfn < endGfn, range=[" +
                startGfn + ", " + endGfn + ")");
        }
    }
}
