package org.tdpmmu.scenarios.model;

import java.util.Objects;

/**
 * One unit of work an engine runs and reports as one {@link org.tdpmmu.scenarios.engine.PhaseResult}
 * of the same {@code name}.
 *
 * <p>Names: {@code populate}, {@code enable-dirty-logging}, {@code dirty-pass-N},
 * {@code get-dirty-log-N}, {@code clear-dirty-log-N}, {@code disable-dirty-logging},
 * {@code second-pass}, {@code teardown}. {@code dirty-pass-N} counts dirty-pass iterations over the
 * whole scenario from 1; {@code get-dirty-log-N}/{@code clear-dirty-log-N} count harvests (those of
 * dirty passes and standalone ones) from 1. A non-numbered name that would repeat gets {@code -2},
 * {@code -3}, ... on its second, third, ... occurrence ({@code enable-dirty-logging-2}).
 *
 * @param name       unique within the scenario
 * @param kind       what to do
 * @param phase      the parameters: the {@link Phase.DirtyPass} of a dirty-pass step, a
 *                   {@link Phase.Harvest} (synthesized for a dirty pass's harvests) for get/clear
 *                   steps, the phase itself otherwise
 * @param index      1-based: the iteration of a dirty pass, the harvest number of a get/clear step,
 *                   the occurrence of other kinds
 * @param phaseIndex position of the originating phase in {@link Scenario#phases()}
 */
public record Step(String name, StepKind kind, Phase phase, int index, int phaseIndex) {

    public Step {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(kind, "kind");
        Objects.requireNonNull(phase, "phase");
    }
}
