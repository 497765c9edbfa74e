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
        requireRuns(runs);
        return runs.size() == 1 ? TextReport.single(runs.get(0)) : TextReport.compare(runs);
    }

    public static String json(List<RunResult> runs) {
        requireRuns(runs);
        return JsonReport.render(runs);
    }

    public static String csv(List<RunResult> runs) {
        requireRuns(runs);
        return CsvReport.render(runs);
    }

    /** Prints {@code runs} on {@code out} in {@code format}. */
    public static void write(List<RunResult> runs, Format format, PrintStream out) {
        out.print(switch (format) {
            case TEXT -> text(runs);
            case JSON -> json(runs);
            case CSV -> csv(runs);
        });
        out.flush();
    }

    /** Writes {@code dir/index.html} and its PNG charts; returns the index path. */
    public static Path html(List<RunResult> runs, Path dir) throws IOException {
        requireRuns(runs);
        return HtmlReport.write(runs, dir);
    }

    private static void requireRuns(List<RunResult> runs) {
        if (runs.isEmpty()) {
            throw new IllegalArgumentException("no runs to report");
        }
    }
}
