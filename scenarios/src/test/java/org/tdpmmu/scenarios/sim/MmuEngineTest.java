package org.tdpmmu.scenarios.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.tdpmmu.scenarios.engine.PhaseResult;
import org.tdpmmu.scenarios.engine.ProgressListener;
import org.tdpmmu.scenarios.engine.RunResult;
import org.tdpmmu.scenarios.load.ScenarioLoader;
import org.tdpmmu.scenarios.model.RecoveryStrategy;
import org.tdpmmu.scenarios.model.Scenario;

/** The real engine on a tiny scenario: every step reported, safe, and the strategies differ as they must. */
class MmuEngineTest
{
    private static Scenario scenario(final String mode, final boolean eager, final String harvest, final String host)
    {
        return ScenarioLoader.parse("""
            name: tiny
            vm:
              vcpus: 2
              memoryPerVcpu: 8M
              memslots: 1
              backing: anonymous_hugetlb_2mb
            phases:
              - populate: {}
              - enableDirtyLogging: { mode: %s, eagerSplit: %s }
              - dirtyPass: { iterations: 2, writePercent: 100, pattern: random, seed: 3, harvest: %s }
              - disableDirtyLogging: { strategy: promote_in_place }
              - secondPass: { writePercent: 0 }
              - teardown: {}
            %s
            """.formatted(mode, eager, harvest, host), "tiny.yaml");
    }

    @ParameterizedTest
    @CsvSource({
        "wrprot, false, get, ZAP_LEAFS", "wrprot, true, clear, ZAP_HUGE", "dbit, false, clear, PROMOTE_IN_PLACE",
        "dbit, true, get, ZAP_HUGE", "wrprot, false, clear, PROMOTE_IN_PLACE"})
    void runsEveryStepSafelyAndRecoversHugePages(final String mode, final boolean eager, final String harvest,
        final RecoveryStrategy strategy) throws Exception
    {
        final Scenario s = scenario(mode, eager, harvest, "").withStrategy(strategy);
        final RunResult r = new MmuEngine().run(s, ProgressListener.NONE);
        assertTrue(r.ok(), r.violations().toString());
        assertEquals(s.steps().stream().map(st -> st.name()).toList(), r.phases().stream().map(PhaseResult::name).toList());
        final PhaseResult second = r.phase("second-pass").orElseThrow();
        // 16 MiB of 2 MiB pages: 8 huge pages. Promotion leaves nothing to fault; a zap one per page.
        assertEquals(strategy == RecoveryStrategy.PROMOTE_IN_PLACE ? 0 : 8, second.counter("vmexit"));
        assertTrue(r.phase("populate").orElseThrow().counter("fault.installed") >= 8);
        assertTrue(r.phase("dirty-pass-1").orElseThrow().faultLatency() != null || "dbit".equals(mode));
    }

    @ParameterizedTest
    @CsvSource({"migrate", "invalidate"})
    void hostEventsRacingTheDirtyPassesLoseNothing(final String kind) throws Exception
    {
        final Scenario s = scenario("wrprot", false, "get",
            "host:\n  - { kind: " + kind + ", during: all, ratePerSecond: 2000, pagesPerEvent: 512 }\n");
        final RunResult r = new MmuEngine().run(s, ProgressListener.NONE);
        assertTrue(r.ok(), r.violations().toString());
        final long invalidations = r.totals().getOrDefault("invalidation", 0L);
        assertTrue(invalidations > 0, "the host events ran: " + r.totals());
    }
}
