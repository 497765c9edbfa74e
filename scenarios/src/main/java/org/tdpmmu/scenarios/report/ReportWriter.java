package org.tdpmmu.scenarios.report;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import org.tdpmmu.scenarios.engine.RunResult;

/**
 * Writes run results: a human table (one run: a row per step; several: side by side), JSON, CSV, or
 * an HTML report with PNG charts. One run or several (the {@code compare} command) alike.
 */
public final class ReportWriter {

    /** Output formats for stdout. */
    public enum Format { TEXT, JSON, CSV }

    private ReportWriter() {
    }

    /** The human table: {@link TextReport#single} for one run, {@link TextReport#compare} for several. */
    public static String text(List<RunResult> runs) {
        return text(runs, null);
    }

    /** The human table after the provenance header ({@code provenance} may be null: no header). */
    public static String text(List<RunResult> runs, Provenance provenance) {
        requireRuns(runs);
        return runs.size() == 1 ? TextReport.single(runs.get(0), provenance) : TextReport.compare(runs, provenance);
    }

    public static String json(List<RunResult> runs) {
        return json(runs, null);
    }

    public static String json(List<RunResult> runs, Provenance provenance) {
        requireRuns(runs);
        return JsonReport.render(runs, provenance);
    }

    public static String csv(List<RunResult> runs) {
        return csv(runs, null);
    }

    public static String csv(List<RunResult> runs, Provenance provenance) {
        requireRuns(runs);
        return CsvReport.render(runs, provenance);
    }

    /** Prints {@code runs} on {@code out} in {@code format}. */
    public static void write(List<RunResult> runs, Format format, PrintStream out) {
        write(runs, null, format, out);
    }

    /** Prints {@code runs} on {@code out} in {@code format}, recording {@code provenance}. */
    public static void write(List<RunResult> runs, Provenance provenance, Format format, PrintStream out) {
        out.print(switch (format) {
            case TEXT -> text(runs, provenance);
            case JSON -> json(runs, provenance);
            case CSV -> csv(runs, provenance);
        });
        out.flush();
    }

    /** Writes {@code dir/index.html} and its PNG charts; returns the index path. */
    public static Path html(List<RunResult> runs, Path dir) throws IOException {
        return html(runs, null, dir);
    }

    /** {@link #html(List, Path)} with a "what ran" block from {@code provenance} (may be null). */
    public static Path html(List<RunResult> runs, Provenance provenance, Path dir) throws IOException {
        requireRuns(runs);
        return HtmlReport.write(runs, provenance, dir);
    }

    private static void requireRuns(List<RunResult> runs) {
        if (runs.isEmpty()) {
            throw new IllegalArgumentException("no runs to report");
        }
    }
}
