package org.tdpmmu.scenarios.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.Color;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tdpmmu.scenarios.engine.PhaseResult;
import org.tdpmmu.scenarios.engine.RunResult;
import org.tdpmmu.scenarios.engine.Timeline;
import org.tdpmmu.scenarios.model.RecoveryStrategy;

/** The report's charts: their inputs (spreads, rates, tick labels) and what they draw. */
class ReportChartsTest {

    @Test
    void spreadOfOneRunIsThatRunAndOfManyTheMeasuredMiddle() {
        assertEquals(new Spread(7, 7, 7), Spread.single(7));
        assertEquals(new Spread(7, 7, 7), Spread.of(List.of(7L)));
        assertEquals(new Spread(1, 5, 9), Spread.of(List.of(9L, 1L, 5L)));
        assertEquals(new Spread(1, 3, 9), Spread.of(List.of(9L, 1L, 5L, 3L)), "lower middle: a measured value");
        assertTrue(Spread.of(List.of(1L, 2L)).varies());
    }

    @Test
    void tickLabelsShareOneUnitAndOneNumberOfDecimals() {
        AxisLabels.Unit ms = AxisLabels.duration(1.5e6);
        Function<Double, String> f = AxisLabels.ticks(ms, AxisLabels.decimals(AxisLabels.niceStep(1.5e6, 5), ms));
        assertEquals(List.of("0", "0.3 ms", "0.6 ms", "0.9 ms", "1.2 ms", "1.5 ms"),
                List.of(0.0, 3e5, 6e5, 9e5, 1.2e6, 1.5e6).stream().map(f).toList());
        AxisLabels.Unit k = AxisLabels.count(15_000);
        Function<Double, String> g = AxisLabels.ticks(k, AxisLabels.decimals(5_000, k));
        assertEquals(List.of("0", "5 k", "10 k", "15 k"), List.of(0.0, 5e3, 10e3, 15e3).stream().map(g).toList());
        assertEquals("0", AxisLabels.value(0, false));
        assertEquals("12,063", AxisLabels.value(12_063, false));
        assertEquals("24.8 ms", AxisLabels.value(24_760_000, true));
    }

    /** 1 access per µs throughout; 500 faults per ms inside the disable step only. */
    private static RunResult timed() {
        int n = 41;
        long[] time = new long[n];
        long[] acc = new long[n];
        long[] flt = new long[n];
        for (int i = 0; i < n; i++) {
            time[i] = i * 1_000_000L;
            acc[i] = i * 1_000L;
            flt[i] = 500L * Math.max(0, Math.min(i, 20) - 10);
        }
        Timeline t = new Timeline(1_000_000, time, acc, flt, new long[] {0, 10_000_000, 20_000_000},
                new long[] {10_000_000, 20_000_000, 40_000_000});
        List<PhaseResult> phases = List.of(phase("dirty-pass-1"), phase("disable-dirty-logging"), phase("second-pass"));
        return new RunResult("t", RecoveryStrategy.ZAP_LEAFS, phases, List.of(), t);
    }

    private static PhaseResult phase(String name) {
        return new PhaseResult(name, 10_000_000, null, 0, Map.of(), null, 0, 0);
    }

    @Test
    void timelineRatesAreCountsPerBinOverTheDisableStepAndTheNext() {
        TimelineChart.Series s = TimelineChart.series(timed()).orElseThrow();
        assertEquals(10.0, s.disableEndMillis(), 1e-9);
        assertTrue(s.xMillis()[0] < 0, "starts a little before the disable step");
        assertTrue(s.xMillis()[s.xMillis().length - 1] > 20, "runs into the second pass");
        for (int i = 0; i < s.xMillis().length; i++) {
            double x = s.xMillis()[i];
            assertEquals(1e6, s.accessesPerSecond()[i], 1e-3, "x=" + x);
            double want = x > 0 && x < 10 ? 5e5 : 0;
            if (Math.abs(x) > 0.6 && Math.abs(x - 10) > 0.6) {
                assertEquals(want, s.faultsPerSecond()[i], 1e-3, "x=" + x);
            }
        }
        assertEquals(1500.0, TimelineChart.at(timed().timeline(), 13_000_000, false), 1e-9);
        assertEquals(1750.0, TimelineChart.at(timed().timeline(), 13_500_000, false), 1e-9, "interpolated");
    }

    @Test
    void aZeroBarIsLabelledZero() {
        BufferedImage img = BarFigure.render("t", "", List.of(new BarFigure.Panel("faults", false, List.of(
                new BarFigure.Bar("zap_leafs", StrategyColors.of(RecoveryStrategy.ZAP_LEAFS), Spread.single(100)),
                new BarFigure.Bar("promote_in_place", StrategyColors.of(RecoveryStrategy.PROMOTE_IN_PLACE),
                        Spread.single(0))))));
        // The second bar's column (cx 370) just above the axis (y 308): the "0" is drawn there.
        int dark = 0;
        for (int x = 355; x < 385; x++) {
            for (int y = 285; y < 306; y++) {
                Color c = new Color(img.getRGB(x, y));
                if (c.getRed() < 90 && c.getGreen() < 90 && c.getBlue() < 90) {
                    dark++;
                }
            }
        }
        assertTrue(dark > 5, "no label over the zero bar: " + dark + " dark pixels");
    }

    @Test
    void repeatsOfAStrategyAreOneBarAndColoursFollowTheStrategy(@TempDir Path dir) throws Exception {
        List<RunResult> runs = new ArrayList<>();
        runs.add(timed());
        runs.add(timed());
        assertEquals(List.of("zap_leafs"), new ArrayList<>(HtmlReport.byLabel(runs).keySet()));
        assertEquals(2, HtmlReport.byLabel(runs).get("zap_leafs").size());
        String html = Files.readString(ReportWriter.html(runs, dir));
        assertTrue(html.contains("background:#d55e00"), "the page's legend uses the strategy's colour");
        assertTrue(Files.size(dir.resolve("disable-timeline.png")) > 1000);
    }

    /** compare --kernels: one bar group per release, even where two releases share a strategy. */
    @Test
    void kernelColumnsAreChartedOnePerReleaseAndSurviveJson(@TempDir Path dir) throws Exception {
        List<RunResult> runs = List.of(timed().withKernel("6.1"), timed().withKernel("6.6"), timed().withKernel("6.6"));
        assertEquals(List.of("6.1", "6.6"), new ArrayList<>(HtmlReport.byLabel(runs).keySet()));
        assertEquals("kernel release", Metrics.axis(runs));
        assertEquals("recovery strategy", Metrics.axis(List.of(timed())));
        String html = Files.readString(ReportWriter.html(runs, dir));
        assertTrue(html.contains("6.1") && html.contains("6.6"), "the releases label the page");
        assertTrue(Files.size(dir.resolve("disable-step.png")) > 1000);
        RunResult back = JsonReport.parse(JsonReport.render(List.of(runs.get(0)))).get(0);
        assertEquals("6.1", back.kernel());
    }

    @Test
    void jsonCarriesTheTimeline() throws Exception {
        RunResult r = timed();
        JsonNode t = new ObjectMapper().readTree(ReportWriter.json(List.of(r))).get("runs").get(0).get("timeline");
        assertEquals(1_000_000, t.get("intervalNanos").asLong());
        assertEquals(41, t.get("timeNanos").size());
        assertEquals(40_000, t.get("accesses").get(40).asLong());
        assertEquals(5_000, t.get("faults").get(40).asLong());
        assertEquals("disable-dirty-logging", t.get("steps").get(1).get("name").asText());
        assertEquals(20_000_000, t.get("steps").get(1).get("endNanos").asLong());
        JsonNode none = new ObjectMapper().readTree(ReportWriter.json(List.of(new RunResult("n", null,
                List.of(phase("populate")), List.of())))).get("runs").get(0).get("timeline");
        assertTrue(none.isNull());
    }
}
