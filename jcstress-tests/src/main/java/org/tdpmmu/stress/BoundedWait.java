package org.tdpmmu.stress;

import java.util.function.BooleanSupplier;

/**
 * The wait of a hook-forced window: a test hook holds one actor at a point of the MMU until the
 * other has reached its own, so an interleaving a few instructions wide becomes frequent. Bounded,
 * so outcomes never depend on it: the other actor may have come and gone, or run alone in
 * jcstress's API and resource checks. Unlike {@link Rendezvous}, whose methods the model checker
 * runs as one step, this loop is explored: each read of the condition is a switch point, so a
 * twin reaches the same forced window.
 */
public final class BoundedWait
{
    /** Spin hints between two yields. */
    private static final int YIELD_EVERY = 256;

    private BoundedWait()
    {
    }

    /**
     * Spins until {@code done} holds or {@code maxSpins} hints have passed. It yields every
     * {@value #YIELD_EVERY} spins: with more runnable threads than cores the other actor may not be
     * on a core at all, and spinning alone would let the window pass unmet. Keep {@code maxSpins}
     * below the model checker's loop bound (4,096, mmu-explore), where a longer wait with the other
     * actor gone is reported as a hang.
     */
    public static void until(final BooleanSupplier done, final int maxSpins)
    {
        for (int i = 1; i <= maxSpins && !done.getAsBoolean(); i++)
        {
            if (i % YIELD_EVERY == 0)
            {
                Thread.yield();
            }
            else
            {
                Thread.onSpinWait();
            }
        }
    }
}
