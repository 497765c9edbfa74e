package org.tdpmmu.scenarios.sim;

import org.tdpmmu.core.FaultInjection;
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
    private final FaultInjection faults;

    /** The engine the CLI finds: no fault injection. */
    public MmuEngine()
    {
        this(FaultInjection.NONE);
    }

    private MmuEngine(final FaultInjection faults)
    {
        this.faults = faults;
    }

    /**
     * An engine whose runs fail the allocation {@code faults} picks (tests only: the CLI reaches no
     * such engine). A run that cannot allocate stops in order and {@link #run} throws
     * {@link org.tdpmmu.core.ResourceExhaustedException} (see {@link ScenarioRun}).
     */
    public static MmuEngine withFaultInjection(final FaultInjection faults)
    {
        return new MmuEngine(java.util.Objects.requireNonNull(faults, "faults"));
    }

    /**
     * @throws org.tdpmmu.core.ResourceExhaustedException when the run stopped for lack of a page
     *         table or host page with every safety check holding on what was done (CLI: exit 4).
     */
    @Override
    public RunResult run(final Scenario scenario, final ProgressListener progress) throws Exception
    {
        try (ScenarioRun run = new ScenarioRun(scenario, progress, faults))
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
