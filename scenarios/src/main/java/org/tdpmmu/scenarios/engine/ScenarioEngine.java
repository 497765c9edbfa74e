package org.tdpmmu.scenarios.engine;

import org.tdpmmu.scenarios.model.Scenario;

/**
 * Runs a scenario against an MMU and measures it — the part of dirty_log_perf_test that creates the
 * VM, runs the vCPU threads and times each stage. The CLI, the loader and the reports know nothing of
 * the MMU; the implementation (over mmu-core) is found through {@link EngineProvider}.
 *
 * <h2>Contract</h2>
 * <ul>
 * <li>Run {@link Scenario#steps()} in order and return one {@link PhaseResult} per step, with the
 *     step's name, in the same order (a run that stops early returns the steps it ran and a
 *     {@link Violation} or throws).</li>
 * <li>Counters in a {@code PhaseResult} are deltas over that step. Names are open-ended; the ones the
 *     reports read are listed in {@link PhaseResult}. {@code modeledNanos} is
 *     {@code scenario.costModel().modeledNanos(counters)}.</li>
 * <li>Host events ({@link Scenario#host()}) race the steps they apply to
 *     ({@link org.tdpmmu.scenarios.model.HostEvent#appliesTo}).</li>
 * <li>Check the safety properties of docs/DESIGN.md and report each failure as a {@link Violation}
 *     rather than throwing; throw only when the engine itself fails.</li>
 * <li>Report progress through {@code progress} for long steps; it may be called from any thread.</li>
 * <li>An engine may be called several times (the {@code compare} command runs a scenario once per
 *     strategy), never concurrently by the CLI.</li>
 * </ul>
 */
@FunctionalInterface
public interface ScenarioEngine {

    /**
     * Runs {@code scenario}.
     *
     * @param scenario a validated scenario
     * @param progress told when each step starts, advances and ends; never null
     * @return the measurements and the safety violations found
     * @throws Exception when the engine cannot run the scenario (not for safety violations)
     */
    RunResult run(Scenario scenario, ProgressListener progress) throws Exception;

    /** A name for reports ({@code "mmu-core 0.1"}); defaults to the class's simple name. */
    default String name() {
        return getClass().getSimpleName();
    }
}
