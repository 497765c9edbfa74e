package org.tdpmmu.scenarios.report;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.HdrHistogram.Histogram;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.tdpmmu.scenarios.engine.PhaseResult;
import org.tdpmmu.scenarios.engine.RunResult;
import org.tdpmmu.scenarios.engine.Timeline;

/**
 * {@code --report DIR}: {@code DIR/index.html} with PNG charts, each strategy in the same colour in
 * every chart ({@link StrategyColors}):
 * <ul>
 * <li>{@code disable-step.png} — the disable step on its own: wall time (median of the runs of a
 *     strategy, min-max whisker when there are several), modeled time, TLB flush requests at
 *     disable and faults from disable to the end of the run; every bar labelled with its value
 *     (only when a run disables dirty logging; {@link BarFigure});</li>
 * <li>{@code disable-timeline.png} — accesses/s and faults/s through the disable step and the step
 *     after it (only when a run has a timeline; {@link TimelineChart});</li>
 * <li>{@code fault-latency.png} — p50/p90/p99/p99.9/max fault latency per run on a log axis that
 *     starts at the decade below the smallest value, decades labelled as durations (only when a run
 *     recorded fault latencies);</li>
 * <li>{@code phase-wall-times.png}, {@code phase-modeled-times.png} — every step, one bar per run;</li>
 * </ul>
 * then the comparison table, the counter totals, and the violations. PNG rather than SVG: XChart
 * writes SVG only with an extra library, and a PNG shows the same in every browser, mail client and
 * issue tracker it is pasted into.
 */
public final class HtmlReport {

    static {
        headless();
    }

    private static final int WIDTH = 960;
    private static final int HEIGHT = 520;

    private HtmlReport() {
    }

    /** Sets {@code java.awt.headless=true} (before AWT initializes) unless the user chose otherwise. */
    public static void headless() {
        if (System.getProperty("java.awt.headless") == null) {
            System.setProperty("java.awt.headless", "true");
        }
    }

    /** A chart on the page: its file and what it shows. */
    private record Figure(String file, String caption) {
    }

    /** Writes the report into {@code dir} (created if needed) and returns the index.html path. */
    public static Path write(List<RunResult> runs, Path dir) throws IOException {
        return write(runs, null, dir);
    }

    /** {@link #write(List, Path)} with the "what ran" block of {@code provenance} (none when null). */
    public static Path write(List<RunResult> merged, Provenance provenance, Path dir) throws IOException {
        Files.createDirectories(dir);
        // the charts show every repeat (median and spread per strategy); the tables show the merged runs
        List<RunResult> runs = merged.stream().flatMap(r -> r.runs().stream()).toList();
        Map<String, List<RunResult>> groups = byLabel(runs);
        List<Figure> figures = new ArrayList<>();
        List<String> notes = new ArrayList<>();

        if (disableFigure(runs, dir.resolve("disable-step.png"))) {
            figures.add(new Figure("disable-step.png", "The disable step on its own. With repeats, each bar is the "
                    + "median over the runs of its strategy and the whisker their min-max; a single run shows its value."));
        } else {
            notes.add("No run disables dirty logging: no disable-step chart.");
        }
        List<RunResult> typical = new ArrayList<>();
        groups.values().forEach(g -> typical.add(medianRun(g)));
        if (TimelineChart.write(typical, new ArrayList<>(groups.keySet()), dir.resolve("disable-timeline.png"), WIDTH)) {
            figures.add(new Figure("disable-timeline.png", "Accesses and faults per second" + vcpusNote(runs)
                    + " from just before the disable step to the end of the step after it; 0 is the disable start. "
                    + "With repeats, the run of each strategy whose disable step took the median wall time."));
        } else {
            notes.add("No run has a timeline through a disable step: no timeline chart.");
        }
        if (latencyChart(groups, dir.resolve("fault-latency.png"))) {
            figures.add(new Figure("fault-latency.png", "Fault latency percentiles over the whole run (with repeats, "
                    + "every fault of every run of the strategy)."));
        } else {
            notes.add("No fault latencies were recorded: no latency chart.");
        }
        stepCharts(runs, groups, dir, figures);

        Path index = dir.resolve("index.html");
        Files.writeString(index, html(merged, figures, notes).replace(WHAT_RAN, whatRan(provenance)),
                StandardCharsets.UTF_8);
        return index;
    }

    /** Per label (strategy), the runs with it, in first-seen order: the repeats of one strategy. */
    static Map<String, List<RunResult>> byLabel(List<RunResult> runs) {
        Map<String, List<RunResult>> m = new LinkedHashMap<>();
        for (RunResult r : runs) {
            m.computeIfAbsent(Metrics.label(r), k -> new ArrayList<>()).add(r);
        }
        return m;
    }

    /** The run of {@code group} whose disable step took the median wall time (the first without one). */
    static RunResult medianRun(List<RunResult> group) {
        List<RunResult> with = group.stream().filter(r -> Metrics.disableIndex(r) >= 0)
                .sorted(java.util.Comparator.comparingLong(r -> Metrics.disableStep(r).orElseThrow().wallNanos()))
                .toList();
        return with.isEmpty() ? group.get(0) : with.get((with.size() - 1) / 2);
    }

    /** The four disable-step panels; false (nothing written) when no run disables dirty logging. */
    private static boolean disableFigure(List<RunResult> runs, Path file) throws IOException {
        List<BarFigure.Bar> wall = new ArrayList<>();
        List<BarFigure.Bar> modeled = new ArrayList<>();
        List<BarFigure.Bar> flushes = new ArrayList<>();
        List<BarFigure.Bar> faults = new ArrayList<>();
        for (Map.Entry<String, List<RunResult>> e : byLabel(runs).entrySet()) {
            List<RunResult> group = e.getValue().stream().filter(r -> Metrics.disableIndex(r) >= 0).toList();
            if (group.isEmpty()) {
                continue;
            }
            java.awt.Color c = StrategyColors.of(group.get(0));
            wall.add(new BarFigure.Bar(e.getKey(), c, spread(group, r -> Metrics.disableStep(r).orElseThrow().wallNanos())));
            modeled.add(new BarFigure.Bar(e.getKey(), c,
                    spread(group, r -> Metrics.disableStep(r).orElseThrow().modeledNanos())));
            flushes.add(new BarFigure.Bar(e.getKey(), c, spread(group, r -> Metrics.tlbFlushesAtDisable(r).orElseThrow())));
            faults.add(new BarFigure.Bar(e.getKey(), c, spread(group, r -> Metrics.faultsAfterDisable(r).orElseThrow())));
        }
        if (wall.isEmpty()) {
            return false;
        }
        BarFigure.write("Disabling dirty logging, per " + (Metrics.axis(runs).startsWith("kernel") ? "kernel release" : "strategy"), vcpusNote(runs).trim(), List.of(
                new BarFigure.Panel("Wall time of the disable step", true, wall),
                new BarFigure.Panel("Modeled time of the disable step", true, modeled),
                new BarFigure.Panel("TLB flush requests at disable", false, flushes),
                new BarFigure.Panel("Faults from disable to the end of the run", false, faults)), file);
        return true;
    }

    private static Spread spread(List<RunResult> group, java.util.function.ToLongFunction<RunResult> f) {
        return Spread.of(group.stream().map(r -> f.applyAsLong(r)).toList());
    }

    /**
     * Whether the vCPUs ran during the disable step, told by the timeline: the runs carry no
     * scenario configuration. Only samples taken inside the step count — interpolating at its edges
     * would pick up the accesses of the steps around it.
     */
    private static String vcpusNote(List<RunResult> runs) {
        boolean running = false;
        boolean known = false;
        for (RunResult r : runs) {
            int d = Metrics.disableIndex(r);
            Timeline t = r.timeline();
            if (t == null || d < 0) {
                continue;
            }
            long first = -1;
            long last = -1;
            for (int i = 0; i < t.size(); i++) {
                if (t.timeAt(i) >= t.stepStart(d) && t.timeAt(i) <= t.stepEnd(d)) {
                    first = first < 0 ? t.accessesAt(i) : first;
                    last = t.accessesAt(i);
                }
            }
            if (first >= 0) {
                known = true;
                running |= last > first;
            }
        }
        if (!known) {
            return "";
        }
        return running ? " (vCPUs running during disable)" : " (vCPUs stopped during disable)";
    }

    /** Fault-latency percentiles per strategy on a log axis; false when no run recorded a latency. */
    private static boolean latencyChart(Map<String, List<RunResult>> groups, Path file) throws IOException {
        CategoryChart lat = chart("Fault latency (log scale)", "percentile", "latency (ns)");
        List<String> pcts = new ArrayList<>(Metrics.PERCENTILES.keySet());
        long min = Long.MAX_VALUE;
        long max = 1;
        for (Map.Entry<String, List<RunResult>> e : groups.entrySet()) {
            List<PhaseResult> all = new ArrayList<>();
            e.getValue().forEach(r -> all.addAll(r.phases()));
            Optional<Histogram> h = Metrics.merge(all);
            if (h.isPresent()) {
                List<Number> ys = new ArrayList<>();
                for (long v : Metrics.percentiles(h.get()).values()) {
                    long y = Math.max(1, v);
                    ys.add(y);
                    min = Math.min(min, y);
                    max = Math.max(max, y);
                }
                lat.addSeries(e.getKey(), pcts, ys).setFillColor(StrategyColors.of(e.getValue().get(0)));
            }
        }
        if (min == Long.MAX_VALUE) {
            return false;
        }
        // A log axis has no 0: start at the decade below the smallest bar, so every bar shows.
        double lo = Math.pow(10, Math.floor(Math.log10(min) - 1e-9));
        double hi = Math.pow(10, Math.ceil(Math.log10(max) + 1e-9));
        lat.getStyler().setYAxisLogarithmic(true);
        lat.getStyler().setYAxisMin(lo);
        lat.getStyler().setYAxisMax(hi);
        // XChart labels a log axis at decades; one pattern spells them all alike (a custom formatter
        // would turn the axis linear).
        lat.getStyler().setYAxisDecimalPattern("#,##0 ns");
        save(lat, file);
        return true;
    }

    /** Every step, one bar per strategy: the median over its runs. */
    private static void stepCharts(List<RunResult> runs, Map<String, List<RunResult>> groups, Path dir,
                                   List<Figure> figures) throws IOException {
        List<String> steps = Metrics.stepNames(runs);
        CategoryChart wall = chart("Wall time per step", "step", "ms");
        CategoryChart modeled = chart("Modeled time per step", "step", "ms");
        for (Map.Entry<String, List<RunResult>> e : groups.entrySet()) {
            List<Number> w = new ArrayList<>();
            List<Number> m = new ArrayList<>();
            for (String step : steps) {
                w.add(stepMedian(e.getValue(), step, PhaseResult::wallNanos) / 1e6);
                m.add(stepMedian(e.getValue(), step, PhaseResult::modeledNanos) / 1e6);
            }
            java.awt.Color c = StrategyColors.of(e.getValue().get(0));
            wall.addSeries(e.getKey(), steps, w).setFillColor(c);
            modeled.addSeries(e.getKey(), steps, m).setFillColor(c);
        }
        rotate(wall);
        rotate(modeled);
        save(wall, dir.resolve("phase-wall-times.png"));
        save(modeled, dir.resolve("phase-modeled-times.png"));
        figures.add(new Figure("phase-wall-times.png", "Wall time of every step (with repeats, the median)."));
        figures.add(new Figure("phase-modeled-times.png", "Modeled time of every step (with repeats, the median)."));
    }

    /** The median of {@code f} of step {@code step} over {@code group}; 0 where no run has the step. */
    private static long stepMedian(List<RunResult> group, String step, java.util.function.ToLongFunction<PhaseResult> f) {
        List<Long> v = new ArrayList<>();
        group.forEach(r -> r.phase(step).ifPresent(p -> v.add(f.applyAsLong(p))));
        return v.isEmpty() ? 0 : Spread.of(v).median();
    }

    private static CategoryChart chart(String title, String x, String y) {
        CategoryChart c = new CategoryChartBuilder().width(WIDTH).height(HEIGHT).title(title)
                .xAxisTitle(x).yAxisTitle(y).build();
        c.getStyler().setChartBackgroundColor(java.awt.Color.WHITE);
        c.getStyler().setOverlapped(false);
        return c;
    }

    private static void rotate(CategoryChart c) {
        c.getStyler().setXAxisLabelRotation(45);
    }

    private static void save(CategoryChart c, Path file) throws IOException {
        BitmapEncoder.saveBitmap(c, file.toString(), BitmapEncoder.BitmapFormat.PNG);
    }

    private static String html(List<RunResult> runs, List<Figure> figures, List<String> notes) {
        StringBuilder sb = new StringBuilder();
        String title = "tdpmmu: " + esc(runs.get(0).scenarioName());
        sb.append(head(title)).append(WHAT_RAN);
        sb.append("<p>").append(runs.size()).append(runs.size() == 1 ? " run" : " runs").append(": ")
                .append(esc(String.join(", ", Metrics.labels(runs)))).append(". Modeled time is Σ count × unit cost ")
                .append("(CPU time summed over all threads), see FORMAT.md.</p>\n");
        sb.append("<p class=\"legend\">Colours:");
        for (Map.Entry<String, List<RunResult>> e : byLabel(runs).entrySet()) {
            sb.append(" <span style=\"background:").append(StrategyColors.css(StrategyColors.of(e.getValue().get(0))))
                    .append("\">&nbsp;&nbsp;&nbsp;</span> ").append(esc(e.getKey()));
        }
        sb.append("</p>\n");
        for (Figure f : figures) {
            sb.append("<figure><img src=\"").append(f.file()).append("\" alt=\"").append(esc(f.caption()))
                    .append("\"><figcaption>").append(esc(f.caption())).append("</figcaption></figure>\n");
        }
        for (String n : notes) {
            sb.append("<p><em>").append(esc(n)).append("</em></p>\n");
        }
        sb.append("<h2>Comparison</h2>\n").append(table(TextReport.comparison(runs)));
        sb.append("<h2>Counters (summed over all steps)</h2>\n").append(table(TextReport.counters(runs)));
        sb.append(safety(TextReport.violationLines(runs)));
        sb.append("</body>\n</html>\n");
        return sb.toString();
    }

    // ---- "what ran" (provenance): kept apart from the charts above ----

    private static final String WHAT_RAN = "<!-- what ran -->\n";

    /** The "what ran" block: the provenance as a two-column table, empty without one. */
    static String whatRan(Provenance provenance) {
        if (provenance == null) {
            return "";
        }
        StringBuilder sb = new StringBuilder("<h2>What ran</h2>\n<table class=\"what-ran\">\n");
        provenance.summary().forEach((k, v) -> sb.append("<tr><th>").append(esc(k.strip())).append("</th><td style=\"text-align:left\">")
                .append(esc(v)).append("</td></tr>\n"));
        return sb.append("</table>\n").toString();
    }

    /** The page up to its {@code h1} heading: the style every tdpmmu report page shares. */
    static String head(String escapedTitle) {
        return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" + escapedTitle
                + "</title>\n<style>\n"
                + "body{font-family:sans-serif;margin:2em;max-width:1100px}\n"
                + "table{border-collapse:collapse;margin:1em 0}\n"
                + "td,th{border:1px solid #ccc;padding:3px 8px}\n"
                + "td{text-align:right}td:first-child,th:first-child{text-align:left}\n"
                + ".bad{color:#b00}\nfigure{margin:1em 0}figcaption{color:#444;font-size:90%}\n</style>\n</head>\n<body>\n"
                + "<h1>" + escapedTitle + "</h1>\n";
    }

    /** The safety section: "no violations", or the list. */
    static String safety(List<String> violationLines) {
        StringBuilder sb = new StringBuilder("<h2>Safety</h2>\n");
        if (violationLines.isEmpty()) {
            return sb.append("<p>No safety violations.</p>\n").toString();
        }
        sb.append("<ul class=\"bad\">\n");
        violationLines.forEach(l -> sb.append("<li>").append(esc(l)).append("</li>\n"));
        return sb.append("</ul>\n").toString();
    }

    static String table(TextTable t) {
        StringBuilder sb = new StringBuilder("<table>\n<tr>");
        t.header().forEach(h -> sb.append("<th>").append(esc(h)).append("</th>"));
        sb.append("</tr>\n");
        for (List<String> row : t.rows()) {
            sb.append("<tr>");
            row.forEach(c -> sb.append("<td>").append(esc(c)).append("</td>"));
            sb.append("</tr>\n");
        }
        return sb.append("</table>\n").toString();
    }

    static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
