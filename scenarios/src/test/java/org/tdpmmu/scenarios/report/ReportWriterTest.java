package org.tdpmmu.scenarios.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.HdrHistogram.Histogram;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tdpmmu.scenarios.engine.FakeEngine;
import org.tdpmmu.scenarios.engine.PhaseResult;
import org.tdpmmu.scenarios.engine.ProgressListener;
import org.tdpmmu.scenarios.engine.RunResult;
import org.tdpmmu.scenarios.engine.Violation;
import org.tdpmmu.scenarios.load.ScenarioLoader;
import org.tdpmmu.scenarios.model.RecoveryStrategy;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.support.Shipped;

class ReportWriterTest {

    private static List<RunResult> compareRuns() {
        return compareRuns(ScenarioLoader.load(Shipped.path("small-default.yaml")));
    }

    /** {@code s} run once per strategy on the fake engine. */
    static List<RunResult> compareRuns(Scenario s) {
        FakeEngine engine = new FakeEngine();
        List<RunResult> runs = new ArrayList<>();
        for (RecoveryStrategy st : RecoveryStrategy.values()) {
            runs.add(engine.run(s.withStrategy(st), ProgressListener.NONE));
        }
        return runs;
    }

    @Test
    void htmlReportWithCharts(@TempDir Path dir) throws Exception {
        Path index = ReportWriter.html(compareRuns(), dir.resolve("out"));
        assertEquals(dir.resolve("out/index.html"), index);
        String html = Files.readString(index);
        for (String png : List.of("disable-step.png", "disable-timeline.png", "fault-latency.png",
                "phase-wall-times.png", "phase-modeled-times.png")) {
            Path p = dir.resolve("out").resolve(png);
            assertTrue(Files.size(p) > 1000, png);
            byte[] magic = Files.readAllBytes(p);
            assertEquals((byte) 0x89, magic[0]);
            assertEquals('P', magic[1]);
            assertTrue(html.contains("<img src=\"" + png + "\""), png);
        }
        assertTrue(html.contains("<th>zap_leafs</th><th>zap_huge</th><th>promote_in_place</th>"), html);
        assertTrue(html.contains("<td>faults after disable</td>"), html);
        assertTrue(html.contains("<td>fault.installed</td>"), html);
        assertTrue(html.contains("No safety violations."), html);
        assertEquals("true", System.getProperty("java.awt.headless"));
    }

    @Test
    void htmlWithoutHistogramsOrDisableSaysSo(@TempDir Path dir) throws Exception {
        RunResult r = new RunResult("bare", null, List.of(new PhaseResult("populate", 10, null, 0, Map.of(), null, 0, 0)),
                List.of(new Violation("no-leak", "1 table <left>")));
        String html = Files.readString(ReportWriter.html(List.of(r), dir));
        assertTrue(html.contains("no disable-step chart"), html);
        assertTrue(html.contains("no timeline chart"), html);
        assertTrue(html.contains("no latency chart"), html);
        assertTrue(html.contains("VIOLATION no-leak: 1 table &lt;left&gt;"), html);
        assertFalse(Files.exists(dir.resolve("fault-latency.png")));
    }

    @Test
    void jsonRoundTripsTheNumbers() throws Exception {
        List<RunResult> runs = compareRuns();
        JsonNode root = new ObjectMapper().readTree(ReportWriter.json(runs));
        assertEquals("tdpmmu-results/1", root.get("format").asText());
        for (int i = 0; i < runs.size(); i++) {
            RunResult r = runs.get(i);
            JsonNode j = root.get("runs").get(i);
            assertEquals(r.strategy().yamlName(), j.get("strategy").asText());
            assertEquals(r.totalModeledNanos(), j.get("summary").get("modeledNanos").asLong());
            for (int p = 0; p < r.phases().size(); p++) {
                PhaseResult pr = r.phases().get(p);
                JsonNode jp = j.get("phases").get(p);
                assertEquals(pr.name(), jp.get("name").asText());
                assertEquals(pr.wallNanos(), jp.get("wallNanos").asLong());
                assertEquals(pr.perVcpuNanos().length, jp.get("perVcpuNanos").size());
                pr.counters().forEach((k, v) -> assertEquals(v.longValue(), jp.get("counters").get(k).asLong(), k));
                if (pr.faultLatency() != null) {
                    byte[] hdr = Base64.getDecoder().decode(jp.get("faultLatency").get("hdr").asText());
                    Histogram back = Histogram.decodeFromCompressedByteBuffer(ByteBuffer.wrap(hdr), 0);
                    assertEquals(pr.faultLatency(), back);
                    assertEquals(pr.faultLatency().getValueAtPercentile(99), jp.get("faultLatency").get("p99").asLong());
                } else {
                    assertTrue(jp.get("faultLatency").isNull());
                }
            }
        }
    }

    @Test
    void csvQuotesAndCounterColumns() {
        RunResult r = new RunResult("a,b", RecoveryStrategy.ZAP_HUGE, List.of(
                new PhaseResult("populate", 5, null, 7, Map.of("fault.installed", 3L), null, 1, 4096),
                new PhaseResult("teardown", 6, null, 8, Map.of("table.free", 1L), null, 0, 0)), List.of());
        List<String> lines = ReportWriter.csv(List.of(r)).lines().toList();
        assertEquals("scenario,strategy,safe,violations,step,repeats,wall_ns,wall_min_ns,wall_max_ns,modeled_ns,faults,"
                + "peak_live_tables,off_heap_bytes,"
                + "fault_latency_p50_ns,fault_latency_p90_ns,fault_latency_p99_ns,fault_latency_p99_9_ns,fault_latency_max_ns,"
                + "fault.installed,table.free", lines.get(0));
        assertEquals("\"a,b\",zap_huge,true,0,populate,1,5,5,5,7,3,1,4096,,,,,,3,0", lines.get(1));
        assertEquals("\"a,b\",zap_huge,true,0,teardown,1,6,6,6,8,0,0,0,,,,,,0,1", lines.get(2));
    }

    @Test
    void textTableAligns() {
        String t = new TextTable("step", "wall", "faults").row("populate", "1.0 s", "12").row("dirty-pass-10", "12.50 ms", "1,024")
                .render();
        assertEquals(String.join("\n",
                "step               wall  faults",
                "-------------------------------",
                "populate          1.0 s      12",
                "dirty-pass-10  12.50 ms   1,024",
                ""), t);
    }

    @Test
    void singleRunText() {
        RunResult r = compareRuns().get(0);
        String text = ReportWriter.text(List.of(r));
        assertTrue(text.startsWith("scenario small-default (strategy zap_leafs)\n"), text);
        assertTrue(text.contains("counters, summed over all steps"), text);
        assertTrue(text.contains("faults after disabling dirty logging: 128"), text);
        String header = text.lines().filter(l -> l.startsWith("step")).findFirst().orElseThrow();
        assertTrue(header.matches("step\\s+wall\\s+modeled\\s+faults\\s+TLB flushes\\s+vCPUs flushed\\s+fault p99\\s+peak tables"), header);
    }

    @Test
    void formats() {
        assertEquals("1.234567890s", Formats.kernelSeconds(1_234_567_890L));
        assertEquals("0.000001000s", Formats.kernelSeconds(1_000L));
        assertEquals("12.000000000s", Formats.kernelSeconds(12_000_000_000L));
        assertEquals("1.235 s", Formats.duration(1_234_567_890L));
        assertEquals("12.30 ms", Formats.duration(12_300_000L));
        assertEquals("4.5 us", Formats.duration(4_500L));
        assertEquals("80 ns", Formats.duration(80L));
        assertEquals("1,048,576", Formats.count(1L << 20));
    }
}
