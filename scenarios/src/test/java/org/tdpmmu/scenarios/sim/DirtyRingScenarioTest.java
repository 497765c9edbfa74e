package org.tdpmmu.scenarios.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.tdpmmu.scenarios.engine.PhaseResult;
import org.tdpmmu.scenarios.engine.ProgressListener;
import org.tdpmmu.scenarios.engine.RunResult;
import org.tdpmmu.scenarios.load.ScenarioLoader;
import org.tdpmmu.scenarios.model.DirtyTracking;
import org.tdpmmu.scenarios.model.HarvestMethod;
import org.tdpmmu.scenarios.model.Phase;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.model.ScenarioException;

/**
 * Ring tracking in scenarios: the loader's fields and checks, the collect and reset steps, and a
 * run whose rings fill mid-pass (the vCPUs reap them) with every dirty page reported once.
 */
class DirtyRingScenarioTest
{
    private static final String YAML = """
        name: ring
        vm:
          vcpus: 2
          memoryPerVcpu: %s
          memslots: 1
          backing: anonymous
        phases:
          - populate: {}
          - enableDirtyLogging: { mode: %s%s }
          - dirtyPass: { iterations: 2, writePercent: 100, pattern: random, seed: 3%s }
          - disableDirtyLogging: { strategy: zap_leafs }
          - teardown: {}
        """;

    private static Scenario scenario(final String memory, final String mode, final String enable, final String pass)
    {
        return ScenarioLoader.parse(YAML.formatted(memory, mode, enable, pass), "ring.yaml");
    }

    @Test
    void ringTrackingHarvestsWithCollectAndResetSteps()
    {
        final Scenario s = scenario("4M", "wrprot", ", tracking: ring, ringEntries: 2048", "");
        final Phase.EnableDirtyLogging e = (Phase.EnableDirtyLogging)s.phases().get(1);
        assertEquals(DirtyTracking.RING, e.tracking());
        assertEquals(2048, e.ringEntries());
        assertEquals(2048, s.dirtyRingEntries());
        assertEquals(HarvestMethod.RING, s.harvestMethod().orElseThrow());
        assertEquals(List.of("populate", "enable-dirty-logging", "dirty-pass-1", "collect-dirty-ring-1", "reset-dirty-rings-1",
            "dirty-pass-2", "collect-dirty-ring-2", "reset-dirty-rings-2", "disable-dirty-logging", "teardown"),
            s.steps().stream().map(st -> st.name()).toList());
        assertEquals(s.steps().size(), s.stepCount());
        assertEquals(4096, ((Phase.EnableDirtyLogging)scenario("4M", "wrprot", ", tracking: ring", "").phases().get(1))
            .ringEntries(), "default ring size");
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        ", tracking: ring, ringEntries: 3000|                 |not a power of two",
        ", tracking: ring, ringEntries: 512 |                 |out of range",
        ", ringEntries: 2048                |                 |only allowed with tracking: ring",
        ", tracking: ring                   |, harvest: get   |harvests with the ring method",
        "                                   |, harvest: ring  |needs tracking: ring",
        ", tracking: ring, initiallySet: true|                |requires the clear harvest method"})
    void badRingFieldsAreRefusedNamingTheField(final String enable, final String pass, final String message)
    {
        final ScenarioException e = assertThrows(ScenarioException.class,
            () -> scenario("4M", "wrprot", enable == null ? "" : enable, pass == null ? "" : pass));
        assertTrue(e.getMessage().contains(message), e.getMessage());
        assertTrue(e.getMessage().contains("ring.yaml"), e.getMessage());
    }

    @ParameterizedTest
    @CsvSource({"wrprot", "dbit"})
    void aRunWhoseRingsFillMidPassReportsEveryPageOnce(final String mode) throws Exception
    {
        // 2 x 8 MiB of 4 KiB pages = 4096 pages, rings of 1024 with a soft limit of 448: each vCPU
        // fills its ring several times per pass.
        final Scenario s = scenario("8M", mode, ", tracking: ring, ringEntries: 1024", "");
        final RunResult r = new MmuEngine().run(s, ProgressListener.NONE);
        assertTrue(r.ok(), r.violations().toString());
        final PhaseResult pass = r.phase("dirty-pass-2").orElseThrow();
        assertTrue(pass.counter("ring.full.exits") > 0, "the rings filled mid-pass");
        assertTrue(pass.counter("ring.pushed") >= 2048, "every page of both vCPUs pushed: " + pass.counter("ring.pushed"));
        assertTrue(r.phase("reset-dirty-rings-2").orElseThrow().counter("ring.reset") > 0);
    }
}
