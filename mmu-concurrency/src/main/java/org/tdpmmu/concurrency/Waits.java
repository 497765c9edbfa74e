package org.tdpmmu.concurrency;

import java.util.concurrent.locks.LockSupport;

/**
 * The one back-off used by every blocking wait of this package: spin briefly, then yield, then park
 * for growing slices. The simulator runs far more threads than cores (100+ vCPU threads on 2 cores),
 * so a waiter must give its core away quickly; parking in bounded slices needs no wake-up protocol,
 * so a lost wake-up can only cost one slice, never a hang.
 */
final class Waits
{
    static final int SPIN_ROUNDS = 64;
    static final int YIELD_ROUNDS = 16;
    static final long MIN_PARK_NANOS = 10_000;
    static final long MAX_PARK_NANOS = 250_000;

    private Waits()
    {
    }

    /**
     * Waits a little, longer as {@code round} grows. Allocation free.
     *
     * @param round how many times the caller has already waited for the same condition (from 0).
     */
    static void backoff(final int round)
    {
        if (round < SPIN_ROUNDS)
        {
            Thread.onSpinWait();
        }
        else if (round < SPIN_ROUNDS + YIELD_ROUNDS)
        {
            Thread.yield();
        }
        else
        {
            final int doublings = Math.min(round - SPIN_ROUNDS - YIELD_ROUNDS, 5);
            LockSupport.parkNanos(Math.min(MAX_PARK_NANOS, MIN_PARK_NANOS << doublings));
        }
    }

    /** True once {@link #backoff(int)} has reached the parking stage for this round. */
    static boolean isParking(final int round)
    {
        return round >= SPIN_ROUNDS + YIELD_ROUNDS;
    }
}
