package org.tdpmmu.scenarios.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.tdpmmu.scenarios.engine.PhaseResult;
import org.tdpmmu.scenarios.engine.ProgressListener;
import org.tdpmmu.scenarios.engine.RunResult;
import org.tdpmmu.scenarios.load.ScenarioLoader;
import org.tdpmmu.scenarios.model.Phase;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.model.ScenarioException;
import org.tdpmmu.scenarios.support.Shipped;

/**
 * The {@code age} phase: its fields and steps, and what it finds: every page young after the
 * populate, every page idle when nothing ran since the last age, young again after a pass that
 * walked; in both locking modes.
 */
class AgePhaseTest
{
    private static final String YAML = """
        name: age
        vm:
          vcpus: 2
          memoryPerVcpu: 4M
          backing: anonymous
          locklessAging: %s
        phases:
          - populate
          - age
          - age: { pagesPerCall: 1 }
          - secondPass: { writePercent: 0 }
          - age: { flush: true, pagesPerCall: 4096 }
          - teardown
        """;

    /** 2 vCPUs x 4 MiB of 4 KiB pages. */
    private static final long PAGES = 2048;

    @Test
    void fieldsAndSteps()
    {
        final Scenario s = ScenarioLoader.parse(YAML.formatted("false"), "age.yaml");
        assertEquals(new Phase.Age(false, 512), s.phases().get(1));
        assertEquals(new Phase.Age(false, 1), s.phases().get(2));
        assertEquals(new Phase.Age(true, 4096), s.phases().get(4));
        assertEquals(List.of("populate", "age", "age-2", "second-pass", "age-3", "teardown"),
            s.steps().stream().map(st -> st.name()).toList());
        assertEquals(s.steps().size(), s.stepCount());
    }

    @Test
    void badFieldsNameTheFieldAndTheRange()
    {
        final ScenarioException zero = assertThrows(ScenarioException.class,
            () -> ScenarioLoader.parse(YAML.formatted("false").replace("pagesPerCall: 1 }", "pagesPerCall: 0 }"), "age.yaml"));
        assertTrue(zero.getMessage().contains("pagesPerCall"), zero.getMessage());
        final ScenarioException unknown = assertThrows(ScenarioException.class,
            () -> ScenarioLoader.parse(YAML.formatted("false").replace("{ flush: true,", "{ test: true,"), "age.yaml"));
        assertTrue(unknown.getMessage().contains("flush"), "lists the allowed fields: " + unknown.getMessage());
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void youngThenIdleThenYoungAgain(final boolean lockless) throws Exception
    {
        final RunResult r = new MmuEngine().run(ScenarioLoader.parse(YAML.formatted(lockless), "age.yaml"),
            ProgressListener.NONE);
        assertTrue(r.ok(), r.violations().toString());
        final PhaseResult first = r.phase("age").orElseThrow();
        assertEquals(PAGES, first.counter("age.young"), "populate's walks set A on every leaf");
        assertEquals(0, first.counter("age.idle"));
        final PhaseResult second = r.phase("age-2").orElseThrow();
        assertEquals(0, second.counter("age.young"), "nothing ran since the first age");
        assertEquals(PAGES, second.counter("age.idle"));
        final PhaseResult third = r.phase("age-3").orElseThrow();
        // The read pass misses its 64-entry TLB on nearly every page, so its walks set A again;
        // the pages still cached from before the first age stay idle (no flush cleared them).
        assertTrue(third.counter("age.young") >= PAGES - 2 * 64, "young again: " + third.counter("age.young"));
        assertEquals(PAGES, third.counter("age.young") + third.counter("age.idle"));
    }

    @Test
    void theShippedAgingScenarioRunsClean() throws Exception
    {
        final Scenario s = ScenarioLoader.load(Shipped.path("aging.yaml"));
        final RunResult r = new MmuEngine().run(s, ProgressListener.NONE);
        assertTrue(r.ok(), r.violations().toString());
        final long pages = s.vm().totalPages();
        assertEquals(pages, r.phase("age").orElseThrow().counter("age.young"));
        assertEquals(pages, r.phase("age-2").orElseThrow().counter("age.idle"));
    }
}
