package org.tdpmmu.scenarios.report;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.HdrHistogram.Histogram;
import org.tdpmmu.scenarios.engine.PhaseResult;
import org.tdpmmu.scenarios.engine.RunResult;

/** The derived figures the reports show, computed from a {@link RunResult}. */
public final class Metrics {

    /** The latency percentiles the reports show, in order, with their labels. */
    public static final Map<String, Double> PERCENTILES;

    static {
        Map<String, Double> m = new LinkedHashMap<>();
        m.put("p50", 50.0);
        m.put("p90", 90.0);
        m.put("p99", 99.0);
        m.put("p99.9", 99.9);
        m.put("max", 100.0);
        PERCENTILES = java.util.Collections.unmodifiableMap(m);
    }

    /** The name prefix of the step that disables dirty logging. */
    public static final String DISABLE_STEP = "disable-dirty-logging";

    private Metrics() {
    }

    /** The index of the first disable-dirty-logging step, or -1. */
    public static int disableIndex(RunResult run) {
        for (int i = 0; i < run.phases().size(); i++) {
            if (run.phases().get(i).name().startsWith(DISABLE_STEP)) {
                return i;
            }
        }
        return -1;
    }

    /** The first disable-dirty-logging step. */
    public static Optional<PhaseResult> disableStep(RunResult run) {
        int i = disableIndex(run);
        return i < 0 ? Optional.empty() : Optional.of(run.phases().get(i));
    }

    /**
     * Faults taken from the start of the first disable step to the end of the run — what the recovery
     * strategy left for vCPUs to refault (vCPUs running during disable, {@code -e}, count too).
     */
    public static Optional<Long> faultsAfterDisable(RunResult run) {
        int i = disableIndex(run);
        if (i < 0) {
            return Optional.empty();
        }
        long sum = 0;
        for (PhaseResult p : run.phases().subList(i, run.phases().size())) {
            sum += p.faults();
        }
        return Optional.of(sum);
    }

    /** {@code tlb.flush.requests} of the disable step. */
    public static Optional<Long> tlbFlushesAtDisable(RunResult run) {
        return disableStep(run).map(p -> p.counter("tlb.flush.requests"));
    }

    /** {@code tlb.flush.vcpus} of the disable step. */
    public static Optional<Long> vcpusFlushedAtDisable(RunResult run) {
        return disableStep(run).map(p -> p.counter("tlb.flush.vcpus"));
    }

    /** Every step's fault latency merged, or empty when no step recorded one. */
    public static Optional<Histogram> faultLatency(RunResult run) {
        return merge(run.phases());
    }

    /** The histograms of {@code phases} merged, or empty when none has one. */
    public static Optional<Histogram> merge(List<PhaseResult> phases) {
        List<Histogram> hs = new ArrayList<>();
        for (PhaseResult p : phases) {
            if (p.faultLatency() != null && p.faultLatency().getTotalCount() > 0) {
                hs.add(p.faultLatency());
            }
        }
        if (hs.isEmpty()) {
            return Optional.empty();
        }
        Histogram merged = new Histogram(3);
        hs.forEach(merged::add);
        return Optional.of(merged);
    }

    /** The {@link #PERCENTILES} of {@code h}, in ns. */
    public static Map<String, Long> percentiles(Histogram h) {
        Map<String, Long> m = new LinkedHashMap<>();
        PERCENTILES.forEach((label, pct) ->
                m.put(label, pct >= 100.0 ? h.getMaxValue() : h.getValueAtPercentile(pct)));
        return m;
    }

    /** What the columns of a comparison are: "kernel release" (compare --kernels) or "recovery strategy". */
    public static String axis(List<RunResult> runs) {
        return runs.stream().anyMatch(r -> r.kernel() != null) ? "kernel release" : "recovery strategy";
    }

    /** The run's label in multi-run reports: the kernel release (compare --kernels), else the strategy, else the scenario name. */
    public static String label(RunResult run) {
        if (run.kernel() != null) {
            return run.kernel();
        }
        return run.strategy() != null ? run.strategy().yamlName() : run.scenarioName();
    }

    /** Labels for {@code runs}, made unique by appending {@code #2}, {@code #3}, ... */
    public static List<String> labels(List<RunResult> runs) {
        List<String> out = new ArrayList<>();
        for (RunResult r : runs) {
            String l = label(r);
            String u = l;
            for (int n = 2; out.contains(u); n++) {
                u = l + " #" + n;
            }
            out.add(u);
        }
        return out;
    }

    /** The step names of all runs, in first-seen order. */
    public static List<String> stepNames(List<RunResult> runs) {
        List<String> names = new ArrayList<>();
        for (RunResult r : runs) {
            for (PhaseResult p : r.phases()) {
                if (!names.contains(p.name())) {
                    names.add(p.name());
                }
            }
        }
        return names;
    }

    /** The highest peak of live tables over the run's steps. */
    public static long peakLiveTables(RunResult run) {
        return run.phases().stream().mapToLong(PhaseResult::peakLiveTables).max().orElse(0);
    }
}
