package org.tdpmmu.scenarios.cli;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
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

    @Option(names = "--repeat", paramLabel = "N",
            description = "Run each strategy N times (1..100) and report every wall figure as the median with "
                    + "its range [min-max]; modeled time and counts are those of the median run, and any that "
                    + "differed between runs is listed. Default: " + Runner.DEFAULT_REPEATS_SMALL
                    + " for a VM of at most " + Runner.SMALL_VM_HUMAN + " of guest memory when the runs fork, else 1.")
    Integer repeat;

    @Option(names = "--fork", negatable = true,
            description = "Run each run in a fresh JVM, started with this JVM's flags, so that no run inherits "
                    + "another's JIT warm-up (default). --no-fork runs them all in this JVM, one after another: "
                    + "faster, but the first runs pay the warm-up.")
    Boolean fork;

    @Option(names = "--warm-up",
            description = "Before each measured run, run the same scenario with the same strategy once in the same "
                    + "JVM and discard its times (not its safety violations), so that wall figures are of compiled "
                    + "code rather than of a cold JVM. Doubles the time.")
    boolean warmUp;

    /** The child-JVM protocol: run once, here, and write the results as JSON to this file. */
    @Option(names = "--result-file", paramLabel = "FILE", hidden = true)
    Path resultFile;

    /** The stdout format; a usage error when both --json and --csv are given. */
    ReportWriter.Format format(picocli.CommandLine commandLine) {
        if (json && csv) {
            throw new picocli.CommandLine.ParameterException(commandLine, "--json and --csv are mutually exclusive");
        }
        return json ? ReportWriter.Format.JSON : csv ? ReportWriter.Format.CSV : ReportWriter.Format.TEXT;
    }

    /** The format the options chose, once {@link #format} accepted them. */
    ReportWriter.Format chosenFormat() {
        return json ? ReportWriter.Format.JSON : csv ? ReportWriter.Format.CSV : ReportWriter.Format.TEXT;
    }

    /**
     * Refuses a {@code --report DIR} that cannot be written, before the run rather than after it:
     * creates the directory (as writing the report would) and a probe file in it, then deletes the
     * probe. A real write, because permission bits say nothing when running as root.
     */
    void checkReportDirWritable() {
        if (reportDir == null) {
            return;
        }
        try {
            if (Files.exists(reportDir) && !Files.isDirectory(reportDir)) {
                throw new CliException(ExitCodes.BAD_INPUT, "--report " + reportDir + ": exists and is not a directory");
            }
            Files.createDirectories(reportDir);
            Path probe = Files.createTempFile(reportDir, ".tdpmmu-write-check", ".tmp");
            Files.delete(probe);
        } catch (AccessDeniedException e) {
            throw new CliException(ExitCodes.BAD_INPUT, "--report " + reportDir + ": permission denied (cannot write "
                    + e.getFile() + ")");
        } catch (FileSystemException e) {
            throw new CliException(ExitCodes.BAD_INPUT, "--report " + reportDir + ": cannot write there ("
                    + e.getFile() + (e.getReason() == null ? " is in the way" : ": " + e.getReason()) + ")");
        } catch (IOException e) {
            throw new CliException(ExitCodes.BAD_INPUT, "--report " + reportDir + ": cannot write there (" + e.getMessage() + ")");
        }
    }

    boolean progressWanted(boolean interactive) {
        if (progress != null) {
            return progress;
        }
        return interactive && !json && !csv;
    }
}
