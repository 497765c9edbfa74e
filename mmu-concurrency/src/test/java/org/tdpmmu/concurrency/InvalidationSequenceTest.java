package org.tdpmmu.concurrency;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;

class InvalidationSequenceTest
{
    @Test
    void singleInvalidation()
    {
        final InvalidationSequence seq = new InvalidationSequence();
        final long sample = seq.sample();
        assertFalse(seq.retry(sample, 15));

        seq.begin(10, 20);
        assertEquals(1, seq.inProgress());
        assertEquals(10, seq.rangeStart());
        assertEquals(20, seq.rangeEnd());
        assertTrue(seq.retry(sample, 10), "start is inside");
        assertTrue(seq.retry(sample, 19));
        assertFalse(seq.retry(sample, 20), "end is exclusive");
        assertFalse(seq.retry(sample, 9));

        seq.end(10, 20);
        assertEquals(0, seq.inProgress());
        assertEquals(sample + 1, seq.sequence());
        assertTrue(seq.retry(sample, 15), "an invalidation ended after the sample");
        assertTrue(seq.retry(sample, 500), "the sequence moved: every gfn retries");
        assertFalse(seq.retry(seq.sample(), 15), "a fresh sample after the end does not retry");
        assertEquals(1, seq.begins());
        assertEquals(1, seq.ends());
    }

    @Test
    void disjointGfnRetriesOnlyAfterTheEnd()
    {
        final InvalidationSequence seq = new InvalidationSequence();
        final long sample = seq.sample();
        seq.begin(100, 200);
        assertFalse(seq.retry(sample, 50), "a running invalidation of other gfns does not hold this fault");
        seq.end(100, 200);
        assertTrue(seq.retry(sample, 50), "the sequence moved since the sample");
    }

    @Test
    void nestedInvalidationsWidenTheRange()
    {
        final InvalidationSequence seq = new InvalidationSequence();
        final long sample = seq.sample();
        seq.begin(10, 20);
        seq.begin(30, 40);
        assertEquals(2, seq.inProgress());
        assertEquals(10, seq.rangeStart());
        assertEquals(40, seq.rangeEnd());
        assertTrue(seq.retry(sample, 35));
        assertTrue(seq.retry(sample, 25), "the widened range covers the gap (a false positive, allowed)");

        seq.end(30, 40);
        assertEquals(1, seq.inProgress());
        assertEquals(40, seq.rangeEnd(), "the range shrinks only when nothing is in progress");
        final long middle = seq.sample();
        assertTrue(seq.retry(middle, 15), "the first invalidation still runs");
        assertFalse(seq.retry(middle, 45));

        seq.end(10, 20);
        assertEquals(0, seq.inProgress());
        assertEquals(2, seq.sequence());

        seq.begin(100, 110);
        assertEquals(100, seq.rangeStart(), "a new first begin resets the range");
        assertEquals(110, seq.rangeEnd());
        seq.end(100, 110);
    }

    @Test
    void overlappingInvalidationsCoverTheUnion()
    {
        final InvalidationSequence seq = new InvalidationSequence();
        final long sample = seq.sample();
        seq.begin(10, 20);
        seq.begin(15, 30);
        seq.begin(5, 12);
        assertEquals(5, seq.rangeStart());
        assertEquals(30, seq.rangeEnd());
        for (long gfn = 5; gfn < 30; gfn++)
        {
            assertTrue(seq.retry(sample, gfn), "gfn " + gfn);
        }
        assertFalse(seq.retry(sample, 30));
        seq.end(15, 30);
        seq.end(10, 20);
        seq.end(5, 12);
        assertEquals(3, seq.sequence());
        assertEquals(3, seq.begins());
        assertEquals(3, seq.ends());
    }

    @Test
    void misuseIsRefused()
    {
        final InvalidationSequence seq = new InvalidationSequence();
        final IllegalStateException noBegin = assertThrows(IllegalStateException.class, () -> seq.end(1, 2));
        assertTrue(noBegin.getMessage().contains("without a matching begin"), noBegin.getMessage());
        assertThrows(IllegalArgumentException.class, () -> seq.begin(5, 5));
        assertThrows(IllegalArgumentException.class, () -> seq.begin(6, 5));
        assertThrows(IllegalArgumentException.class, () -> seq.end(6, 5));
        seq.begin(10, 20);
        assertThrows(IllegalStateException.class, () -> seq.end(30, 40));
        seq.end(10, 20);
        assertThrows(IllegalStateException.class, () -> seq.end(10, 20));
        assertEquals(0, seq.inProgress());
        assertEquals(1, seq.sequence());
        assertEquals(1, seq.ends());
    }

    /**
     * One host thread loops begin/end over a range holding {@code GFN}, ticking a logical clock at
     * four points of each round: A before begin, B after begin returned, C before end is called,
     * D after end returned. Round i ticks 4i+1 .. 4i+4. A second host thread invalidates a disjoint
     * range to exercise nesting, widening and resets. A fault thread samples, reads the clock (y0),
     * sometimes lets time pass, reads it again (y1), calls retry, reads it a third time (y2).
     * retry must answer true if
     * <ol>
     *   <li>an end ran wholly between the sample and retry: some round has C > y0 and D <= y1; or</li>
     *   <li>an invalidation ran across the whole retry call: some round has B <= y1 and C > y2,
     *       which given y1 <= y2 means y1 == y2 == 4i+2.</li>
     * </ol>
     */
    @Test
    void concurrentRetryNeverMissesAnOverlappingInvalidation() throws Exception
    {
        final long gfn = 1_000;
        final InvalidationSequence seq = new InvalidationSequence();
        final AtomicLong clock = new AtomicLong();
        final AtomicBoolean stop = new AtomicBoolean();
        final AtomicLong falseNegatives = new AtomicLong();
        final AtomicLong endedBetween = new AtomicLong();
        final AtomicLong runningAcross = new AtomicLong();
        final int wanted = 100;
        try (TestThreads threads = new TestThreads())
        {
            threads.start("host-overlapping", () ->
            {
                while (!stop.get())
                {
                    clock.incrementAndGet();          // A
                    seq.begin(gfn - 4, gfn + 4);
                    clock.incrementAndGet();          // B
                    for (int spin = 0; spin < 100; spin++)
                    {
                        Thread.onSpinWait();
                    }
                    clock.incrementAndGet();          // C
                    seq.end(gfn - 4, gfn + 4);
                    clock.incrementAndGet();          // D
                }
            });
            threads.start("host-disjoint", () ->
            {
                long i = 0;
                while (!stop.get())
                {
                    final long start = gfn + 100 + (i++ % 50);
                    seq.begin(start, start + 20);
                    Thread.onSpinWait();
                    seq.end(start, start + 20);
                    if ((i & 15) == 0)
                    {
                        Thread.yield();
                    }
                }
            });
            threads.start("fault", () ->
            {
                final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                long iteration = 0;
                try
                {
                    while ((endedBetween.get() < wanted || runningAcross.get() < wanted) &&
                        System.nanoTime() < deadline)
                    {
                        final long sample = seq.sample();
                        final long y0 = clock.get();
                        if ((++iteration & 3) == 0)
                        {
                            // Let at least one whole round pass now and then.
                            while (clock.get() < y0 + 8 && System.nanoTime() < deadline)
                            {
                                Thread.onSpinWait();
                            }
                        }
                        final long y1 = clock.get();
                        final boolean retry = seq.retry(sample, gfn);
                        final long y2 = clock.get();

                        // First round whose C tick (4i+3) is above y0; did its D tick (4i+4) come by y1?
                        final long i = Math.floorDiv(y0 - 3, 4) + 1;
                        final boolean mustEnded = 4 * i + 4 <= y1;
                        final boolean mustRunning = y1 == y2 && (y1 & 3) == 2;
                        if (mustEnded)
                        {
                            endedBetween.incrementAndGet();
                        }
                        if (mustRunning)
                        {
                            runningAcross.incrementAndGet();
                        }
                        if ((mustEnded || mustRunning) && !retry)
                        {
                            falseNegatives.incrementAndGet();
                        }
                    }
                }
                finally
                {
                    stop.set(true);
                }
            });
            threads.joinAll();
        }
        assertEquals(0, falseNegatives.get(), "retry said false although an overlapping invalidation ran");
        assertTrue(endedBetween.get() > 0, "the history never had an end between sample and retry");
        assertTrue(runningAcross.get() > 0, "the history never had an invalidation across retry");
        assertEquals(seq.begins(), seq.ends());
        assertEquals(0, seq.inProgress());
    }
}
