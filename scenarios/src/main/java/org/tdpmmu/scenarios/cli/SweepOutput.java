package org.tdpmmu.scenarios.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.tdpmmu.scenarios.report.SweepReport;
import org.tdpmmu.scenarios.sweep.RunFile;
import org.tdpmmu.scenarios.sweep.SweepSwitch;
import picocli.CommandLine;
import picocli.CommandLine.Option;

/** The output options of {@code sweep} and {@code merge}: the merged report of result files. */
final class SweepOutput {

    @Option(names = "--json", description = "Print the merged report as JSON instead of tables.")
    boolean json;

    @Option(names = "--csv", description = "Print the merged report as CSV (a row per point but the seeds).")
    boolean csv;

    @Option(names = "--report", paramLabel = "DIR",
            description = "Also write DIR/index.html with a PNG chart and a table per figure.")
    Path reportDir;

    @Option(names = "--x", paramLabel = "KEY",
            description = "The grid key on the x axis (default: the first swept key other than the strategy and the "
                    + "seeds with more than one value); the other keys get a table each per value.")
    String x;

    void check(CommandLine cl) {
        if (json && csv) {
            throw new CommandLine.ParameterException(cl, "--json and --csv are mutually exclusive");
        }
    }

    /** Prints the report of {@code entries} on stdout, writes the HTML if asked; 1 when a run had violations. */
    int print(List<RunFile.Entry> entries, CliContext ctx) {
        List<SweepReport.Run> runs = entries.stream()
                .map(e -> new SweepReport.Run(e.index(), e.values(), e.run(), e.tool())).toList();
        SweepReport report;
        try {
            report = SweepReport.of(runs, x, Arrays.stream(SweepSwitch.values()).map(SweepSwitch::key).toList());
        } catch (IllegalArgumentException e) {
            throw new CliException(ExitCodes.BAD_INPUT, "tdpmmu: " + e.getMessage());
        }
        ctx.out.print(json ? report.json() : csv ? report.csv() : report.text());
        ctx.out.flush();
        if (reportDir != null) {
            try {
                ctx.err.println("report written to " + report.html(reportDir));
            } catch (IOException | java.io.UncheckedIOException e) {
                throw new CliException(ExitCodes.BAD_INPUT, "--report " + reportDir + ": cannot write the report: " + e.getMessage());
            }
        }
        return entries.stream().allMatch(e -> e.run().ok()) ? ExitCodes.OK : ExitCodes.VIOLATION;
    }
}
