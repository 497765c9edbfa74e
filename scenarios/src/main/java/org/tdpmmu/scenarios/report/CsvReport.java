package org.tdpmmu.scenarios.report;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.HdrHistogram.Histogram;
import org.tdpmmu.scenarios.engine.PhaseResult;
import org.tdpmmu.scenarios.engine.RunResult;

/**
 * The {@code --csv} output: one row per (run, step), RFC 4180 quoting. Columns: scenario, strategy,
 * the run's safety verdict ({@code safe} true/false, {@code violations} count), step, repeats,
 * wall_ns (the median over the repeats), wall_min_ns, wall_max_ns, modeled_ns, faults,
 * peak_live_tables, off_heap_bytes, fault latency percentiles in ns (empty without a histogram),
 * then one column per counter name seen in any run (sorted; 0 when a step lacks it), then, with a
 * {@link Provenance}, its {@link Provenance#csvColumns} on every row.
 */
public final class CsvReport {

    private CsvReport() {
    }

    public static String render(List<RunResult> runs) {
        return render(runs, null);
    }

    public static String render(List<RunResult> runs, Provenance provenance) {
        TreeSet<String> counters = new TreeSet<>();
        runs.forEach(r -> r.phases().forEach(p -> counters.addAll(p.counters().keySet())));
        List<String> header = new ArrayList<>(List.of("scenario", "strategy", "safe", "violations", "step",
                "repeats", "wall_ns", "wall_min_ns", "wall_max_ns", "modeled_ns",
                "faults", "peak_live_tables", "off_heap_bytes"));
        Metrics.PERCENTILES.keySet().forEach(k -> header.add("fault_latency_" + k.replace('.', '_') + "_ns"));
        header.addAll(counters);
        Map<String, String> prov = provenance == null ? Map.of() : provenance.csvColumns();
        header.addAll(prov.keySet());
        StringBuilder sb = new StringBuilder();
        line(sb, header);
        for (RunResult r : runs) {
            for (PhaseResult p : r.phases()) {
                RunResult.Spread wall = r.wallSpread(p.name()).orElseThrow();
                List<String> row = new ArrayList<>(List.of(r.scenarioName(),
                        r.strategy() == null ? "" : r.strategy().yamlName(), Boolean.toString(r.ok()),
                        Integer.toString(r.violations().size()), p.name(), Integer.toString(wall.n()),
                        Long.toString(wall.median()), Long.toString(wall.min()), Long.toString(wall.max()),
                        Long.toString(p.modeledNanos()), Long.toString(p.faults()),
                        Long.toString(p.peakLiveTables()), Long.toString(p.offHeapBytes())));
                Histogram h = p.faultLatency();
                if (h != null && h.getTotalCount() > 0) {
                    Metrics.percentiles(h).values().forEach(v -> row.add(Long.toString(v)));
                } else {
                    Metrics.PERCENTILES.keySet().forEach(k -> row.add(""));
                }
                Map<String, Long> c = p.counters();
                counters.forEach(k -> row.add(Long.toString(c.getOrDefault(k, 0L))));
                row.addAll(prov.values());
                line(sb, row);
            }
        }
        return sb.toString();
    }

    private static void line(StringBuilder sb, List<String> cells) {
        for (int i = 0; i < cells.size(); i++) {
            if (i > 0) {
                sb.append(',');
            }
            sb.append(quote(cells.get(i)));
        }
        sb.append('\n');
    }

    static String quote(String s) {
        if (s.indexOf(',') < 0 && s.indexOf('"') < 0 && s.indexOf('\n') < 0 && s.indexOf('\r') < 0) {
            return s;
        }
        return '"' + s.replace("\"", "\"\"") + '"';
    }
}
