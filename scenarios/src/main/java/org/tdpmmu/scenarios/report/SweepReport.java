package org.tdpmmu.scenarios.report;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.awt.BasicStroke;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.SeriesMarkers;
import org.tdpmmu.scenarios.engine.PhaseResult;
import org.tdpmmu.scenarios.engine.RunResult;
import org.tdpmmu.scenarios.model.RecoveryStrategy;
import org.tdpmmu.scenarios.model.Sizes;
import org.tdpmmu.scenarios.model.YamlNamed;

/**
 * The merged report of a sweep's runs: each {@link Figure} against the swept field on the x axis,
 * one line per value of the line keys (the strategy; the kernel release once there is one), and the
 * spread (min, median, max) over the seeds. Every other swept key gets a table and a chart of its
 * own per value ("panels": {@code vm.memoryPerVcpu=256M}, then {@code 1G}).
 *
 * <p>Which key is which: a key named {@code seed} or ending in {@code .seed} is spread over; the line
 * keys are given; the x key is given or else the first other key with more than one value; the rest
 * are panels. Points are in the order of the runs' grid indices; x values that are all integers or
 * all sizes ({@code 256M}) are sorted and plotted to scale, others in first-seen order, evenly.
 */
public final class SweepReport {

    public static final String FORMAT = "tdpmmu-sweep/1";
    private static final ObjectMapper MAPPER = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final int WIDTH = 900;
    private static final int HEIGHT = 480;

    /** One run of a sweep: its point's values and its result. */
    public record Run(int index, Map<String, String> values, RunResult result, String tool) {
    }

    /** The figures of the report, each a number per run (absent when the run has no disable step). */
    public enum Figure {
        DISABLE_WALL("disable wall", "disableWallNanos", true, r -> Metrics.disableStep(r).map(PhaseResult::wallNanos)),
        DISABLE_MODELED("disable modeled", "disableModeledNanos", true,
                r -> Metrics.disableStep(r).map(PhaseResult::modeledNanos)),
        FLUSHES_AT_DISABLE("TLB flushes at disable", "tlbFlushesAtDisable", false, Metrics::tlbFlushesAtDisable),
        FAULTS_AFTER_DISABLE("faults after disable", "faultsAfterDisable", false, Metrics::faultsAfterDisable),
        TOTAL_WALL("total wall", "totalWallNanos", true, r -> Optional.of(r.totalWallNanos()));

        final String title;
        final String json;
        final boolean nanos;
        final Function<RunResult, Optional<Long>> value;

        Figure(String title, String json, boolean nanos, Function<RunResult, Optional<Long>> value) {
            this.title = title;
            this.json = json;
            this.nanos = nanos;
            this.value = value;
        }

        /** The key in the JSON output and the CSV column prefix. */
        public String jsonName() {
            return json;
        }

        /** Whether it is a wall-clock figure (differs from run to run). */
        public boolean wall() {
            return this == DISABLE_WALL || this == TOTAL_WALL;
        }
    }

    /** The runs of one point but the seeds. */
    private record Cell(Map<String, String> panel, String x, String line, List<Run> runs) {
    }

    private final List<Run> runs;
    private final String xKey;
    private final List<String> lineKeys;
    private final List<String> spreadKeys;
    private final List<String> panelKeys;
    private final List<Map<String, String>> panels;
    private final List<String> xs;
    private final boolean xNumeric;
    private final List<String> lines;
    private final Map<List<Object>, Cell> cells = new LinkedHashMap<>();

    private SweepReport(List<Run> runs, String xKey, List<String> lineKeys, List<String> spreadKeys, List<String> panelKeys) {
        this.runs = runs;
        this.xKey = xKey;
        this.lineKeys = lineKeys;
        this.spreadKeys = spreadKeys;
        this.panelKeys = panelKeys;
        Set<Map<String, String>> ps = new LinkedHashSet<>();
        Set<String> x = new LinkedHashSet<>();
        Set<String> ls = new LinkedHashSet<>();
        for (Run r : runs) {
            Map<String, String> panel = pick(r.values(), panelKeys);
            String xv = xKey == null ? "" : r.values().getOrDefault(xKey, "-");
            String line = String.join(" ", pick(r.values(), lineKeys).values());
            ps.add(panel);
            x.add(xv);
            ls.add(line);
            cells.computeIfAbsent(List.of(panel, xv, line), k -> new Cell(panel, xv, line, new ArrayList<>())).runs().add(r);
        }
        this.panels = List.copyOf(ps);
        this.xNumeric = !x.isEmpty() && x.stream().allMatch(v -> number(v).isPresent());
        List<String> xl = new ArrayList<>(x);
        if (xNumeric) {
            xl.sort((a, b) -> Double.compare(number(a).orElseThrow(), number(b).orElseThrow()));
        }
        this.xs = List.copyOf(xl);
        this.lines = List.copyOf(ls);
    }

    /**
     * The report of {@code runs}.
     *
     * @param xKey     the key on the x axis, or null for the first other key with several values
     * @param lineKeys the keys that draw one line per value (switches such as {@code strategy})
     * @throws IllegalArgumentException when {@code xKey} is not a key of the runs, or there are no runs
     */
    public static SweepReport of(Collection<Run> runs, String xKey, Collection<String> lineKeys) {
        if (runs.isEmpty()) {
            throw new IllegalArgumentException("no runs");
        }
        List<Run> sorted = new ArrayList<>(runs);
        sorted.sort((a, b) -> Integer.compare(a.index(), b.index()));
        Map<String, Set<String>> keys = new LinkedHashMap<>();
        sorted.forEach(r -> r.values().forEach((k, v) -> keys.computeIfAbsent(k, x -> new TreeSet<>()).add(v)));
        List<String> spread = keys.keySet().stream().filter(k -> k.equals("seed") || k.endsWith(".seed")).toList();
        List<String> line = keys.keySet().stream().filter(lineKeys::contains).toList();
        List<String> rest = keys.keySet().stream().filter(k -> !spread.contains(k) && !line.contains(k)).toList();
        String x = xKey;
        if (x != null && !keys.containsKey(x)) {
            throw new IllegalArgumentException("--x " + x + ": not a key of these runs (they have " + String.join(", ", keys.keySet()) + ")");
        }
        if (x != null && (spread.contains(x) || line.contains(x))) {
            throw new IllegalArgumentException("--x " + x + ": " + (spread.contains(x) ? "seeds are spread over"
                    : "each of its values draws a line") + "; choose another key");
        }
        if (x == null) {
            x = rest.stream().filter(k -> keys.get(k).size() > 1).findFirst().orElse(rest.isEmpty() ? null : rest.get(0));
        }
        String chosen = x;
        List<String> panelKeys = rest.stream().filter(k -> !k.equals(chosen)).toList();
        return new SweepReport(sorted, x, line, spread, panelKeys);
    }

    private static Map<String, String> pick(Map<String, String> values, List<String> keys) {
        Map<String, String> m = new LinkedHashMap<>();
        keys.forEach(k -> m.put(k, values.getOrDefault(k, "-")));
        return m;
    }

    /** An integer, or a size in bytes; empty otherwise. */
    private static Optional<Double> number(String v) {
        try {
            return Optional.of((double) Long.parseLong(v));
        } catch (NumberFormatException e) {
            return Sizes.parse(v).map(Long::doubleValue);
        }
    }

    private Optional<RunResult.Spread> spread(Cell c, Figure f) {
        long[] v = c.runs().stream().map(r -> f.value.apply(r.result())).flatMap(Optional::stream).mapToLong(Long::longValue).toArray();
        return v.length == 0 ? Optional.empty() : Optional.of(RunResult.Spread.of(v));
    }

    private static String cellText(Optional<RunResult.Spread> s, Figure f) {
        if (s.isEmpty()) {
            return "-";
        }
        RunResult.Spread sp = s.get();
        if (f.nanos) {
            return Formats.spread(sp);
        }
        return sp.n() < 2 || sp.min() == sp.max() ? Formats.count(sp.median())
                : Formats.count(sp.median()) + " [" + Formats.count(sp.min()) + "-" + Formats.count(sp.max()) + "]";
    }

    private String panelLabel(Map<String, String> panel) {
        List<String> parts = new ArrayList<>();
        panel.forEach((k, v) -> parts.add(k + "=" + v));
        return String.join(", ", parts);
    }

    /** The table of figure {@code f} in {@code panel}: a row per x value, a column per line. */
    TextTable table(Figure f, Map<String, String> panel) {
        List<String> header = new ArrayList<>();
        header.add(xKey == null ? "" : xKey);
        header.addAll(lines.stream().map(l -> l.isEmpty() ? f.title : l).toList());
        TextTable t = new TextTable(header);
        for (String x : xs) {
            List<String> row = new ArrayList<>();
            row.add(x);
            boolean any = false;
            for (String l : lines) {
                Cell c = cells.get(List.of(panel, x, l));
                any |= c != null;
                row.add(c == null ? "" : cellText(spread(c, f), f));
            }
            if (any) {
                t.row(row);
            }
        }
        return t;
    }

    private String spreadNote() {
        int most = cells.values().stream().mapToInt(c -> c.runs().size()).max().orElse(1);
        return spreadKeys.isEmpty() ? "one run per point" : "median [min-max] over " + String.join(", ", spreadKeys)
                + " (up to " + most + " runs per cell)";
    }

    private List<String> headerLines() {
        List<String> h = new ArrayList<>();
        Set<String> scenarios = new LinkedHashSet<>();
        Set<String> tools = new LinkedHashSet<>();
        runs.forEach(r -> {
            scenarios.add(r.result().scenarioName());
            tools.add(r.tool());
        });
        h.add("sweep: " + runs.size() + " runs of " + String.join(", ", scenarios) + ", " + cells.size() + " points"
                + (spreadKeys.isEmpty() ? "" : " (each over " + String.join(", ", spreadKeys) + ")"));
        h.add("x: " + (xKey == null ? "(nothing swept)" : xKey) + "; lines: "
                + (lineKeys.isEmpty() ? "(one)" : String.join(", ", lineKeys)) + "; " + spreadNote());
        if (!panelKeys.isEmpty()) {
            h.add("a table per value of: " + String.join(", ", panelKeys));
        }
        h.add("tdpmmu: " + String.join("; ", tools));
        return h;
    }

    /** The runs with safety violations, one line each. */
    List<String> violationLines() {
        List<String> out = new ArrayList<>();
        for (Run r : runs) {
            if (!r.result().ok()) {
                out.add("point " + r.index() + " " + r.values() + ": " + r.result().violations().size() + " violation(s): "
                        + r.result().violations().get(0).property() + ": " + r.result().violations().get(0).message());
            }
        }
        return out;
    }

    /** The text report: a {@code #} header, then a table per figure and panel. */
    public String text() {
        StringBuilder sb = new StringBuilder();
        headerLines().forEach(l -> sb.append("# ").append(l).append('\n'));
        for (Map<String, String> panel : panels) {
            for (Figure f : Figure.values()) {
                sb.append('\n').append(f.title).append(panel.isEmpty() ? "" : ", " + panelLabel(panel)).append('\n');
                sb.append(table(f, panel).render());
            }
        }
        List<String> v = violationLines();
        if (!v.isEmpty()) {
            sb.append("\nsafety violations:\n");
            v.forEach(l -> sb.append("  ").append(l).append('\n'));
        }
        return sb.toString();
    }

    /** The JSON report: a point per panel, x and line, its seeds and each figure's min, median and max. */
    public String json() {
        ObjectNode root = MAPPER.createObjectNode();
        root.put("format", FORMAT);
        root.put("runs", runs.size());
        root.put("x", xKey);
        lineKeys.forEach(root.putArray("lines")::add);
        spreadKeys.forEach(root.putArray("spreadOver")::add);
        panelKeys.forEach(root.putArray("panels")::add);
        ArrayNode tools = root.putArray("tdpmmu");
        runs.stream().map(Run::tool).distinct().forEach(tools::add);
        ArrayNode points = root.putArray("points");
        for (Cell c : orderedCells()) {
            ObjectNode p = points.addObject();
            ObjectNode values = p.putObject("values");
            Run first = c.runs().get(0);
            first.values().forEach((k, v) -> {
                if (!spreadKeys.contains(k)) {
                    values.put(k, v);
                }
            });
            ArrayNode seeds = p.putArray("seeds");
            c.runs().forEach(r -> seeds.add(String.join(" ", pick(r.values(), spreadKeys).values())));
            p.put("runs", c.runs().size());
            p.put("violations", c.runs().stream().filter(r -> !r.result().ok()).count());
            ObjectNode figs = p.putObject("figures");
            for (Figure f : Figure.values()) {
                Optional<RunResult.Spread> s = spread(c, f);
                if (s.isEmpty()) {
                    figs.putNull(f.json);
                } else {
                    figs.putObject(f.json).put("min", s.get().min()).put("median", s.get().median()).put("max", s.get().max());
                }
            }
        }
        try {
            return MAPPER.writeValueAsString(root) + "\n";
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The CSV report: a row per point but the seeds, each figure's min, median and max as columns. */
    public String csv() {
        List<String> keys = new ArrayList<>(panelKeys);
        if (xKey != null) {
            keys.add(xKey);
        }
        keys.addAll(lineKeys);
        StringBuilder sb = new StringBuilder();
        List<String> header = new ArrayList<>(keys);
        header.addAll(List.of("seeds", "runs", "violations"));
        for (Figure f : Figure.values()) {
            header.addAll(List.of(f.json + "_min", f.json + "_median", f.json + "_max"));
        }
        csvLine(sb, header);
        for (Cell c : orderedCells()) {
            List<String> row = new ArrayList<>();
            keys.forEach(k -> row.add(c.runs().get(0).values().getOrDefault(k, "")));
            row.add(String.join(" ", c.runs().stream().map(r -> String.join(" ", pick(r.values(), spreadKeys).values())).toList()));
            row.add(String.valueOf(c.runs().size()));
            row.add(String.valueOf(c.runs().stream().filter(r -> !r.result().ok()).count()));
            for (Figure f : Figure.values()) {
                Optional<RunResult.Spread> s = spread(c, f);
                row.add(s.map(x -> String.valueOf(x.min())).orElse(""));
                row.add(s.map(x -> String.valueOf(x.median())).orElse(""));
                row.add(s.map(x -> String.valueOf(x.max())).orElse(""));
            }
            csvLine(sb, row);
        }
        return sb.toString();
    }

    private static void csvLine(StringBuilder sb, List<String> cells) {
        for (int i = 0; i < cells.size(); i++) {
            sb.append(i == 0 ? "" : ",").append(CsvReport.quote(cells.get(i)));
        }
        sb.append('\n');
    }

    /** Cells by panel, then x (sorted as the axis is), then line. */
    private List<Cell> orderedCells() {
        List<Cell> out = new ArrayList<>();
        for (Map<String, String> panel : panels) {
            for (String x : xs) {
                for (String l : lines) {
                    Cell c = cells.get(List.of(panel, x, l));
                    if (c != null) {
                        out.add(c);
                    }
                }
            }
        }
        return out;
    }

    /** Writes {@code dir/index.html} with a PNG chart and a table per figure and panel; returns the index. */
    public Path html(Path dir) throws IOException {
        Files.createDirectories(dir);
        StringBuilder sb = new StringBuilder();
        sb.append(HtmlReport.head("tdpmmu sweep"));
        headerLines().forEach(l -> sb.append("<p>").append(HtmlReport.esc(l)).append("</p>\n"));
        for (int p = 0; p < panels.size(); p++) {
            Map<String, String> panel = panels.get(p);
            if (!panel.isEmpty()) {
                sb.append("<h2>").append(HtmlReport.esc(panelLabel(panel))).append("</h2>\n");
            }
            for (Figure f : Figure.values()) {
                String file = f.json + (panels.size() == 1 ? "" : "-" + p) + ".png";
                if (chart(f, panel, dir.resolve(file))) {
                    String caption = f.title + " against " + (xKey == null ? "nothing" : xKey) + ": the median line, "
                            + "dashed the min and max over the seeds.";
                    sb.append("<figure><img src=\"").append(file).append("\" alt=\"").append(HtmlReport.esc(caption))
                            .append("\"><figcaption>").append(HtmlReport.esc(caption)).append("</figcaption></figure>\n");
                }
                sb.append("<h3>").append(HtmlReport.esc(f.title)).append("</h3>\n").append(HtmlReport.table(table(f, panel)));
            }
        }
        sb.append(HtmlReport.safety(violationLines()));
        sb.append("</body>\n</html>\n");
        Path index = dir.resolve("index.html");
        Files.writeString(index, sb.toString(), StandardCharsets.UTF_8);
        return index;
    }

    /** The chart of {@code f} in {@code panel}; false when no run has the figure. */
    private boolean chart(Figure f, Map<String, String> panel, Path file) throws IOException {
        XYChart c = new XYChartBuilder().width(WIDTH).height(HEIGHT).title(f.title)
                .xAxisTitle(xKey == null ? "" : xKey).yAxisTitle(f.title).build();
        c.getStyler().setChartBackgroundColor(java.awt.Color.WHITE);
        c.getStyler().setYAxisMin(0.0);
        double top = 0;
        boolean any = false;
        for (String l : lines) {
            List<Double> x = new ArrayList<>();
            List<Double> med = new ArrayList<>();
            List<Double> min = new ArrayList<>();
            List<Double> max = new ArrayList<>();
            for (int i = 0; i < xs.size(); i++) {
                Cell cell = cells.get(List.of(panel, xs.get(i), l));
                Optional<RunResult.Spread> s = cell == null ? Optional.empty() : spread(cell, f);
                if (s.isPresent()) {
                    x.add(xNumeric ? number(xs.get(i)).orElseThrow() : i);
                    med.add((double) s.get().median());
                    min.add((double) s.get().min());
                    max.add((double) s.get().max());
                    top = Math.max(top, s.get().max());
                }
            }
            if (x.isEmpty()) {
                continue;
            }
            any = true;
            java.awt.Color colour = lineColour(l);
            String name = l.isEmpty() ? f.title : l;
            XYSeries m = c.addSeries(name, x, med);
            m.setLineColor(colour);
            m.setMarkerColor(colour);
            m.setMarker(SeriesMarkers.CIRCLE);
            m.setLineStyle(new BasicStroke(2f));
            for (List<Double> edge : List.of(min, max)) {
                XYSeries e = c.addSeries(name + (edge == min ? " min" : " max"), x, edge);
                e.setLineColor(colour);
                e.setMarker(SeriesMarkers.NONE);
                e.setShowInLegend(false);
                e.setLineStyle(new BasicStroke(1f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[] {5f, 4f}, 0f));
            }
        }
        if (!any) {
            return false;
        }
        double axisTop = top <= 0 ? 1 : top * 1.1;
        c.getStyler().setYAxisMax(axisTop);
        AxisLabels.Unit unit = f.nanos ? AxisLabels.duration(axisTop) : AxisLabels.count(axisTop);
        c.setCustomYAxisTickLabelsFormatter(AxisLabels.ticks(unit, AxisLabels.decimals(AxisLabels.niceStep(axisTop, 8), unit)));
        if (!xNumeric) {
            c.setCustomXAxisTickLabelsFormatter(v -> {
                int i = (int) Math.round(v);
                return Math.abs(v - i) < 1e-9 && i >= 0 && i < xs.size() ? xs.get(i) : "";
            });
        } else if (xs.stream().anyMatch(v -> !v.matches("-?\\d+"))) {
            c.setCustomXAxisTickLabelsFormatter(v -> Sizes.human(Math.round(v)));
        }
        BitmapEncoder.saveBitmap(c, file.toString(), BitmapEncoder.BitmapFormat.PNG);
        return true;
    }

    /** The strategy's colour when the line is a strategy, else a colour of the same palette by position. */
    private java.awt.Color lineColour(String line) {
        Optional<RecoveryStrategy> s = YamlNamed.parse(RecoveryStrategy.class, line);
        if (s.isPresent()) {
            return StrategyColors.of(s.get());
        }
        java.awt.Color[] others = {new java.awt.Color(0xE69F00), new java.awt.Color(0x56B4E9), new java.awt.Color(0xCC79A7),
            new java.awt.Color(0xF0E442), StrategyColors.NONE};
        return others[lines.indexOf(line) % others.length];
    }
}
