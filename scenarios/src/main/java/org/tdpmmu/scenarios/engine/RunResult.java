package org.tdpmmu.scenarios.engine;

import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import org.tdpmmu.scenarios.model.RecoveryStrategy;

/**
 * The outcome of one run of a scenario.
 *
 * @param scenarioName the scenario's name
 * @param strategy     the recovery strategy the disable step used; null if the scenario never disables
 *                     dirty logging
 * @param phases       one result per step, in step order
 * @param violations   safety violations found; empty when the run was safe
 * @param timeline     accesses and faults over time, with the steps' start and end; null when the
 *                     engine does not sample them
 */
public record RunResult(String scenarioName, RecoveryStrategy strategy, List<PhaseResult> phases,
                        List<Violation> violations, Timeline timeline) {

    public RunResult {
        Objects.requireNonNull(scenarioName, "scenarioName");
        phases = List.copyOf(phases);
        violations = List.copyOf(violations);
        if (timeline != null && timeline.stepStartNanos().length != phases.size()) {
            throw new IllegalArgumentException("timeline has " + timeline.stepStartNanos().length
                    + " steps, the run " + phases.size());
        }
    }

    /** A run without a timeline. */
    public RunResult(String scenarioName, RecoveryStrategy strategy, List<PhaseResult> phases,
                     List<Violation> violations) {
        this(scenarioName, strategy, phases, violations, null);
    }

    /** The timeline, if the engine sampled one. */
    public Optional<Timeline> timelineIfAny() {
        return Optional.ofNullable(timeline);
    }

    /** True when no safety property was violated. */
    public boolean ok() {
        return violations.isEmpty();
    }

    /** The result of the step {@code name}. */
    public Optional<PhaseResult> phase(String name) {
        return phases.stream().filter(p -> p.name().equals(name)).findFirst();
    }

    /** Every counter summed over all steps, sorted by name. */
    public Map<String, Long> totals() {
        Map<String, Long> m = new TreeMap<>();
        for (PhaseResult p : phases) {
            p.counters().forEach((k, v) -> m.merge(k, v, Long::sum));
        }
        return m;
    }

    /** Wall time summed over all steps. */
    public long totalWallNanos() {
        return phases.stream().mapToLong(PhaseResult::wallNanos).sum();
    }

    /** Modeled time summed over all steps (saturating). */
    public long totalModeledNanos() {
        long sum = 0;
        for (PhaseResult p : phases) {
            sum = sum > Long.MAX_VALUE - p.modeledNanos() ? Long.MAX_VALUE : sum + p.modeledNanos();
        }
        return sum;
    }
}
