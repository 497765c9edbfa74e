package org.tdpmmu.scenarios.engine;

/**
 * Told how far a run has got, to draw a progress bar. Engines call {@link #phaseStarted} when a step
 * starts, {@link #advanced} as work units (pages, typically) complete — from any thread, so
 * implementations must be thread-safe and cheap — and {@link #phaseEnded} when the step ends.
 */
public interface ProgressListener {

    /** Does nothing. */
    ProgressListener NONE = new ProgressListener() {
        @Override
        public void phaseStarted(String name, long totalUnits) {
        }

        @Override
        public void advanced(long units) {
        }

        @Override
        public void phaseEnded() {
        }
    };

    /**
     * @param name       the step name ({@code dirty-pass-1})
     * @param totalUnits the units the step will report, or 0 if unknown
     */
    void phaseStarted(String name, long totalUnits);

    /** {@code units} more units are done. */
    void advanced(long units);

    /** The current step is over. */
    void phaseEnded();
}
