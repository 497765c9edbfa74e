package org.tdpmmu.stress;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * A bounded meeting point for the two actors of one state. jcstress runs each actor over a whole
 * stride of states without a barrier per state, so two actors of different lengths drift apart
 * and soon never overlap; each actor here announces itself and spins until the other has arrived
 * too, or until a bound (jcstress also runs the actors one after the other in its API and
 * resource checks, where waiting would never end). Outcomes never depend on it: it only makes
 * the interleavings worth testing frequent.
 */
public final class Rendezvous
{
    /** Spins before giving up on the other actor: some tens of microseconds. */
    private static final int MAX_SPINS = 1 << 12;
    private static final VarHandle ARRIVED;

    static
    {
        try
        {
            ARRIVED = MethodHandles.lookup().findVarHandle(Rendezvous.class, "arrived", int.class);
        }
        catch (final ReflectiveOperationException ex)
        {
            throw new ExceptionInInitializerError(ex);
        }
    }

    /** Bit per actor that has arrived. Accessed only through {@link #ARRIVED}. */
    private int arrived;

    /**
     * Marks actor {@code side} (0 or 1) as arrived and waits, boundedly, for the other one.
     *
     * @return true if both met.
     */
    public boolean meet(final int side)
    {
        final int mine = 1 << side;
        ARRIVED.getAndBitwiseOr(this, mine);
        for (int i = 0; i < MAX_SPINS; i++)
        {
            if ((int)ARRIVED.getVolatile(this) == 3)
            {
                return true;
            }
            Thread.onSpinWait();
        }
        return false;
    }
}
