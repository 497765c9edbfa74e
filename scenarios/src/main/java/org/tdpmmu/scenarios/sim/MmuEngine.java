package org.tdpmmu.scenarios.sim;

import org.tdpmmu.scenarios.engine.ProgressListener;
import org.tdpmmu.scenarios.engine.RunResult;
import org.tdpmmu.scenarios.engine.ScenarioEngine;
import org.tdpmmu.scenarios.model.Scenario;

/**
 * The scenario engine over mmu-core: one thread per vCPU, as dirty_log_perf_test runs them, driven
 * step by step; registered through {@code META-INF/services} so the CLI finds it.
 */
public final class MmuEngine implements ScenarioEngine
{
    @Override
    public RunResult run(final Scenario scenario, final ProgressListener progress) throws Exception
    {
        try (ScenarioRun run = new ScenarioRun(scenario, progress))
        {
            return run.execute();
        }
    }

    @Override
    public String name()
    {
        return "mmu-core";
    }
}
