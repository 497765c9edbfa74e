package org.tdpmmu.scenarios.report;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.SeriesMarkers;
import org.tdpmmu.scenarios.engine.RunResult;
import org.tdpmmu.scenarios.engine.Timeline;

/**
 * The timeline through the disable step: guest accesses per second and faults per second of each
 * run, on one time axis whose 0 is the start of each run's disable step, from a little before it
 * to the end of the step after it (the second pass, where a zapping strategy's refaults land when
 * the vCPUs were stopped during disable). Dashed lines mark where the disable step started (grey)
 * and ended (the run's colour). With {@code vcpusRunning} the refault storm of a zap shows inside the disable step:
 * faults per second jump and accesses per second drop; in-place promotion leaves both flat.
 *
 * <p>Rates come from the cumulative samples, interpolated linearly at the edges of equal bins
 * (about 120 over the window, never shorter than the sampling interval), so a bin's rate is the
 * count that happened in it divided by its length.
 */
final class TimelineChart {

    /** Bins over a run's window. */
    static final int BINS = 120;

    private TimelineChart() {
    }

    /** A run's window and its rates: x in ms from the disable start, rates per second. */
    record Series(double[] xMillis, double[] accessesPerSecond, double[] faultsPerSecond, double disableEndMillis) {
    }

    /** The window series of {@code run}, or empty without a timeline or a disable step. */
    static Optional<Series> series(RunResult run) {
        Timeline t = run.timeline();
        int d = Metrics.disableIndex(run);
        if (t == null || d < 0 || t.size() < 2) {
            return Optional.empty();
        }
        long ds = t.stepStart(d);
        long de = t.stepEnd(d);
        long we = de;
        if (d + 1 < run.phases().size() && !run.phases().get(d + 1).name().startsWith("teardown")) {
            we = t.stepEnd(d + 1);
        }
        long pad = Math.max((we - ds) / 20, 2 * t.intervalNanos());
        long from = Math.max(0, ds - pad);
        long to = Math.min(t.timeAt(t.size() - 1), we + pad);
        long bin = Math.max(t.intervalNanos(), (to - from + BINS - 1) / BINS);
        int n = (int) Math.max(1, (to - from) / bin);
        double[] x = new double[n];
        double[] acc = new double[n];
        double[] flt = new double[n];
        for (int i = 0; i < n; i++) {
            long a = from + i * bin;
            long b = a + bin;
            x[i] = (a + bin / 2.0 - ds) / 1e6;
            acc[i] = (at(t, b, true) - at(t, a, true)) * 1e9 / bin;
            flt[i] = (at(t, b, false) - at(t, a, false)) * 1e9 / bin;
        }
        return Optional.of(new Series(x, acc, flt, (de - ds) / 1e6));
    }

    /** The cumulative count at {@code time}, interpolated between the samples around it. */
    static double at(Timeline t, long time, boolean accesses) {
        int lo = 0;
        int hi = t.size() - 1;
        if (time <= t.timeAt(lo)) {
            return value(t, lo, accesses);
        }
        if (time >= t.timeAt(hi)) {
            return value(t, hi, accesses);
        }
        while (hi - lo > 1) {
            int mid = (lo + hi) >>> 1;
            if (t.timeAt(mid) <= time) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        long t0 = t.timeAt(lo);
        long t1 = t.timeAt(hi);
        double v0 = value(t, lo, accesses);
        double v1 = value(t, hi, accesses);
        return t1 == t0 ? v1 : v0 + (v1 - v0) * (time - t0) / (double) (t1 - t0);
    }

    private static double value(Timeline t, int i, boolean accesses) {
        return accesses ? t.accessesAt(i) : t.faultsAt(i);
    }

    /**
     * Writes one row per run — accesses/s on the left, faults/s on the right, in the run's colour —
     * into {@code file}; false (nothing written) when no run has a timeline through a disable step.
     * A row per run rather than all runs on one axis: a zap's disable step can last 30 times as
     * long as in-place promotion's, which would squeeze the short one into a few pixels. The
     * accesses/s charts share one y axis, and so do the faults/s charts, so rows compare.
     */
    static boolean write(List<RunResult> runs, List<String> labels, Path file, int width)
            throws IOException {
        List<Integer> shown = new ArrayList<>();
        List<Series> series = new ArrayList<>();
        double maxAcc = 0;
        double maxFlt = 0;
        for (int i = 0; i < runs.size(); i++) {
            Optional<Series> s = series(runs.get(i));
            if (s.isPresent()) {
                shown.add(i);
                series.add(s.get());
                maxAcc = Math.max(maxAcc, max(s.get().accessesPerSecond()));
                maxFlt = Math.max(maxFlt, max(s.get().faultsPerSecond()));
            }
        }
        if (shown.isEmpty()) {
            return false;
        }
        List<XYChart> charts = new ArrayList<>();
        for (int k = 0; k < shown.size(); k++) {
            int i = shown.get(k);
            Series r = series.get(k);
            Color c = StrategyColors.of(runs.get(i));
            charts.add(chart(labels.get(i) + ": guest accesses/s", "accesses/s", width / 2, c, r.xMillis(),
                    r.accessesPerSecond(), maxAcc, r.disableEndMillis()));
            charts.add(chart(labels.get(i) + ": faults/s", "faults/s", width / 2, c, r.xMillis(),
                    r.faultsPerSecond(), maxFlt, r.disableEndMillis()));
        }
        BitmapEncoder.saveBitmap(charts, shown.size(), 2, file.toString(), BitmapEncoder.BitmapFormat.PNG);
        return true;
    }

    private static double max(double[] ys) {
        double m = 0;
        for (double v : ys) {
            m = Math.max(m, v);
        }
        return m;
    }

    private static XYChart chart(String title, String y, int width, Color color, double[] xs, double[] ys,
                                 double max, double endMillis) {
        XYChart c = new XYChartBuilder().width(width).height(280).title(title)
                .xAxisTitle("ms from the disable start (dashed: its end)").yAxisTitle(y).build();
        c.getStyler().setChartBackgroundColor(Color.WHITE);
        c.getStyler().setChartTitleFont(new java.awt.Font(java.awt.Font.SANS_SERIF, java.awt.Font.BOLD, 12));
        c.getStyler().setLegendVisible(false);
        c.getStyler().setMarkerSize(0);
        c.getStyler().setXAxisDecimalPattern("#,##0.#");
        double top = max <= 0 ? 1 : max * 1.1;
        c.getStyler().setYAxisMin(0.0);
        c.getStyler().setYAxisMax(top);
        AxisLabels.Unit unit = AxisLabels.count(top);
        c.setCustomYAxisTickLabelsFormatter(
                AxisLabels.ticks(unit, AxisLabels.decimals(AxisLabels.niceStep(top, 8), unit)));
        XYSeries s = c.addSeries(y, xs, ys);
        s.setLineColor(color);
        s.setMarker(SeriesMarkers.NONE);
        s.setLineStyle(new BasicStroke(2f));
        for (double x : new double[] {0, endMillis}) {
            XYSeries m = c.addSeries("step edge " + x, new double[] {x, x}, new double[] {0, top});
            m.setLineColor(x == 0 ? Color.DARK_GRAY : color);
            m.setMarker(SeriesMarkers.NONE);
            m.setLineStyle(new BasicStroke(1.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f,
                    new float[] {6f, 4f}, 0f));
        }
        return c;
    }
}
