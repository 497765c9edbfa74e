package org.tdpmmu.scenarios.report;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Function;
import javax.imageio.ImageIO;

/**
 * Small multiples of bar charts drawn with Java2D: one panel per figure, one bar per strategy in
 * the strategy's colour, the median as the bar, the min-max spread as a whisker, and the value
 * written above every bar — a zero bar too ("0"), which is the result in-place promotion is for.
 *
 * <p>Drawn by hand rather than with XChart because XChart's category bars take one colour per
 * series (so per-bar colours need one series per bar), draw no label on a zero-height bar, and have
 * only symmetric error bars; a min-median-max bar needs all three.
 */
final class BarFigure {

    /** One bar: its label under the axis, its colour, its value over the runs. */
    record Bar(String label, Color color, Spread value) {
    }

    /** One panel: a title, how values are spelled ({@code true}: ns durations; else counts), the bars. */
    record Panel(String title, boolean nanos, List<Bar> bars) {
    }

    private static final Color AXIS = new Color(0x333333);
    private static final Color GRID = new Color(0xdddddd);
    private static final int PANEL_W = 470;
    private static final int PANEL_H = 300;
    private static final int TITLE_H = 34;

    private BarFigure() {
    }

    /** Draws {@code panels}, two per row, under {@code title}, into {@code file} as PNG. */
    static void write(String title, String note, List<Panel> panels, Path file) throws IOException {
        ImageIO.write(render(title, note, panels), "png", file.toFile());
    }

    static BufferedImage render(String title, String note, List<Panel> panels) {
        int cols = Math.min(2, Math.max(1, panels.size()));
        int rows = (panels.size() + cols - 1) / cols;
        int w = cols * PANEL_W + 20;
        int h = TITLE_H + 18 + rows * PANEL_H + 10;
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, w, h);
            g.setColor(Color.BLACK);
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 16));
            center(g, title, w / 2, 22);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
            g.setColor(AXIS);
            center(g, note, w / 2, TITLE_H + 8);
            for (int i = 0; i < panels.size(); i++) {
                int x = 10 + (i % cols) * PANEL_W;
                int y = TITLE_H + 18 + (i / cols) * PANEL_H;
                panel(g, panels.get(i), x, y);
            }
        } finally {
            g.dispose();
        }
        return img;
    }

    private static void panel(Graphics2D g, Panel p, int x0, int y0) {
        int left = x0 + 78;
        int right = x0 + PANEL_W - 16;
        int top = y0 + 30;
        int bottom = y0 + PANEL_H - 44;
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 13));
        center(g, p.title(), (left + right) / 2, y0 + 14);

        double max = 0;
        for (Bar b : p.bars()) {
            max = Math.max(max, b.value().max());
        }
        double step = AxisLabels.niceStep(max <= 0 ? 1 : max * 1.18, 5);
        double axisTop = Math.max(step, Math.ceil(max * 1.18 / step) * step);
        AxisLabels.Unit unit = p.nanos() ? AxisLabels.duration(axisTop) : AxisLabels.count(axisTop);
        Function<Double, String> tick = AxisLabels.ticks(unit, AxisLabels.decimals(step, unit));

        Font small = new Font(Font.SANS_SERIF, Font.PLAIN, 11);
        g.setFont(small);
        FontMetrics fm = g.getFontMetrics();
        for (double v = 0; v <= axisTop + step / 2; v += step) {
            int y = yOf(v, axisTop, top, bottom);
            g.setColor(GRID);
            g.drawLine(left, y, right, y);
            g.setColor(AXIS);
            String s = tick.apply(v);
            g.drawString(s, left - 6 - fm.stringWidth(s), y + fm.getAscent() / 2 - 1);
        }
        g.setColor(AXIS);
        g.drawLine(left, top, left, bottom);
        g.drawLine(left, bottom, right, bottom);

        int n = p.bars().size();
        double slot = (right - left) / (double) Math.max(1, n);
        int bw = (int) Math.min(90, slot * 0.6);
        for (int i = 0; i < n; i++) {
            Bar b = p.bars().get(i);
            int cx = (int) (left + slot * (i + 0.5));
            int yMed = yOf(b.value().median(), axisTop, top, bottom);
            g.setColor(b.color());
            g.fillRect(cx - bw / 2, yMed, bw, Math.max(0, bottom - yMed));
            int labelY = yMed;
            if (b.value().varies()) {
                int yMin = yOf(b.value().min(), axisTop, top, bottom);
                int yMax = yOf(b.value().max(), axisTop, top, bottom);
                g.setColor(Color.BLACK);
                g.setStroke(new BasicStroke(1.5f));
                g.drawLine(cx, yMin, cx, yMax);
                g.drawLine(cx - 8, yMin, cx + 8, yMin);
                g.drawLine(cx - 8, yMax, cx + 8, yMax);
                g.setStroke(new BasicStroke(1f));
                labelY = yMax;
            }
            g.setColor(Color.BLACK);
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 12));
            String value = AxisLabels.value(b.value().median(), p.nanos());
            if (b.value().varies()) {
                g.setFont(small);
                center(g, AxisLabels.value(b.value().min(), p.nanos()) + " - " + AxisLabels.value(b.value().max(), p.nanos()),
                        cx, labelY - 4);
                labelY -= 14;
                g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 12));
            }
            center(g, value, cx, labelY - 5);
            g.setFont(small);
            g.setColor(AXIS);
            center(g, b.label(), cx, bottom + 16);
        }
    }

    private static int yOf(double v, double axisTop, int top, int bottom) {
        return (int) Math.round(bottom - (bottom - top) * Math.max(0, v) / axisTop);
    }

    private static void center(Graphics2D g, String s, int cx, int baseline) {
        if (s == null || s.isEmpty()) {
            return;
        }
        g.drawString(s, cx - g.getFontMetrics().stringWidth(s) / 2, baseline);
    }
}
