package org.tdpmmu.concurrency;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

abstract class SrcuReaderLhsPad
{
    long p00, p01, p02, p03, p04, p05, p06, p07;
    long p10, p11, p12, p13, p14, p15, p16, p17;
}

abstract class SrcuReaderFields extends SrcuReaderLhsPad
{
    /** Sections of this thread now open in index 0 and index 1; written only by the owner. */
    volatile long count0;
    volatile long count1;
}

/**
 * One thread's read-side counts for one {@link Srcu} (kernel: the per-CPU srcu_data whose lock
 * counts srcu_read_lock bumps; here per thread, as a simulated reader is a thread). Only the owner
 * writes it, so a reader's entry and exit touch no line another reader writes: with one shared
 * counter, two vCPU threads faulting on two cores moved its line between the cores twice a fault.
 * Padded so that two records never share a cache line. Public as an opaque handle only
 * ({@link Srcu#reader()}).
 */
public final class SrcuReader extends SrcuReaderFields
{
    private static final VarHandle COUNT0;
    private static final VarHandle COUNT1;

    static
    {
        try
        {
            final MethodHandles.Lookup lookup = MethodHandles.lookup();
            COUNT0 = lookup.findVarHandle(SrcuReaderFields.class, "count0", long.class);
            COUNT1 = lookup.findVarHandle(SrcuReaderFields.class, "count1", long.class);
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

    SrcuReader(final Thread owner, final Object domain)
    {
        this.owner = owner;
        this.domain = domain;
    }

    /** Owner only: its own last write, plain. */
    long ownCount(final int idx)
    {
        return idx == 0 ? (long)COUNT0.get(this) : (long)COUNT1.get(this);
    }

    /**
     * Seq-cst store of the owner's new count: the entry's half of the Dekker pairing with the
     * writer's flip (the reader stores its count, then reads the index; the writer flips the index,
     * then reads every count), so either the writer sees this section or the reader sees the flip.
     */
    void svCount(final int idx, final long value)
    {
        if (idx == 0)
        {
            COUNT0.setVolatile(this, value);
        }
        else
        {
            COUNT1.setVolatile(this, value);
        }
    }

    /**
     * Release store of the owner's count at exit: every access of the section happens-before a
     * writer's volatile read of the lower count, so nothing it does after its grace period can be
     * seen by the section (kernel: the smp_mb() before srcu_read_unlock's count update).
     */
    void soCount(final int idx, final long value)
    {
        if (idx == 0)
        {
            COUNT0.setRelease(this, value);
        }
        else
        {
            COUNT1.setRelease(this, value);
        }
    }

    long lvCount(final int idx)
    {
        return idx == 0 ? (long)COUNT0.getVolatile(this) : (long)COUNT1.getVolatile(this);
    }
}
