package org.tdpmmu.scenarios.engine;

import java.util.Arrays;
import java.util.Objects;

/**
 * Guest accesses and faults of a run over time: the cumulative totals over all vCPUs, sampled at
 * a fixed interval from the start of the run, with the time each step started and ended on the
 * same clock. Rates (accesses/s, faults/s) are differences of neighbouring samples.
 *
 * <p>Sample 0 is at time 0 with the counts the vCPUs had then (0 for a fresh VM). Times are
 * non-decreasing; counts never decrease. A run longer than {@code capacity × interval} keeps every
 * other sample and doubles the interval (as often as needed), so the memory stays bounded and the
 * whole run stays covered; {@code intervalNanos} is the interval at the end of the run.
 *
 * @param intervalNanos  the sampling interval the samples were taken at (after any halving)
 * @param timeNanos      per sample, ns since the start of the run
 * @param accesses       per sample, guest reads and writes issued so far, over all vCPUs
 * @param faults         per sample, EPT violations handled so far (every outcome), over all vCPUs
 * @param stepStartNanos per step (index = step index, as {@link RunResult#phases()}), when it started
 * @param stepEndNanos   per step, when it ended
 */
public record Timeline(long intervalNanos, long[] timeNanos, long[] accesses, long[] faults,
                       long[] stepStartNanos, long[] stepEndNanos) {

    public Timeline {
        if (intervalNanos <= 0) {
            throw new IllegalArgumentException("intervalNanos=" + intervalNanos + " must be > 0");
        }
        timeNanos = timeNanos.clone();
        accesses = accesses.clone();
        faults = faults.clone();
        if (accesses.length != timeNanos.length || faults.length != timeNanos.length) {
            throw new IllegalArgumentException("samples differ in length: time " + timeNanos.length
                    + ", accesses " + accesses.length + ", faults " + faults.length);
        }
        stepStartNanos = stepStartNanos.clone();
        stepEndNanos = stepEndNanos.clone();
        if (stepEndNanos.length != stepStartNanos.length) {
            throw new IllegalArgumentException("step starts " + stepStartNanos.length + " != step ends "
                    + stepEndNanos.length);
        }
    }

    /** The number of samples. */
    public int size() {
        return timeNanos.length;
    }

    @Override
    public long[] timeNanos() {
        return timeNanos.clone();
    }

    @Override
    public long[] accesses() {
        return accesses.clone();
    }

    @Override
    public long[] faults() {
        return faults.clone();
    }

    @Override
    public long[] stepStartNanos() {
        return stepStartNanos.clone();
    }

    @Override
    public long[] stepEndNanos() {
        return stepEndNanos.clone();
    }

    /** Sample {@code i}'s time (no copy). */
    public long timeAt(int i) {
        return timeNanos[i];
    }

    /** Sample {@code i}'s accesses (no copy). */
    public long accessesAt(int i) {
        return accesses[i];
    }

    /** Sample {@code i}'s faults (no copy). */
    public long faultsAt(int i) {
        return faults[i];
    }

    /** When step {@code index} started, ns since the start of the run. */
    public long stepStart(int index) {
        return stepStartNanos[index];
    }

    /** When step {@code index} ended. */
    public long stepEnd(int index) {
        return stepEndNanos[index];
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Timeline t && t.intervalNanos == intervalNanos && Arrays.equals(t.timeNanos, timeNanos)
                && Arrays.equals(t.accesses, accesses) && Arrays.equals(t.faults, faults)
                && Arrays.equals(t.stepStartNanos, stepStartNanos) && Arrays.equals(t.stepEndNanos, stepEndNanos);
    }

    @Override
    public int hashCode() {
        return Objects.hash(intervalNanos, Arrays.hashCode(timeNanos), Arrays.hashCode(accesses),
                Arrays.hashCode(faults), Arrays.hashCode(stepStartNanos));
    }

    @Override
    public String toString() {
        return "Timeline[" + timeNanos.length + " samples every " + intervalNanos + " ns, " + stepStartNanos.length
                + " steps]";
    }
}
