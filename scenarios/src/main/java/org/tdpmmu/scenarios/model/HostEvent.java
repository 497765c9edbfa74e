package org.tdpmmu.scenarios.model;

import java.util.Objects;

/**
 * Host activity racing the scenario's steps: a host thread issues events at {@code ratePerSecond}
 * (of wall-clock time in the simulator) for as long as a matching step runs, each over
 * {@code pagesPerEvent} contiguous 4 KiB guest frames chosen at random (from {@code seed}) within one
 * slot.
 *
 * @param kind          migrate or invalidate
 * @param during        the phase key whose steps the events race ({@code dirtyPass} races the passes,
 *                      {@code harvest} races every get/clear step, including those of dirty passes),
 *                      or {@code all}
 * @param ratePerSecond events per second, {@code > 0}
 * @param pagesPerEvent 4 KiB frames per event, at least 1, at most the smallest slot
 * @param seed          seed of the range choice
 */
public record HostEvent(HostEventKind kind, String during, double ratePerSecond, long pagesPerEvent, long seed) {

    /** The value of {@code during} that matches every step except teardown. */
    public static final String ALL = "all";

    public HostEvent {
        Objects.requireNonNull(kind, "kind");
        Objects.requireNonNull(during, "during");
        if (!(ratePerSecond > 0) || pagesPerEvent < 1) {
            throw new IllegalArgumentException("rate " + ratePerSecond + ", pages " + pagesPerEvent);
        }
    }

    /** Whether these events race {@code step}. */
    public boolean appliesTo(Step step) {
        if (step.kind() == StepKind.TEARDOWN) {
            return false;
        }
        return during.equals(ALL) || during.equals(step.kind().phaseYamlName());
    }
}
