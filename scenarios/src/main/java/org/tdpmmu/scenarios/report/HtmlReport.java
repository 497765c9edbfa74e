package org.tdpmmu.scenarios.report;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.HdrHistogram.Histogram;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.tdpmmu.scenarios.engine.PhaseResult;
import org.tdpmmu.scenarios.engine.RunResult;

/**
 * {@code --report DIR}: {@code DIR/index.html} with PNG charts drawn by XChart (headless):
 * <ul>
 * <li>{@code phase-wall-times.png} — wall time of each step, one bar per run (strategy);</li>
 * <li>{@code phase-modeled-times.png} — the same for modeled time;</li>
 * <li>{@code faults-after-disable.png} — faults from disabling dirty logging to the end, per run
 *     (only when a run disables dirty logging);</li>
 * <li>{@code fault-latency.png} — p50/p90/p99/p99.9/max fault latency per run, ns on a log axis
 *     (only when a run recorded fault latencies);</li>
 * </ul>
 * then the comparison table, the counter totals, and the violations.
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

    /** Writes the report into {@code dir} (created if needed) and returns the index.html path. */
    public static Path write(List<RunResult> runs, Path dir) throws IOException {
        return write(runs, null, dir);
    }

    /** {@link #write(List, Path)} with the "what ran" block of {@code provenance} (none when null). */
    public static Path write(List<RunResult> runs, Provenance provenance, Path dir) throws IOException {
        Files.createDirectories(dir);
        List<String> labels = Metrics.labels(runs);
        List<String> images = new ArrayList<>();
        List<String> notes = new ArrayList<>();
        List<String> steps = Metrics.stepNames(runs);

        CategoryChart wall = chart("Wall time per step", "step", "ms");
        CategoryChart modeled = chart("Modeled time per step", "step", "ms");
        for (int i = 0; i < runs.size(); i++) {
            RunResult r = runs.get(i);
            List<Number> w = new ArrayList<>();
            List<Number> m = new ArrayList<>();
            for (String s : steps) {
                Optional<PhaseResult> p = r.phase(s);
                w.add(p.map(x -> x.wallNanos() / 1e6).orElse(0.0));
                m.add(p.map(x -> x.modeledNanos() / 1e6).orElse(0.0));
            }
            wall.addSeries(labels.get(i), steps, w);
            modeled.addSeries(labels.get(i), steps, m);
        }
        rotate(wall);
        rotate(modeled);
        save(wall, dir, "phase-wall-times.png", images);
        save(modeled, dir, "phase-modeled-times.png", images);

        List<String> disLabels = new ArrayList<>();
        List<Number> disFaults = new ArrayList<>();
        for (int i = 0; i < runs.size(); i++) {
            Optional<Long> f = Metrics.faultsAfterDisable(runs.get(i));
            if (f.isPresent()) {
                disLabels.add(labels.get(i));
                disFaults.add(f.get());
            }
        }
        if (disLabels.isEmpty()) {
            notes.add("No run disables dirty logging: no faults-after-disable chart.");
        } else {
            CategoryChart c = chart("Faults after disabling dirty logging", "strategy", "faults");
            c.getStyler().setLegendVisible(false);
            c.addSeries("faults after disable", disLabels, disFaults);
            save(c, dir, "faults-after-disable.png", images);
        }

        CategoryChart lat = chart("Fault latency (log scale)", "percentile", "ns");
        lat.getStyler().setYAxisLogarithmic(true);
        lat.getStyler().setYAxisMin(1.0); // bars start at 0 otherwise, which a log axis refuses
        List<String> pcts = new ArrayList<>(Metrics.PERCENTILES.keySet());
        boolean any = false;
        for (int i = 0; i < runs.size(); i++) {
            Optional<Histogram> h = Metrics.faultLatency(runs.get(i));
            if (h.isPresent()) {
                any = true;
                List<Number> ys = new ArrayList<>();
                Metrics.percentiles(h.get()).values().forEach(v -> ys.add(Math.max(1, v)));
                lat.addSeries(labels.get(i), pcts, ys);
            }
        }
        if (any) {
            save(lat, dir, "fault-latency.png", images);
        } else {
            notes.add("No fault latencies were recorded: no latency chart.");
        }

        Path index = dir.resolve("index.html");
        Files.writeString(index, html(runs, images, notes).replace(WHAT_RAN, whatRan(provenance)),
                StandardCharsets.UTF_8);
        return index;
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

    private static void save(CategoryChart c, Path dir, String file, List<String> images) throws IOException {
        BitmapEncoder.saveBitmap(c, dir.resolve(file).toString(), BitmapEncoder.BitmapFormat.PNG);
        images.add(file);
    }

    private static String html(List<RunResult> runs, List<String> images, List<String> notes) {
        StringBuilder sb = new StringBuilder();
        String title = "tdpmmu: " + esc(runs.get(0).scenarioName());
        sb.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>")
                .append(title).append("</title>\n<style>\n")
                .append("body{font-family:sans-serif;margin:2em;max-width:1100px}\n")
                .append("table{border-collapse:collapse;margin:1em 0}\n")
                .append("td,th{border:1px solid #ccc;padding:3px 8px}\n")
                .append("td{text-align:right}td:first-child,th:first-child{text-align:left}\n")
                .append(".bad{color:#b00}\n</style>\n</head>\n<body>\n");
        sb.append("<h1>").append(title).append("</h1>\n").append(WHAT_RAN);
        sb.append("<p>").append(runs.size()).append(runs.size() == 1 ? " run" : " runs").append(": ")
                .append(esc(String.join(", ", Metrics.labels(runs)))).append(". Modeled time is Σ count × unit cost ")
                .append("(CPU time summed over all threads), see FORMAT.md.</p>\n");
        for (String img : images) {
            sb.append("<p><img src=\"").append(img).append("\" alt=\"").append(img).append("\"></p>\n");
        }
        for (String n : notes) {
            sb.append("<p><em>").append(esc(n)).append("</em></p>\n");
        }
        sb.append("<h2>Comparison</h2>\n").append(table(TextReport.comparison(runs)));
        sb.append("<h2>Counters (summed over all steps)</h2>\n").append(table(TextReport.counters(runs)));
        sb.append("<h2>Safety</h2>\n");
        List<String> v = TextReport.violationLines(runs);
        if (v.isEmpty()) {
            sb.append("<p>No safety violations.</p>\n");
        } else {
            sb.append("<ul class=\"bad\">\n");
            v.forEach(l -> sb.append("<li>").append(esc(l)).append("</li>\n"));
            sb.append("</ul>\n");
        }
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

    private static String table(TextTable t) {
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
