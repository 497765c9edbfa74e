package org.tdpmmu.scenarios.sim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.tdpmmu.scenarios.engine.PhaseResult;
import org.tdpmmu.scenarios.engine.ProgressListener;
import org.tdpmmu.scenarios.engine.RunResult;
import org.tdpmmu.scenarios.engine.Timeline;
import org.tdpmmu.scenarios.model.RecoveryStrategy;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.support.TinyTimeline;

/** The timeline sampler: bounded, halving when full, and on the engine counting what the vCPUs did. */
class TimelineSamplerTest
{
    @Test
    void sumsEveryVcpusSlotAndHalvesWhenFull()
    {
        // Not started: the samples are taken here, one by one, so the test decides when.
        final TimelineSampler s = new TimelineSampler(3, 1, 10, 4);
        for (int i = 1; i <= 9; i++)
        {
            s.publish(0, i, 0);
            s.publish(2, 10L * i, i);
            s.sample(i * 10L);
        }
        s.stepStarted(0, 0);
        final Timeline t = s.finish();
        // 9 samples into 4 slots: full at 10..40 -> keep 10,30 and take 50,60; full again -> keep
        // 10,50, then 70,80; full -> 10,70, then 90, then the last one finish() takes.
        assertEquals(4, t.size(), t.toString());
        assertEquals(80, t.intervalNanos(), "halved three times");
        assertEquals(70, t.timeAt(1));
        assertEquals(90, t.timeAt(2));
        for (int i = 1; i < t.size(); i++)
        {
            assertTrue(t.timeAt(i) >= t.timeAt(i - 1), "time goes forward");
            assertTrue(t.accessesAt(i) >= t.accessesAt(i - 1), "counts never decrease");
        }
        assertEquals(10, t.timeAt(0), "the first sample is kept through every halving");
        assertEquals(11, t.accessesAt(0));
        assertEquals(9 + 90, t.accessesAt(t.size() - 1), "the last sample has every vCPU's last value");
        assertEquals(9, t.faultsAt(t.size() - 1));
    }

    @Test
    void memoryIsKnownBeforeTheRun()
    {
        assertEquals(8L * (3 * 8192 + 96 * 16 + 2 * 20) + 512, TimelineSampler.heapBytes(96, 20, 8192));
        assertThrows(IllegalArgumentException.class, () -> new TimelineSampler(1, 1, 1, 5));
        assertThrows(IllegalArgumentException.class, () -> new TimelineSampler(0, 1, 1, 8));
    }

    /**
     * On the engine: one pass per vCPU over its pages in populate, each dirty pass and the second
     * pass, and nothing in between with the vCPUs stopped, so the last sample's accesses are exact;
     * every EPT violation is one fault outcome, so its faults equal the runs' fault counters.
     */
    @Test
    void theEngineCountsEveryAccessAndFault() throws Exception
    {
        final Scenario s = TinyTimeline.scenario(false, 2, "zap_leafs", false, 0)
            .withStrategy(RecoveryStrategy.ZAP_LEAFS);
        final RunResult r = new MmuEngine().run(s, ProgressListener.NONE);
        assertTrue(r.ok(), r.violations().toString());
        final Timeline t = r.timeline();
        assertEquals(r.phases().size(), t.stepStartNanos().length);
        final long pages = 2 * 2048;
        assertEquals(pages * (1 + 2 + 1), t.accessesAt(t.size() - 1));
        assertEquals(r.phases().stream().mapToLong(PhaseResult::faults).sum(), t.faultsAt(t.size() - 1));
        assertEquals(0, t.timeAt(0));
        for (int i = 0; i < r.phases().size(); i++)
        {
            assertTrue(t.stepStart(i) <= t.stepEnd(i), "step " + i);
            assertTrue(i == 0 || t.stepEnd(i - 1) <= t.stepStart(i), "steps in order");
        }
        assertTrue(t.size() >= 2 && t.size() <= TimelineSampler.DEFAULT_CAPACITY);
        assertArrayEquals(t.stepStartNanos(), r.timeline().stepStartNanos());
    }
}
