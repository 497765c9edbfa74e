package org.tdpmmu.scenarios.engine;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import org.HdrHistogram.Histogram;
import org.tdpmmu.scenarios.model.RecoveryStrategy;

/**
 * The outcome of one run of a scenario, or of several repeats of it merged ({@link #merge}).
 *
 * @param scenarioName the scenario's name
 * @param strategy     the recovery strategy the disable step used; null if the scenario never disables
 *                     dirty logging
 * @param phases       one result per step, in step order; for merged repeats, each step's wall time is
 *                     the median over the repeats (see {@link #merge})
 * @param violations   safety violations found; empty when the run was safe
 * @param timeline     accesses and faults over time, with the steps' start and end; null when the
 *                     engine does not sample them (for merged repeats: the median run's)
 * @param repeats      the individual runs this result merges, in the order they ran; empty for a
 *                     single run
 * @param kernel       the kernel preset this result stands for in a comparison across releases
 *                     ({@code compare --kernels}), e.g. "6.12"; null otherwise
 */
public record RunResult(String scenarioName, RecoveryStrategy strategy, List<PhaseResult> phases,
                        List<Violation> violations, Timeline timeline, List<RunResult> repeats, String kernel) {

    public RunResult {
        Objects.requireNonNull(scenarioName, "scenarioName");
        phases = List.copyOf(phases);
        violations = List.copyOf(violations);
        if (timeline != null && timeline.stepStartNanos().length != phases.size()) {
            throw new IllegalArgumentException("timeline has " + timeline.stepStartNanos().length
                    + " steps, the run " + phases.size());
        }
        repeats = repeats == null ? List.of() : List.copyOf(repeats);
    }

    /** Not labelled by a kernel release. */
    public RunResult(String scenarioName, RecoveryStrategy strategy, List<PhaseResult> phases,
                     List<Violation> violations, Timeline timeline, List<RunResult> repeats) {
        this(scenarioName, strategy, phases, violations, timeline, repeats, null);
    }

    /** This result, and each of its repeats, labelled as the run of kernel preset {@code release}. */
    public RunResult withKernel(String release) {
        List<RunResult> rs = new ArrayList<>();
        repeats.forEach(r -> rs.add(r.withKernel(release)));
        return new RunResult(scenarioName, strategy, phases, violations, timeline, rs, release);
    }

    /** A single run with a timeline (or null). */
    public RunResult(String scenarioName, RecoveryStrategy strategy, List<PhaseResult> phases,
                     List<Violation> violations, Timeline timeline) {
        this(scenarioName, strategy, phases, violations, timeline, List.of());
    }

    /** The timeline, if the engine sampled one. */
    public Optional<Timeline> timelineIfAny() {
        return Optional.ofNullable(timeline);
    }

    /** A single run without a timeline. */
    public RunResult(String scenarioName, RecoveryStrategy strategy, List<PhaseResult> phases,
                     List<Violation> violations) {
        this(scenarioName, strategy, phases, violations, null, List.of());
    }

    /** The median, the smallest and the largest of a measured figure over the repeats. */
    public record Spread(long median, long min, long max, int n) {

        /** The spread of {@code values} (at least one). */
        public static Spread of(long[] values) {
            if (values.length == 0) {
                throw new IllegalArgumentException("no values");
            }
            long[] v = values.clone();
            Arrays.sort(v);
            int m = v.length / 2;
            long median = v.length % 2 == 1 ? v[m] : v[m - 1] + (v[m] - v[m - 1]) / 2;
            return new Spread(median, v[0], v[v.length - 1], v.length);
        }
    }

    /**
     * Repeats of the same scenario and strategy merged into one result. Each step's wall time is
     * the median over the repeats that have the step (spread: {@link #wallSpread}); counters,
     * modeled time, per-vCPU times, peak tables and off-heap bytes are those of the repeat whose
     * total wall time is the median (modeled time and counters are expected to be equal in every
     * repeat; {@link #repeatDifferences} lists where they are not); fault latencies are every
     * repeat's merged; violations are every repeat's, with the repeat named when there are several.
     */
    public static RunResult merge(List<RunResult> runs) {
        if (runs.isEmpty()) {
            throw new IllegalArgumentException("no runs to merge");
        }
        if (runs.size() == 1) {
            return runs.get(0);
        }
        RunResult first = runs.get(0);
        for (RunResult r : runs) {
            if (!r.scenarioName.equals(first.scenarioName) || r.strategy != first.strategy) {
                throw new IllegalArgumentException("cannot merge runs of " + first.scenarioName + "/" + first.strategy
                        + " with " + r.scenarioName + "/" + r.strategy);
            }
        }
        List<RunResult> byTotal = new ArrayList<>(runs);
        byTotal.sort(Comparator.comparingLong(RunResult::totalWallNanos));
        RunResult rep = byTotal.get((byTotal.size() - 1) / 2);
        List<PhaseResult> phases = new ArrayList<>();
        for (PhaseResult p : rep.phases) {
            List<Histogram> hs = new ArrayList<>();
            for (RunResult r : runs) {
                r.phase(p.name()).map(PhaseResult::faultLatency).ifPresent(hs::add);
            }
            Histogram h = null;
            if (!hs.isEmpty()) {
                h = new Histogram(3);
                hs.forEach(h::add);
            }
            phases.add(new PhaseResult(p.name(), wallsOf(runs, p.name()).median(), p.perVcpuNanos(),
                    p.modeledNanos(), p.counters(), h, p.peakLiveTables(), p.offHeapBytes()));
        }
        List<Violation> violations = new ArrayList<>();
        for (int i = 0; i < runs.size(); i++) {
            for (Violation v : runs.get(i).violations) {
                violations.add(new Violation(v.property(), "(repeat " + (i + 1) + ") " + v.message()));
            }
        }
        return new RunResult(first.scenarioName, first.strategy, phases, violations, rep.timeline, runs, first.kernel);
    }

    /** The individual runs: {@link #repeats}, or this result alone. */
    public List<RunResult> runs() {
        return repeats.isEmpty() ? List.of(this) : repeats;
    }

    /** The wall time of step {@code name} over the repeats; empty if no repeat has the step. */
    public Optional<Spread> wallSpread(String name) {
        if (phase(name).isEmpty()) {
            return Optional.empty();
        }
        return Optional.of(wallsOf(runs(), name));
    }

    /** The total wall time over the repeats. */
    public Spread totalWallSpread() {
        return Spread.of(runs().stream().mapToLong(RunResult::totalWallNanos).toArray());
    }

    private static Spread wallsOf(List<RunResult> runs, String name) {
        return Spread.of(runs.stream().map(r -> r.phase(name)).filter(Optional::isPresent)
                .mapToLong(p -> p.get().wallNanos()).toArray());
    }

    /**
     * Where the repeats disagree on what should be exact: per step, a counter or the modeled time
     * that is not the same in every repeat, as {@code step counter: min..max}; also a step list or
     * a verdict that differs. Empty for a single run or when every repeat counted the same.
     */
    public List<String> repeatDifferences() {
        List<String> out = new ArrayList<>();
        List<RunResult> rs = runs();
        if (rs.size() < 2) {
            return out;
        }
        List<String> steps = rs.get(0).phases.stream().map(PhaseResult::name).toList();
        for (RunResult r : rs) {
            if (!r.phases.stream().map(PhaseResult::name).toList().equals(steps)) {
                out.add("steps differ between repeats: " + steps + " and "
                        + r.phases.stream().map(PhaseResult::name).toList());
                return out;
            }
        }
        if (rs.stream().map(RunResult::ok).distinct().count() > 1) {
            out.add("safety verdict differs between repeats");
        }
        for (String step : steps) {
            TreeMap<String, long[]> range = new TreeMap<>();
            for (RunResult r : rs) {
                PhaseResult p = r.phase(step).orElseThrow();
                Map<String, Long> values = new TreeMap<>(p.counters());
                values.put("modeled ns", p.modeledNanos());
                for (RunResult o : rs) {
                    o.phase(step).orElseThrow().counters().keySet().forEach(k -> values.putIfAbsent(k, 0L));
                }
                values.forEach((k, v) -> range.merge(k, new long[] {v, v},
                        (a, b) -> new long[] {Math.min(a[0], b[0]), Math.max(a[1], b[1])}));
            }
            range.forEach((k, v) -> {
                if (v[0] != v[1]) {
                    out.add(step + " " + k + ": " + v[0] + ".." + v[1]);
                }
            });
        }
        return out;
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

    /**
     * Wall time summed over all steps. For merged repeats this is the sum of the steps' medians;
     * {@link #totalWallSpread} gives the median of the repeats' totals.
     */
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
