package org.tdpmmu.scenarios.cli;

import java.nio.file.Path;
import org.tdpmmu.scenarios.report.ReportWriter;
import picocli.CommandLine.Option;

/** The output options every running command shares. */
final class OutputOptions {

    @Option(names = "--json", description = "Print the results as JSON on stdout instead of a table.")
    boolean json;

    @Option(names = "--csv", description = "Print the results as CSV (one row per run and step) instead of a table.")
    boolean csv;

    @Option(names = "--report", paramLabel = "DIR",
            description = "Also write DIR/index.html with PNG charts (wall and modeled time per step, "
                    + "faults after disable, fault-latency percentiles) and the counter table.")
    Path reportDir;

    @Option(names = "--progress", negatable = true,
            description = "Draw a progress bar on stderr for steps longer than a second "
                    + "(default: only when the console is interactive and the output is a table).")
    Boolean progress;

    /** The stdout format; a usage error when both --json and --csv are given. */
    ReportWriter.Format format(picocli.CommandLine commandLine) {
        if (json && csv) {
            throw new picocli.CommandLine.ParameterException(commandLine, "--json and --csv are mutually exclusive");
        }
        return json ? ReportWriter.Format.JSON : csv ? ReportWriter.Format.CSV : ReportWriter.Format.TEXT;
    }

    boolean progressWanted(boolean interactive) {
        if (progress != null) {
            return progress;
        }
        return interactive && !json && !csv;
    }
}
