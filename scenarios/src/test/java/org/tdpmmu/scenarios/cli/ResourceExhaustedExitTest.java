package org.tdpmmu.scenarios.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tdpmmu.core.FaultInjection;
import org.tdpmmu.core.ResourceExhaustedException;
import org.tdpmmu.scenarios.engine.FakeEngine;
import org.tdpmmu.scenarios.sim.MmuEngine;

/**
 * An orderly stop for lack of memory (issue 14.8) is one line on stderr and exit 4, never 1 (a
 * safety violation) and never a stack trace. The failing engine is passed in as tests pass any
 * engine: the CLI itself has no option that arms fault injection.
 */
class ResourceExhaustedExitTest {

    private static final String TINY = """
            name: tiny
            vm: { vcpus: 2, memoryPerVcpu: 4M, memslots: 1, backing: anonymous_hugetlb_2mb }
            phases:
              - populate: {}
              - enableDirtyLogging: { mode: wrprot, eagerSplit: false }
              - dirtyPass: { iterations: 1, writePercent: 100, pattern: sequential, seed: 1, harvest: get }
              - disableDirtyLogging: { strategy: promote_in_place }
              - teardown: {}
            """;

    private static void assertOneLine(String err) {
        assertEquals(1, err.lines().count(), () -> "one line on stderr: " + err);
        assertFalse(err.contains("\tat "), err);
    }

    @Test
    void aRunThatCannotAllocateAPageTableStopsWithOneLineAndExitFour(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("tiny.yaml");
        Files.writeString(file, TINY);
        // Table #1 is the root, #2.. the first fault's top-up: the populate step stops.
        MmuEngine engine = MmuEngine.withFaultInjection(FaultInjection.failNth(FaultInjection.Site.PAGE_TABLE, 3));
        CliHarness.Outcome o = CliHarness.run(engine, "run", file.toString());
        assertEquals(ExitCodes.ENGINE_FAILED, o.exitCode(), o.err());
        assertOneLine(o.err());
        assertTrue(o.err().startsWith("tdpmmu: run stopped in step populate on vCPU "), o.err());
        assertTrue(o.err().contains("page-table allocation #3 failed") && o.err().contains("every check held"), o.err());
    }

    @Test
    void anyEngineThrowingItMapsToExitFour() {
        CliHarness.Outcome o = CliHarness.run(FakeEngine.failing(new ResourceExhaustedException("host memory exhausted")),
                "run", org.tdpmmu.scenarios.support.Shipped.path("small-default.yaml").toString());
        assertEquals(ExitCodes.ENGINE_FAILED, o.exitCode());
        assertEquals("tdpmmu: host memory exhausted", o.err().strip());
    }
}
