package org.tdpmmu.scenarios.report;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.JsonNode;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Map;
import java.util.TreeMap;
import org.tdpmmu.scenarios.model.RecoveryStrategy;
import org.tdpmmu.scenarios.model.YamlNamed;
import java.util.Base64;
import java.util.List;
import org.HdrHistogram.Histogram;
import org.tdpmmu.scenarios.engine.PhaseResult;
import org.tdpmmu.scenarios.engine.RunResult;
import org.tdpmmu.scenarios.engine.Timeline;
import org.tdpmmu.scenarios.engine.Violation;

/**
 * The {@code --json} output: one object {@code {"runs": [...]}} with, per run, the scenario, the
 * strategy, the verdict, the derived summary and every step's measurements. Times are integers in
 * ns. A fault-latency histogram is given as its count, min, mean, percentiles and, under
 * {@code hdr}, the whole histogram in HdrHistogram's compressed encoding, base64. A run's
 * {@code timeline} (null when the engine sampled none) gives the sampling interval, the samples as
 * three arrays of equal length ({@code timeNanos} since the start of the run, cumulative
 * {@code accesses} and {@code faults} over all vCPUs) and each step's start and end on that clock.
 */
public final class JsonReport {

    private static final ObjectMapper MAPPER = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private JsonReport() {
    }

    public static String render(List<RunResult> runs) {
        return render(runs, null);
    }

    /**
     * The JSON of {@code runs}, with {@code provenance} (may be null) under {@code "provenance"}.
     * A run merged from repeats gives each wall figure as the median, with {@code wallNanosMin},
     * {@code wallNanosMax} and every repeat's value in {@code wallNanosRepeats}, and lists under
     * {@code repeatDifferences} any count that was not the same in every repeat.
     */
    public static String render(List<RunResult> runs, Provenance provenance) {
        ObjectNode root = MAPPER.createObjectNode();
        root.put("format", "tdpmmu-results/1");
        if (provenance != null) {
            root.set("provenance", provenance.json());
        }
        ArrayNode arr = root.putArray("runs");
        for (RunResult r : runs) {
            arr.add(run(r));
        }
        try {
            return MAPPER.writeValueAsString(root) + "\n";
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static ObjectNode run(RunResult r) {
        ObjectNode o = MAPPER.createObjectNode();
        o.put("scenario", r.scenarioName());
        o.put("strategy", r.strategy() == null ? null : r.strategy().yamlName());
        if (r.kernel() != null) {
            o.put("kernel", r.kernel());
        }
        o.put("ok", r.ok());
        o.put("repeats", r.runs().size());
        ArrayNode diffs = o.putArray("repeatDifferences");
        r.repeatDifferences().forEach(diffs::add);
        ArrayNode vs = o.putArray("violations");
        for (Violation v : r.violations()) {
            vs.addObject().put("property", v.property()).put("message", v.message());
        }
        ObjectNode s = o.putObject("summary");
        spread(s, "wallNanos", r.totalWallSpread(),
                r.runs().stream().mapToLong(RunResult::totalWallNanos).toArray());
        s.put("modeledNanos", r.totalModeledNanos());
        s.put("faults", r.phases().stream().mapToLong(PhaseResult::faults).sum());
        putOpt(s, "faultsAfterDisable", Metrics.faultsAfterDisable(r).orElse(null));
        putOpt(s, "tlbFlushesAtDisable", Metrics.tlbFlushesAtDisable(r).orElse(null));
        putOpt(s, "vcpusFlushedAtDisable", Metrics.vcpusFlushedAtDisable(r).orElse(null));
        s.put("peakLiveTables", Metrics.peakLiveTables(r));
        Metrics.faultLatency(r).ifPresent(h -> s.set("faultLatency", latency(h, false)));
        ObjectNode totals = s.putObject("counters");
        r.totals().forEach(totals::put);
        ArrayNode phases = o.putArray("phases");
        for (PhaseResult p : r.phases()) {
            ObjectNode po = phases.addObject();
            po.put("name", p.name());
            spread(po, "wallNanos", r.wallSpread(p.name()).orElseThrow(), r.runs().stream()
                    .flatMap(x -> x.phase(p.name()).stream()).mapToLong(PhaseResult::wallNanos).toArray());
            ArrayNode pv = po.putArray("perVcpuNanos");
            for (long n : p.perVcpuNanos()) {
                pv.add(n);
            }
            po.put("modeledNanos", p.modeledNanos());
            ObjectNode c = po.putObject("counters");
            p.counters().forEach(c::put);
            po.put("peakLiveTables", p.peakLiveTables());
            po.put("offHeapBytes", p.offHeapBytes());
            if (p.faultLatency() != null) {
                po.set("faultLatency", latency(p.faultLatency(), true));
            } else {
                po.putNull("faultLatency");
            }
        }
        if (r.timeline() == null) {
            o.putNull("timeline");
        } else {
            o.set("timeline", timeline(r));
        }
        return o;
    }

    private static ObjectNode timeline(RunResult r) {
        Timeline t = r.timeline();
        ObjectNode o = MAPPER.createObjectNode();
        o.put("intervalNanos", t.intervalNanos());
        ArrayNode time = o.putArray("timeNanos");
        ArrayNode acc = o.putArray("accesses");
        ArrayNode flt = o.putArray("faults");
        for (int i = 0; i < t.size(); i++) {
            time.add(t.timeAt(i));
            acc.add(t.accessesAt(i));
            flt.add(t.faultsAt(i));
        }
        ArrayNode steps = o.putArray("steps");
        for (int i = 0; i < r.phases().size(); i++) {
            steps.addObject().put("name", r.phases().get(i).name()).put("startNanos", t.stepStart(i))
                    .put("endNanos", t.stepEnd(i));
        }
        return o;
    }

    private static void spread(ObjectNode o, String key, RunResult.Spread sp, long[] each) {
        o.put(key, sp.median());
        if (each.length > 1) {
            o.put(key + "Min", sp.min());
            o.put(key + "Max", sp.max());
            ArrayNode a = o.putArray(key + "Repeats");
            for (long v : each) {
                a.add(v);
            }
        }
    }

    /**
     * The runs of a {@link #render} output, each as a single run (the child-JVM protocol: a child
     * writes one run, the parent reads it back and merges the repeats). Reads what a single run's
     * JSON holds: names, strategy, steps with wall, per-vCPU and modeled times, counters, peak
     * tables, off-heap bytes, the whole fault-latency histogram ({@code hdr}), violations.
     *
     * @throws IllegalArgumentException if {@code json} is not such an output
     */
    public static List<RunResult> parse(String json) {
        try {
            JsonNode root = MAPPER.readTree(json);
            if (root == null || !"tdpmmu-results/1".equals(root.path("format").asText())) {
                throw new IllegalArgumentException("not a tdpmmu-results/1 document");
            }
            List<RunResult> out = new ArrayList<>();
            for (JsonNode r : root.path("runs")) {
                List<PhaseResult> phases = new ArrayList<>();
                for (JsonNode p : r.path("phases")) {
                    long[] perVcpu = new long[p.path("perVcpuNanos").size()];
                    for (int i = 0; i < perVcpu.length; i++) {
                        perVcpu[i] = p.path("perVcpuNanos").get(i).asLong();
                    }
                    Map<String, Long> counters = new TreeMap<>();
                    p.path("counters").fields().forEachRemaining(e -> counters.put(e.getKey(), e.getValue().asLong()));
                    Histogram h = null;
                    JsonNode hdr = p.path("faultLatency").path("hdr");
                    if (hdr.isTextual()) {
                        h = Histogram.decodeFromCompressedByteBuffer(
                                ByteBuffer.wrap(Base64.getDecoder().decode(hdr.asText())), 0);
                    }
                    phases.add(new PhaseResult(p.path("name").asText(), p.path("wallNanos").asLong(), perVcpu,
                            p.path("modeledNanos").asLong(), counters, h, p.path("peakLiveTables").asLong(),
                            p.path("offHeapBytes").asLong()));
                }
                List<Violation> vs = new ArrayList<>();
                for (JsonNode v : r.path("violations")) {
                    vs.add(new Violation(v.path("property").asText(), v.path("message").asText()));
                }
                String strategy = r.path("strategy").isTextual() ? r.path("strategy").asText() : null;
                RunResult read = new RunResult(r.path("scenario").asText(), strategy == null ? null
                        : YamlNamed.parse(RecoveryStrategy.class, strategy).orElseThrow(
                                () -> new IllegalArgumentException("unknown strategy " + strategy)),
                        phases, vs, parseTimeline(r.path("timeline"), phases.size()));
                out.add(r.path("kernel").isTextual() ? read.withKernel(r.path("kernel").asText()) : read);
            }
            return out;
        } catch (java.io.IOException | java.util.zip.DataFormatException e) {
            throw new IllegalArgumentException("not a tdpmmu-results/1 document: " + e.getMessage(), e);
        }
    }

    /** The {@link #timeline} object read back; null when the run has none. */
    private static Timeline parseTimeline(JsonNode t, int steps) {
        if (!t.isObject()) {
            return null;
        }
        long[] time = longs(t.path("timeNanos"));
        long[] acc = longs(t.path("accesses"));
        long[] flt = longs(t.path("faults"));
        long[] start = new long[steps];
        long[] end = new long[steps];
        JsonNode st = t.path("steps");
        if (st.size() != steps) {
            throw new IllegalArgumentException("timeline has " + st.size() + " steps, the run " + steps);
        }
        for (int i = 0; i < steps; i++) {
            start[i] = st.get(i).path("startNanos").asLong();
            end[i] = st.get(i).path("endNanos").asLong();
        }
        return new Timeline(t.path("intervalNanos").asLong(), time, acc, flt, start, end);
    }

    private static long[] longs(JsonNode a) {
        long[] v = new long[a.size()];
        for (int i = 0; i < v.length; i++) {
            v[i] = a.get(i).asLong();
        }
        return v;
    }

    private static void putOpt(ObjectNode o, String key, Long v) {
        if (v == null) {
            o.putNull(key);
        } else {
            o.put(key, v);
        }
    }

    private static ObjectNode latency(Histogram h, boolean withHdr) {
        ObjectNode o = MAPPER.createObjectNode();
        o.put("count", h.getTotalCount());
        o.put("minNanos", h.getTotalCount() == 0 ? 0 : h.getMinValue());
        o.put("meanNanos", h.getMean());
        Metrics.percentiles(h).forEach((k, v) -> o.put(k, v));
        if (withHdr) {
            ByteBuffer buf = ByteBuffer.allocate(h.getNeededByteBufferCapacity());
            int n = h.encodeIntoCompressedByteBuffer(buf);
            byte[] bytes = new byte[n];
            buf.flip();
            buf.get(bytes);
            o.put("hdr", Base64.getEncoder().encodeToString(bytes));
        }
        return o;
    }
}
