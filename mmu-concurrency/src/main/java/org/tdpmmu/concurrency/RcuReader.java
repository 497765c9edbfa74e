package org.tdpmmu.concurrency;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

abstract class RcuReaderLhsPad
{
    long p00, p01, p02, p03, p04, p05, p06, p07;
    long p10, p11, p12, p13, p14, p15, p16, p17;
}

abstract class RcuReaderFields extends RcuReaderLhsPad
{
    /** 0 outside any read-side section, else the epoch read at the outermost entry. */
    volatile long state;
    /** Nesting depth; touched only by the owner thread, so plain. */
    int nesting;
}

/**
 * One thread's read-side state for one {@link Rcu} (kernel: the per-CPU rcu_data a reader marks;
 * here per thread, as a simulated reader is a thread). Registered once, on the thread's first
 * {@code readLock}, then reused without allocation. Padded so that two threads' records never share
 * a cache line: each owner writes its own {@code state} at every outermost entry and exit.
 * Public as an opaque handle only ({@link Rcu#reader()}): everything in it is package-private.
 */
public final class RcuReader extends RcuReaderFields
{
    private static final VarHandle STATE;

    static
    {
        try
        {
            STATE = MethodHandles.lookup().findVarHandle(RcuReaderFields.class, "state", long.class);
        }
        catch (final ReflectiveOperationException ex)
        {
            throw new ExceptionInInitializerError(ex);
        }
    }

    long q00, q01, q02, q03, q04, q05, q06, q07;
    long q10, q11, q12, q13, q14, q15, q16, q17;

    final Thread owner;
    final Object domain;

    RcuReader(final Thread owner, final Object domain)
    {
        this.owner = owner;
        this.domain = domain;
    }

    /**
     * Publishes the entry epoch, then a full fence. The fence is the reader's half of the Dekker
     * pairing with {@link Rcu}'s scan (fence, then read every state): with a seq-cst fence on each
     * side, either the scan sees this state, or every load this thread makes inside the section sees
     * the unlink the updater made before its scan. That holds whatever access mode the caller uses
     * for those loads, which is why the store is opaque plus fence rather than a volatile store.
     */
    void enter(final long epoch)
    {
        STATE.setOpaque(this, epoch);
        VarHandle.fullFence();
    }

    /**
     * Release store: every load of the section happens-before a scanner's acquire read of 0, so a
     * callback run after that scan cannot free memory this section still reads.
     */
    void exit()
    {
        STATE.setRelease(this, 0L);
    }

    long stateAcquire()
    {
        return (long)STATE.getAcquire(this);
    }

    long stateOpaque()
    {
        return (long)STATE.getOpaque(this);
    }
}
