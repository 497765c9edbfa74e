package org.tdpmmu.scenarios.report;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.ByteBuffer;
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
        ObjectNode root = MAPPER.createObjectNode();
        root.put("format", "tdpmmu-results/1");
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
        o.put("ok", r.ok());
        ArrayNode vs = o.putArray("violations");
        for (Violation v : r.violations()) {
            vs.addObject().put("property", v.property()).put("message", v.message());
        }
        ObjectNode s = o.putObject("summary");
        s.put("wallNanos", r.totalWallNanos());
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
            po.put("wallNanos", p.wallNanos());
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
