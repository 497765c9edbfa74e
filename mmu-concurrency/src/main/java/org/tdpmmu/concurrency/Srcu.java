package org.tdpmmu.concurrency;

/**
 * Sleepable RCU for one domain (kernel: kernel/rcu/srcutree.c, one {@code struct srcu_struct}; KVM's
 * {@code kvm->srcu} guards the memslot set). A reader brackets its use of a published pointer with
 * {@link #readLock} / {@link #readUnlock}; a writer publishes a new pointer and then
 * {@link #synchronize}s, after which no reader that could have seen the old one is still inside.
 *
 * <p>Unlike {@link Rcu} a reader may block (a fault takes the MMU lock inside its section), and
 * readers of this domain never delay another domain's grace period, which is why KVM uses SRCU for
 * memslots. The model is the classic two-counter one: the reader increments its count of the
 * current index, then re-reads the index and retries on a flip it raced with; the writer flips the
 * index and waits for every reader's count of the old index to drain. The counts are per reader
 * thread ({@link SrcuReader}, the kernel's per-CPU srcu_data): a reader writes only its own line.
 * The entry's count store and the index reads are volatile, as are the flip and the drain's reads
 * (the kernel's smp_mb() pairs in srcu_read_lock and srcu_flip), so a reader that passed its
 * re-check before the flip is counted by the drain, and one that passed it after sees every store
 * the writer made before calling {@link #synchronize}; the exit's store is a release.
 */
public final class Srcu
{
    private static final SrcuReader[] NO_READERS = new SrcuReader[0];

    private final PaddedLong index = new PaddedLong(0);
    private final ThreadLocal<SrcuReader> localReader = new ThreadLocal<>();
    /** What a reader record names its instance by, not the instance: see Rcu's field of that name. */
    private final Object domain = new Object();
    private final Object registryLock = new Object();
    /** Every registered reader's record (copy-on-write under {@link #registryLock}). */
    private volatile SrcuReader[] readers = NO_READERS;
    private final PaddedLong grace = new PaddedLong(0);
    /** Writers past their flip in {@link #synchronize}, waiting for readers (tests poll it to order steps). */
    private final PaddedLong waiting = new PaddedLong(0);
    private final Object writers = new Object();

    /**
     * Enters a read-side section (kernel: srcu_read_lock) with the calling thread's record, looked
     * up in a thread-local (registered on first use).
     *
     * @return the index to hand to {@link #readUnlock}, on the same thread.
     */
    public int readLock()
    {
        return readLock(reader());
    }

    /**
     * The calling thread's record for this domain, registered on first use, for a caller that
     * enters sections at a high rate (a vCPU's faults) and keeps it, so that
     * {@link #readLock(SrcuReader)} skips the thread-local lookup. Hand it to no other thread.
     */
    public SrcuReader reader()
    {
        final SrcuReader reader = localReader.get();
        return reader != null ? reader : register();
    }

    /** {@link #readLock()} with the caller's own record from {@link #reader()}. */
    public int readLock(final SrcuReader reader)
    {
        assert reader.owner == Thread.currentThread() && reader.domain == domain
            : "srcu_read_lock with another thread's or another Srcu's reader record";
        while (true)
        {
            final int idx = (int)(index.getVolatile() & 1);
            final long count = reader.ownCount(idx);
            reader.svCount(idx, count + 1);
            // The re-read closes the window between reading the index and counting ourselves in it:
            // a flip in between may already have seen this count drained.
            if ((int)(index.getVolatile() & 1) == idx)
            {
                return idx;
            }
            reader.soCount(idx, count);
        }
    }

    /**
     * Leaves the section {@link #readLock} returned {@code idx} for (kernel: srcu_read_unlock), on
     * the thread that entered it: the counts are per thread (the kernel's per-CPU lock and unlock
     * counts allow an unlock elsewhere; no reader here needs it).
     */
    public void readUnlock(final int idx)
    {
        final SrcuReader reader = localReader.get();
        if (reader == null)
        {
            throw new IllegalStateException("srcu_read_unlock(" + idx + ") without a matching srcu_read_lock");
        }
        readUnlock(reader, idx);
    }

    /** {@link #readUnlock(int)} with the caller's own record from {@link #reader()}. */
    public void readUnlock(final SrcuReader reader, final int idx)
    {
        assert reader.owner == Thread.currentThread() && reader.domain == domain
            : "srcu_read_unlock with another thread's or another Srcu's reader record";
        final long count;
        if ((idx & ~1) != 0 || (count = reader.ownCount(idx)) <= 0)
        {
            throw new IllegalStateException("srcu_read_unlock(" + idx + ") without a matching srcu_read_lock");
        }
        reader.soCount(idx, count - 1);
    }

    /**
     * Waits until every reader that entered before this call has left (kernel:
     * synchronize_srcu_expedited). Writers are serialised; a caller must not hold a read-side
     * section of this domain (it would wait for itself).
     */
    public void synchronize()
    {
        synchronized (writers)
        {
            // One flip suffices here (srcutree needs two because its readers do not re-check
            // the index): a reader still counted in the old index passed its re-check before
            // the flip, and one that passes it after the flip sees what preceded this call.
            final int old = (int)(index.getAndIncrement() & 1);
            // Counted after the flip: a test that sees it knows new readers go to the other index.
            waiting.getAndIncrement();
            try
            {
                // Read after the flip (volatile): a record missing from it was registered later,
                // so its owner reads the index after the flip and counts itself in the new one.
                for (final SrcuReader reader : readers)
                {
                    while (reader.lvCount(old) != 0)
                    {
                        Thread.onSpinWait();
                        Thread.yield();
                    }
                }
                grace.getAndIncrement();
            }
            finally
            {
                waiting.getAndAdd(-1);
            }
        }
    }

    /** Grace periods completed so far. */
    public long gracePeriods()
    {
        return grace.getVolatile();
    }

    /** Writers now waiting in {@link #synchronize} (a snapshot, for tests that order steps by it). */
    public long waitingWriters()
    {
        return waiting.getVolatile();
    }

    /** Readers inside a section now (a snapshot). */
    public long activeReaders()
    {
        long n = 0;
        for (final SrcuReader reader : readers)
        {
            n += reader.lvCount(0) + reader.lvCount(1);
        }
        return n;
    }

    private SrcuReader register()
    {
        final Thread self = Thread.currentThread();
        final SrcuReader reader = new SrcuReader(self, domain);
        synchronized (registryLock)
        {
            // Drop the records of threads that exited outside any section (a run's threads come
            // and go; a record left inside a section is kept, so the writer waits for it as before).
            final SrcuReader[] current = readers;
            final SrcuReader[] kept = new SrcuReader[current.length + 1];
            int i = 0;
            for (final SrcuReader r : current)
            {
                if (r.owner.isAlive() || r.lvCount(0) != 0 || r.lvCount(1) != 0)
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
}
