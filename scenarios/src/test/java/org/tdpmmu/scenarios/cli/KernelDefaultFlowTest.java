package org.tdpmmu.scenarios.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;
import org.tdpmmu.scenarios.load.ScenarioLoader;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.support.Shipped;

/** kernel-default-flow.yaml is what {@code perf} builds from the 2021 figure's command line. */
class KernelDefaultFlowTest {

    @Test
    void theShippedFileIsPerfWithThe2021Flags() {
        Scenario perf = PerfCommandTest.parse("-v", "96", "-s", "anonymous_hugetlb_1gb");
        Scenario file = ScenarioLoader.load(Shipped.path("kernel-default-flow.yaml"));
        assertEquals(perf.vm(), file.vm());
        assertEquals(perf.phases(), file.phases());
        assertEquals(perf.costModel(), file.costModel());
        assertEquals(perf.host(), file.host());
    }
}
