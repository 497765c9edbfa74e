package org.tdpmmu.concurrency;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.ref.WeakReference;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;

/**
 * Test threads that report their failures, and bounded waits. Timeouts here only guard against a
 * hang; no test depends on one expiring.
 */
final class TestThreads implements AutoCloseable
{
    static final long GUARD_MILLIS = 30_000;

    interface Body
    {
        void run() throws Exception;
    }

    private final List<Thread> threads = new ArrayList<>();
    private final AtomicReference<Throwable> failure = new AtomicReference<>();

    Thread start(final String name, final Body body)
    {
        final Thread thread = new Thread(() ->
        {
            try
            {
                body.run();
            }
            catch (final Throwable ex)
            {
                failure.compareAndSet(null, ex);
            }
        }, name);
        thread.setDaemon(true);
        threads.add(thread);
        thread.start();
        return thread;
    }

    /** Joins every thread (bounded) and rethrows the first failure. */
    void joinAll() throws InterruptedException
    {
        final long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(GUARD_MILLIS);
        for (final Thread thread : threads)
        {
            thread.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
            if (thread.isAlive())
            {
                fail("thread " + thread.getName() + " did not finish within " + GUARD_MILLIS + " ms");
            }
        }
        rethrow();
    }

    void rethrow()
    {
        final Throwable ex = failure.get();
        if (ex != null)
        {
            throw new AssertionError("a test thread failed", ex);
        }
    }

    @Override
    public void close()
    {
        for (final Thread thread : threads)
        {
            thread.interrupt();
        }
    }

    static void await(final CountDownLatch latch) throws InterruptedException
    {
        assertTrue(latch.await(GUARD_MILLIS, TimeUnit.MILLISECONDS), "latch not reached within the guard timeout");
    }

    /** Spins (politely) until the condition holds; fails after the guard timeout. */
    static void awaitTrue(final String what, final BooleanSupplier condition)
    {
        final long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(GUARD_MILLIS);
        while (!condition.getAsBoolean())
        {
            if (System.nanoTime() > deadline)
            {
                fail("timed out waiting for: " + what);
            }
            Thread.yield();
        }
    }

    /**
     * Asserts the thread is still blocked after a short grace. A correct implementation always
     * passes; a broken one is caught unless the thread happened not to be scheduled in time.
     */
    static void assertStillBlocked(final Thread thread) throws InterruptedException
    {
        thread.join(50);
        assertTrue(thread.isAlive(), thread.getName() + " should still be blocked");
    }

    static void assertFinishes(final Thread thread) throws InterruptedException
    {
        thread.join(GUARD_MILLIS);
        assertFalse(thread.isAlive(), thread.getName() + " did not finish within " + GUARD_MILLIS + " ms");
    }

    /**
     * Asserts that what {@code ref} refers to becomes unreachable: requests collections until the
     * reference is cleared, for at most the guard time.
     */
    static void assertCollected(final WeakReference<?> ref, final String what) throws InterruptedException
    {
        final long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(GUARD_MILLIS);
        while (ref.get() != null && System.nanoTime() < deadline)
        {
            System.gc();
            Thread.sleep(10);
        }
        assertTrue(ref.get() == null, what + " was still reachable after " + GUARD_MILLIS + " ms of collections");
    }
}
