package org.tdpmmu.stress;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;

import org.tdpmmu.core.TestHook;

/** Bounded latches, hooks and threads for the tests that force one interleaving (SeededBugsTest, MutantKillersTest). */
final class Latches
{
    /** Longest wait for any forced step; a test that needs longer is broken, not slow. */
    static final long WAIT_SECONDS = 5;

    private Latches()
    {
    }

    /** Stops the thread named {@code thread} the first time it reaches {@code point}. */
    static final class Pause implements TestHook
    {
        private final Point point;
        private final String thread;
        private final AtomicBoolean armed = new AtomicBoolean(true);
        private final CountDownLatch reached = new CountDownLatch(1);
        private final CountDownLatch released = new CountDownLatch(1);

        Pause(final Point point, final String thread)
        {
            this.point = point;
            this.thread = thread;
        }

        @Override
        public void at(final Point p, final long gfn)
        {
            if (p == point && Thread.currentThread().getName().equals(thread) && armed.compareAndSet(true, false))
            {
                reached.countDown();
                await(released);
            }
        }

        void awaitReached()
        {
            await(reached);
        }

        void release()
        {
            released.countDown();
        }
    }

    /** One hook for two pauses, each on its own point and thread. */
    static TestHook both(final Pause a, final Pause b)
    {
        return (point, gfn) ->
        {
            a.at(point, gfn);
            b.at(point, gfn);
        };
    }

    static <T> FutureTask<T> start(final String name, final Callable<T> body)
    {
        final FutureTask<T> task = new FutureTask<>(body);
        final Thread t = new Thread(task, name);
        t.setDaemon(true);
        t.start();
        return task;
    }

    static <T> T join(final FutureTask<T> task) throws Exception
    {
        try
        {
            return task.get(WAIT_SECONDS, SECONDS);
        }
        catch (final TimeoutException ex)
        {
            task.cancel(true);
            return fail("a forced interleaving did not finish within " + WAIT_SECONDS + " s");
        }
        catch (final ExecutionException ex)
        {
            if (ex.getCause() instanceof Exception)
            {
                throw (Exception)ex.getCause();
            }
            throw new AssertionError(ex.getCause());
        }
    }

    /** Spins until {@code condition} holds (bounded like every wait here); names {@code what} on timeout. */
    static void awaitTrue(final String what, final java.util.function.BooleanSupplier condition)
    {
        final long deadline = System.nanoTime() + SECONDS.toNanos(WAIT_SECONDS);
        while (!condition.getAsBoolean())
        {
            if (System.nanoTime() > deadline)
            {
                fail("a forced interleaving did not reach \"" + what + "\" within " + WAIT_SECONDS + " s");
            }
            Thread.onSpinWait();
        }
    }

    static void await(final CountDownLatch latch)
    {
        try
        {
            if (!latch.await(WAIT_SECONDS, SECONDS))
            {
                fail("a forced interleaving did not reach its latch within " + WAIT_SECONDS + " s");
            }
        }
        catch (final InterruptedException ex)
        {
            Thread.currentThread().interrupt();
            fail("interrupted while forcing an interleaving");
        }
    }
}
