package org.tdpmmu.scenarios.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.tdpmmu.scenarios.engine.PhaseResult;
import org.tdpmmu.scenarios.engine.ProgressListener;
import org.tdpmmu.scenarios.engine.RunResult;
import org.tdpmmu.scenarios.engine.ScenarioEngine;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.model.Step;
import org.tdpmmu.scenarios.report.ReportWriter;
import org.tdpmmu.scenarios.report.TextReport;
import org.tdpmmu.scenarios.sim.MemoryEstimate;

/** Runs scenarios on the engine and prints the results: the part the commands share. */
final class Runner {

    private final CliContext ctx;
    private final OutputOptions output;
    /**
     * {@code -Dtdpmmu.memoryCheck=off} admits a scenario over the limits, to see what the JVM does
     * then (an OutOfMemoryError: exit 4, one line); for testing that path, not for use.
     */
    static final String MEMORY_CHECK = "tdpmmu.memoryCheck";
    static final String MEMORY_CHECK_OFF = "off";

    private final Set<Scenario> admitted = Collections.newSetFromMap(new IdentityHashMap<>());

    Runner(CliContext ctx, OutputOptions output) {
        this.ctx = ctx;
        this.output = output;
    }

    /**
     * Refuses, before anything is allocated, what cannot work (exit 2): a {@code --report DIR} that
     * cannot be written, or scenarios whose memory estimate exceeds this JVM's limits
     * ({@link MemoryEstimate#refusal}); announces a long run on stderr. {@link #run} calls it; a
     * command that prints before running calls it first.
     */
    void admit(List<Scenario> scenarios) {
        if (admitted.containsAll(scenarios)) {
            return;
        }
        output.checkReportDirWritable();
        MemoryEstimate.Limits limits = MemoryEstimate.Limits.current();
        MemoryEstimate.Output kind = MemoryEstimate.Output.valueOf(output.chosenFormat().name());
        MemoryEstimate first = null;
        for (Scenario s : scenarios) {
            MemoryEstimate e = MemoryEstimate.of(s, scenarios.size(), kind, output.reportDir != null);
            first = first == null ? e : first;
            Optional<String> refusal = e.refusal(limits);
            if (refusal.isPresent() && !MEMORY_CHECK_OFF.equals(System.getProperty(MEMORY_CHECK))) {
                throw new CliException(ExitCodes.BAD_INPUT, prefix(s) + refusal.get());
            }
        }
        first.longRunNote().ifPresent(n -> ctx.err.println(prefix(scenarios.get(0)) + n));
        admitted.addAll(scenarios);
    }

    private static String prefix(Scenario s) {
        return "tdpmmu: " + (s.source().startsWith("<") ? "" : s.source() + ": ");
    }

    /** Runs each scenario once, in order, with a progress bar when wanted. */
    List<RunResult> run(List<Scenario> scenarios) throws Exception {
        admit(scenarios);
        ScenarioEngine engine = ctx.engine();
        List<RunResult> results = new ArrayList<>();
        ConsoleProgress bar = output.progressWanted(ctx.interactive) ? new ConsoleProgress(ctx.err) : null;
        try {
            for (Scenario s : scenarios) {
                RunResult r;
                try {
                    r = engine.run(s, bar == null ? ProgressListener.NONE : bar);
                } catch (Exception | Error e) {
                    // wrapped so the handler can tell engine failures from ours; and picocli handles
                    // Exceptions only: an Error must not end the JVM with exit 1 ("violations")
                    throw new EngineFailure(engine, e);
                }
                if (r == null) {
                    throw new IllegalStateException("engine " + engine.name() + " returned no result for " + s.name());
                }
                warnOnStepMismatch(s, r);
                results.add(r);
            }
        } finally {
            if (bar != null) {
                bar.close();
            }
        }
        return results;
    }

    /** Prints the results in the chosen format, writes the report, lists violations; the exit code. */
    int emit(List<RunResult> results, ReportWriter.Format format) {
        ReportWriter.write(results, format, ctx.out);
        return finish(results);
    }

    /** Writes the HTML report if asked, prints violations on stderr; 0 or 1. */
    int finish(List<RunResult> results) {
        if (output.reportDir != null) {
            Path index;
            try {
                index = ReportWriter.html(results, output.reportDir);
            } catch (IOException | java.io.UncheckedIOException e) {
                throw new CliException(ExitCodes.BAD_INPUT, "--report " + output.reportDir + ": cannot write the report: " + e.getMessage());
            } catch (RuntimeException e) {
                throw new IllegalStateException("writing the report into " + output.reportDir + " failed: " + e, e);
            }
            ctx.err.println("report written to " + index);
        }
        List<String> violations = TextReport.violationLines(results);
        violations.forEach(ctx.err::println);
        ctx.err.flush();
        return violations.isEmpty() ? ExitCodes.OK : ExitCodes.VIOLATION;
    }

    /** Whatever the engine threw, carried to the execution-exception handler (exit 4). */
    static final class EngineFailure extends Exception {
        private static final long serialVersionUID = 1L;

        EngineFailure(ScenarioEngine engine, Throwable cause) {
            super("the " + engine.name() + " engine failed: " + cause, cause);
        }
    }

    private void warnOnStepMismatch(Scenario s, RunResult r) {
        List<String> expected = s.steps().stream().map(Step::name).toList();
        List<String> got = r.phases().stream().map(PhaseResult::name).toList();
        if (!expected.equals(got) && r.ok()) {
            ctx.err.println("warning: the engine reported steps " + got + " but the scenario has " + expected);
        }
    }
}
