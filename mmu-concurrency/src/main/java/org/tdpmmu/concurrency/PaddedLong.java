package org.tdpmmu.concurrency;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

abstract class PaddedLongLhsPad
{
    long p00, p01, p02, p03, p04, p05, p06, p07;
    long p10, p11, p12, p13, p14, p15, p16, p17;
}

abstract class PaddedLongValue extends PaddedLongLhsPad
{
    volatile long value;
}

/**
 * A long on cache lines of its own (128 bytes either side, enough for adjacent-line prefetch), for a
 * word that many threads read and some write, such as the RCU epoch. Superclass fields are laid out
 * before subclass fields, so the class hierarchy fixes the padding in place (the JCTools idiom).
 */
final class PaddedLong extends PaddedLongValue
{
    private static final VarHandle VALUE;

    static
    {
        try
        {
            VALUE = MethodHandles.lookup().findVarHandle(PaddedLongValue.class, "value", long.class);
        }
        catch (final ReflectiveOperationException ex)
        {
            throw new ExceptionInInitializerError(ex);
        }
    }

    long q00, q01, q02, q03, q04, q05, q06, q07;
    long q10, q11, q12, q13, q14, q15, q16, q17;

    PaddedLong(final long initial)
    {
        VALUE.setRelease(this, initial);
    }

    long getVolatile()
    {
        return (long)VALUE.getVolatile(this);
    }

    long getAndIncrement()
    {
        return (long)VALUE.getAndAdd(this, 1L);
    }

    long getAndAdd(final long delta)
    {
        return (long)VALUE.getAndAdd(this, delta);
    }
}
