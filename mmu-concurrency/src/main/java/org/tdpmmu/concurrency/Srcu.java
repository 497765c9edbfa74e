package org.tdpmmu.concurrency;

/**
 * Sleepable RCU for one domain (kernel: kernel/rcu/srcutree.c, one {@code struct srcu_struct}; KVM's
 * {@code kvm->srcu} guards the memslot set). A reader brackets its use of a published pointer with
 * {@link #readLock} / {@link #readUnlock}; a writer publishes a new pointer and then
 * {@link #synchronize}s, after which no reader that could have seen the old one is still inside.
 *
 * <p>Unlike {@link Rcu} a reader may block (a fault takes the MMU lock inside its section), and
 * readers of this domain never delay another domain's grace period, which is why KVM uses SRCU for
 * memslots. The model is the classic two-counter one: the reader increments the counter of the
 * current index, then re-reads the index and retries on a flip it raced with; the writer flips the
 * index and waits for the old index's count to drain. All counter accesses are volatile (the
 * kernel's smp_mb() pairs in srcu_read_lock and srcu_flip), so a reader that passed its re-check
 * before the flip is counted by the drain, and one that passed it after sees every store the
 * writer made before calling {@link #synchronize}.
 */
public final class Srcu
{
    private final PaddedLong index = new PaddedLong(0);
    private final PaddedLong[] readers = {new PaddedLong(0), new PaddedLong(0)};
    private final PaddedLong grace = new PaddedLong(0);
    /** Writers past their flip in {@link #synchronize}, waiting for readers (tests poll it to order steps). */
    private final PaddedLong waiting = new PaddedLong(0);
    private final Object writers = new Object();

    /**
     * Enters a read-side section (kernel: srcu_read_lock).
     *
     * @return the index to hand to {@link #readUnlock}.
     */
    public int readLock()
    {
        while (true)
        {
            final int idx = (int)(index.getVolatile() & 1);
            readers[idx].getAndIncrement();
            // The re-read closes the window between reading the index and counting ourselves in it:
            // a flip in between may already have seen this counter drained.
            if ((int)(index.getVolatile() & 1) == idx)
            {
                return idx;
            }
            readers[idx].getAndAdd(-1);
        }
    }

    /** Leaves the section {@link #readLock} returned {@code idx} for (kernel: srcu_read_unlock). */
    public void readUnlock(final int idx)
    {
        if ((idx & ~1) != 0 || readers[idx].getAndAdd(-1) <= 0)
        {
            throw new IllegalStateException("srcu_read_unlock(" + idx + ") without a matching srcu_read_lock");
        }
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
                while (readers[old].getVolatile() != 0)
                {
                    Thread.onSpinWait();
                    Thread.yield();
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
        return readers[0].getVolatile() + readers[1].getVolatile();
    }
}
