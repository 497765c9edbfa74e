package org.tdpmmu.scenarios.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.HdrHistogram.Histogram;
import org.junit.jupiter.api.Test;
import org.tdpmmu.scenarios.engine.FakeEngine;
import org.tdpmmu.scenarios.engine.PhaseResult;
import org.tdpmmu.scenarios.engine.ProgressListener;
import org.tdpmmu.scenarios.engine.RunResult;
import org.tdpmmu.scenarios.engine.Violation;
import org.tdpmmu.scenarios.load.ScenarioLoader;
import org.tdpmmu.scenarios.model.RecoveryStrategy;
import org.tdpmmu.scenarios.support.Shipped;

/** Repeats merged into medians with their spread, and the JSON a child JVM hands back. */
class RepeatsTest {

    private static RunResult run(long populateWall, long teardownWall, long faults, Violation... vs) {
        Histogram h = new Histogram(3);
        h.recordValue(populateWall);
        return new RunResult("s", RecoveryStrategy.ZAP_HUGE, List.of(
                new PhaseResult("populate", populateWall, new long[] {populateWall}, 100,
                        Map.of("fault.installed", faults), h, 3, 4096),
                new PhaseResult("teardown", teardownWall, null, 50, Map.of("table.free", 3L), null, 0, 0)),
                List.of(vs));
    }

    @Test
    void wallIsTheMedianPerStepWithItsRange() {
        RunResult m = RunResult.merge(List.of(run(50, 7, 10), run(10, 9, 10), run(30, 8, 10)));
        assertEquals(3, m.runs().size());
        assertEquals(new RunResult.Spread(30, 10, 50, 3), m.wallSpread("populate").orElseThrow());
        assertEquals(new RunResult.Spread(8, 7, 9, 3), m.wallSpread("teardown").orElseThrow());
        assertEquals(30, m.phase("populate").orElseThrow().wallNanos(), "the merged step shows the median");
        assertEquals(new RunResult.Spread(38, 19, 57, 3), m.totalWallSpread(), "totals: 57, 19, 38");
        assertEquals(List.of(), m.repeatDifferences());
        assertEquals(3, m.phase("populate").orElseThrow().faultLatency().getTotalCount(), "latencies of every repeat");
        assertEquals(100, m.phase("populate").orElseThrow().modeledNanos());
        assertEquals("30 ns [10-50 ns]", Formats.spread(m.wallSpread("populate").orElseThrow()));
        assertEquals(new RunResult.Spread(15, 10, 20, 2), RunResult.Spread.of(new long[] {20, 10}));
    }

    @Test
    void countsThatDifferAreListedAndTheMedianRunsAreShown() {
        // totals 57 (faults 11), 19 (faults 10), 38 (faults 12): the median run is the third
        RunResult m = RunResult.merge(List.of(run(50, 7, 11), run(10, 9, 10), run(30, 8, 12)));
        assertEquals(List.of("populate fault.installed: 10..12"), m.repeatDifferences());
        assertEquals(12, m.phase("populate").orElseThrow().counter("fault.installed"));
        assertTrue(TextReport.differences(List.of(m)).contains("populate fault.installed: 10..12"));
        RunResult same = RunResult.merge(List.of(run(1, 1, 5), run(2, 2, 5)));
        assertTrue(TextReport.differences(List.of(same)).contains("identical in every repeat"));
        assertEquals("", TextReport.differences(List.of(run(1, 1, 5))), "nothing to say about a single run");
    }

    @Test
    void violationsOfEveryRepeatAreKeptAndNamed() {
        RunResult m = RunResult.merge(List.of(run(1, 1, 1), run(2, 2, 1, new Violation(Violation.NO_LEAK, "1 table"))));
        assertEquals(List.of(new Violation(Violation.NO_LEAK, "(repeat 2) 1 table")), m.violations());
        assertTrue(m.repeatDifferences().contains("safety verdict differs between repeats"));
        assertThrows(IllegalArgumentException.class, () -> RunResult.merge(List.of(run(1, 1, 1),
                new RunResult("other", null, List.of(), List.of()))));
    }

    @Test
    void textCsvAndJsonShowTheSpread() throws Exception {
        RunResult m = RunResult.merge(List.of(run(50, 7, 10), run(10, 9, 10), run(30, 8, 10)));
        String text = ReportWriter.text(List.of(m));
        assertTrue(text.contains("30 ns [10-50 ns]"), text);
        assertTrue(text.contains("38 ns [19-57 ns]"), text);
        List<List<String>> csv = ProvenanceTest.parseCsv(ReportWriter.csv(List.of(m)));
        List<String> h = csv.get(0);
        assertEquals(List.of("3", "30", "10", "50"), List.of(csv.get(1).get(h.indexOf("repeats")),
                csv.get(1).get(h.indexOf("wall_ns")), csv.get(1).get(h.indexOf("wall_min_ns")),
                csv.get(1).get(h.indexOf("wall_max_ns"))));
        JsonNode run = new ObjectMapper().readTree(ReportWriter.json(List.of(m))).at("/runs/0");
        assertEquals(3, run.get("repeats").asInt());
        assertEquals(30, run.at("/phases/0/wallNanos").asLong());
        assertEquals(10, run.at("/phases/0/wallNanosMin").asLong());
        assertEquals(50, run.at("/phases/0/wallNanosMax").asLong());
        assertEquals("[50,10,30]", run.at("/phases/0/wallNanosRepeats").toString());
        assertEquals(38, run.at("/summary/wallNanos").asLong());
        assertEquals(0, run.get("repeatDifferences").size());
    }

    @Test
    void jsonParsesBackToTheSameRuns() {
        FakeEngine engine = new FakeEngine();
        List<RunResult> runs = new ArrayList<>();
        for (RecoveryStrategy st : RecoveryStrategy.values()) {
            runs.add(engine.run(ScenarioLoader.load(Shipped.path("small-default.yaml")).withStrategy(st),
                    ProgressListener.NONE));
        }
        runs.add(run(5, 6, 7, new Violation(Violation.NO_LOST_WRITE, "gfn 0x1 \"quoted\"")));
        List<RunResult> back = JsonReport.parse(JsonReport.render(runs));
        assertEquals(runs.size(), back.size());
        for (int i = 0; i < runs.size(); i++) {
            RunResult a = runs.get(i);
            RunResult b = back.get(i);
            assertEquals(a.scenarioName(), b.scenarioName());
            assertEquals(a.strategy(), b.strategy());
            assertEquals(a.violations(), b.violations());
            assertEquals(a.phases().size(), b.phases().size());
            for (int j = 0; j < a.phases().size(); j++) {
                PhaseResult p = a.phases().get(j);
                PhaseResult q = b.phases().get(j);
                assertEquals(p.name(), q.name());
                assertEquals(p.wallNanos(), q.wallNanos());
                assertTrue(java.util.Arrays.equals(p.perVcpuNanos(), q.perVcpuNanos()), p.name());
                assertEquals(p.modeledNanos(), q.modeledNanos());
                assertEquals(p.counters(), q.counters());
                assertEquals(p.peakLiveTables(), q.peakLiveTables());
                assertEquals(p.offHeapBytes(), q.offHeapBytes());
                if (p.faultLatency() == null) {
                    assertEquals(null, q.faultLatency());
                } else {
                    assertEquals(p.faultLatency().getTotalCount(), q.faultLatency().getTotalCount());
                    assertEquals(p.faultLatency().getValueAtPercentile(99), q.faultLatency().getValueAtPercentile(99));
                    assertEquals(p.faultLatency().getMaxValue(), q.faultLatency().getMaxValue());
                }
            }
        }
        assertThrows(IllegalArgumentException.class, () -> JsonReport.parse("{\"format\": \"other\"}"));
        assertThrows(IllegalArgumentException.class, () -> JsonReport.parse("not json"));
    }
}
