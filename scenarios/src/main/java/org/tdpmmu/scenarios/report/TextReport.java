package org.tdpmmu.scenarios.report;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import java.util.function.Function;
import org.HdrHistogram.Histogram;
import org.tdpmmu.scenarios.engine.PhaseResult;
import org.tdpmmu.scenarios.engine.RunResult;
import org.tdpmmu.scenarios.engine.Violation;

/** The human-readable tables printed on stdout. */
public final class TextReport {

    private TextReport() {
    }

    /** One run: a row per step, then every counter's total, then the verdict. */
    public static String single(RunResult run) {
        return single(run, null);
    }

    /** {@link #single(RunResult)} after {@code provenance}'s header (none when null). */
    public static String single(RunResult run, Provenance provenance) {
        StringBuilder sb = new StringBuilder();
        header(sb, provenance);
        sb.append("scenario ").append(run.scenarioName());
        if (run.strategy() != null) {
            sb.append(" (strategy ").append(run.strategy().yamlName()).append(')');
        }
        sb.append("\n\n");
        TextTable t = new TextTable("step", "wall", "modeled", "faults", "TLB flushes", "vCPUs flushed",
                "fault p99", "peak tables");
        for (PhaseResult p : run.phases()) {
            t.row(p.name(), wall(run, p.name()), Formats.duration(p.modeledNanos()),
                    Formats.count(p.faults()), Formats.count(p.counter("tlb.flush.requests")),
                    Formats.count(p.counter("tlb.flush.vcpus")), p99(p.faultLatency()),
                    Formats.count(p.peakLiveTables()));
        }
        Map<String, Long> totals = run.totals();
        t.row("total", Formats.spread(run.totalWallSpread()), Formats.duration(run.totalModeledNanos()),
                Formats.count(run.phases().stream().mapToLong(PhaseResult::faults).sum()),
                Formats.count(totals.getOrDefault("tlb.flush.requests", 0L)),
                Formats.count(totals.getOrDefault("tlb.flush.vcpus", 0L)),
                Metrics.faultLatency(run).map(TextReport::p99).orElse("-"),
                Formats.count(Metrics.peakLiveTables(run)));
        sb.append(t.render());
        Metrics.faultsAfterDisable(run).ifPresent(f -> sb.append("\nfaults after disabling dirty logging: ")
                .append(Formats.count(f)).append('\n'));
        long zero = totals.values().stream().filter(v -> v == 0).count();
        if (zero < totals.size()) {
            sb.append("\ncounters, summed over all steps").append(zero == 0 ? "" : " (" + zero + " that stayed 0 not shown)")
                    .append('\n');
            TextTable c = new TextTable("counter", "total");
            totals.forEach((k, v) -> {
                if (v != 0) {
                    c.row(k, Formats.count(v));
                }
            });
            sb.append(c.render());
        }
        sb.append(differences(List.of(run)));
        sb.append('\n').append(verdict(List.of(run)));
        return sb.toString();
    }

    /** Several runs side by side: rows = steps and key counters, columns = runs (strategies). */
    public static String compare(List<RunResult> runs) {
        return compare(runs, null);
    }

    /** {@link #compare(List)} after {@code provenance}'s header (none when null). */
    public static String compare(List<RunResult> runs, Provenance provenance) {
        StringBuilder sb = new StringBuilder();
        header(sb, provenance);
        sb.append("scenario ").append(runs.get(0).scenarioName())
                .append(": one run per ").append(Metrics.axis(runs)).append("\n\n");
        sb.append(comparison(runs).render());
        sb.append(differences(runs));
        sb.append('\n').append(verdict(runs));
        return sb.toString();
    }

    /** The comparison table of {@link #compare}, also used by the HTML report. */
    public static TextTable comparison(List<RunResult> runs) {
        List<String> header = new ArrayList<>();
        header.add("");
        header.addAll(Metrics.labels(runs));
        TextTable t = new TextTable(header);
        for (String step : Metrics.stepNames(runs)) {
            t.row(cells(step + " wall", runs, r -> wall(r, step)));
        }
        t.row(cells("total wall", runs, r -> Formats.spread(r.totalWallSpread())));
        t.row(cells("total modeled", runs, r -> Formats.duration(r.totalModeledNanos())));
        t.row(cells("disable modeled", runs, r -> Metrics.disableStep(r).map(p -> Formats.duration(p.modeledNanos())).orElse("-")));
        t.row(cells("faults after disable", runs, r -> Metrics.faultsAfterDisable(r).map(Formats::count).orElse("-")));
        t.row(cells("TLB flushes at disable", runs, r -> Metrics.tlbFlushesAtDisable(r).map(Formats::count).orElse("-")));
        t.row(cells("vCPUs flushed at disable", runs, r -> Metrics.vcpusFlushedAtDisable(r).map(Formats::count).orElse("-")));
        t.row(cells("zap.leaf at disable", runs, r -> Metrics.disableStep(r).map(p -> Formats.count(p.counter("zap.leaf"))).orElse("-")));
        t.row(cells("promote at disable", runs, r -> Metrics.disableStep(r).map(p -> Formats.count(p.counter("promote"))).orElse("-")));
        t.row(cells("total faults", runs, r -> Formats.count(r.phases().stream().mapToLong(PhaseResult::faults).sum())));
        t.row(cells("total TLB flushes", runs, r -> Formats.count(r.totals().getOrDefault("tlb.flush.requests", 0L))));
        t.row(cells("total splits", runs, r -> Formats.count(r.totals().getOrDefault("split", 0L))));
        t.row(cells("fault latency p99", runs, r -> Metrics.faultLatency(r).map(TextReport::p99).orElse("-")));
        t.row(cells("peak live tables", runs, r -> Formats.count(Metrics.peakLiveTables(r))));
        t.row(cells("safety violations", runs, r -> Integer.toString(r.violations().size())));
        return t;
    }

    /** Counter totals of each run, rows = the union of counter names. */
    public static TextTable counters(List<RunResult> runs) {
        List<String> header = new ArrayList<>();
        header.add("counter");
        header.addAll(Metrics.labels(runs));
        TextTable t = new TextTable(header);
        TreeSet<String> names = new TreeSet<>();
        List<Map<String, Long>> totals = new ArrayList<>();
        for (RunResult r : runs) {
            Map<String, Long> m = r.totals();
            names.addAll(m.keySet());
            totals.add(m);
        }
        for (String n : names) {
            List<String> row = new ArrayList<>();
            row.add(n);
            totals.forEach(m -> row.add(Formats.count(m.getOrDefault(n, 0L))));
            t.row(row);
        }
        return t;
    }

    /** "result: OK" or the violation count; the violations themselves go to stderr. */
    public static String verdict(List<RunResult> runs) {
        long n = runs.stream().mapToLong(r -> r.violations().size()).sum();
        return n == 0 ? "result: OK, no safety violations\n"
                : "result: " + n + " safety violation" + (n == 1 ? "" : "s") + " (listed on stderr)\n";
    }

    /** One line per violation: {@code VIOLATION [label] property: message}. */
    public static List<String> violationLines(List<RunResult> runs) {
        List<String> lines = new ArrayList<>();
        List<String> labels = Metrics.labels(runs);
        for (int i = 0; i < runs.size(); i++) {
            for (Violation v : runs.get(i).violations()) {
                lines.add("VIOLATION " + (runs.size() > 1 ? "[" + labels.get(i) + "] " : "") + v);
            }
        }
        return lines;
    }

    private static void header(StringBuilder sb, Provenance provenance) {
        if (provenance != null) {
            sb.append(provenance.textHeader()).append('\n');
        }
    }

    /** A step's wall time: the median with the range over the repeats, or "-" when it did not run. */
    static String wall(RunResult r, String step) {
        return r.wallSpread(step).map(Formats::spread).orElse("-");
    }

    /**
     * The note under a table of merged repeats: which counts differed between repeats (the table
     * shows those of the median repeat), or that none did. Empty for single runs.
     */
    public static String differences(List<RunResult> runs) {
        if (runs.stream().allMatch(r -> r.runs().size() < 2)) {
            return "";
        }
        StringBuilder sb = new StringBuilder("\n");
        List<String> labels = Metrics.labels(runs);
        boolean any = false;
        for (int i = 0; i < runs.size(); i++) {
            List<String> d = runs.get(i).repeatDifferences();
            if (!d.isEmpty()) {
                any = true;
                sb.append("counts that differed between the ").append(runs.get(i).runs().size())
                        .append(" repeats of ").append(labels.get(i)).append(" (shown: the median repeat's): ")
                        .append(String.join("; ", d)).append('\n');
            }
        }
        if (!any) {
            sb.append("modeled time and every count were identical in every repeat\n");
        }
        return sb.toString();
    }

    private static List<String> cells(String label, List<RunResult> runs, Function<RunResult, String> f) {
        List<String> row = new ArrayList<>();
        row.add(label);
        runs.forEach(r -> row.add(f.apply(r)));
        return row;
    }

    private static String p99(Histogram h) {
        return Optional.ofNullable(h).filter(x -> x.getTotalCount() > 0)
                .map(x -> Formats.duration(x.getValueAtPercentile(99.0))).orElse("-");
    }
}
