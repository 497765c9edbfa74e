package org.tdpmmu.scenarios.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
import org.tdpmmu.scenarios.engine.PhaseResult;
import org.tdpmmu.scenarios.engine.ProgressListener;
import org.tdpmmu.scenarios.engine.RunResult;
import org.tdpmmu.scenarios.engine.ScenarioEngine;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.model.Step;
import org.tdpmmu.scenarios.report.Formats;
import org.tdpmmu.scenarios.report.JsonReport;
import org.tdpmmu.scenarios.report.Metrics;
import org.tdpmmu.scenarios.report.Provenance;
import org.tdpmmu.scenarios.report.ReportWriter;
import org.tdpmmu.scenarios.report.TextReport;
import org.tdpmmu.scenarios.sim.MemoryEstimate;

/**
 * Runs scenarios on the engine and prints the results: the part the commands share.
 *
 * <h2>Repeats and fresh JVMs</h2>
 * Each scenario (one per strategy for {@code compare}) runs {@code --repeat N} times, round robin
 * (every strategy once, then every strategy again), so that a drift in the machine's load falls on
 * every strategy alike. By default every run is a child JVM of its own ({@link ChildLauncher#JVM})
 * started with this JVM's flags: in one JVM the first run pays the JIT warm-up of the code every
 * strategy shares (populate, the dirty passes), and the figures depended on the order of the
 * strategies rather than on the strategies. A child runs {@code tdpmmu run FILE --strategy S} (or
 * {@code perf} with the same flags) with the hidden {@code --result-file FILE} and writes its one
 * run as JSON; the parent merges the repeats ({@link RunResult#merge}). A discarded warm-up run in
 * one JVM was the alternative; it was not chosen because what it warms depends on its strategy (the
 * zap paths, the promotion path), so the first run of each other strategy would still be colder.
 * A single run (one strategy, one repeat) runs here: this JVM is as fresh as a child's. An engine
 * given programmatically (tests, embedding) cannot be passed to a child: its runs stay in this
 * JVM, as with {@code --no-fork}.
 */
final class Runner {

    /** Repeats when {@code --repeat} is not given and the VM is small. */
    static final int DEFAULT_REPEATS_SMALL = 3;
    /** Guest memory up to which a VM is small: its runs take about a second each. */
    static final long SMALL_VM_BYTES = 512L << 20;
    static final String SMALL_VM_HUMAN = "512 MiB";
    static final int MAX_REPEATS = 100;

    private final CliContext ctx;
    private final OutputOptions output;
    /**
     * {@code -Dtdpmmu.memoryCheck=off} admits a scenario over the limits, to see what the JVM does
     * then (an OutOfMemoryError: exit 4, one line); for testing that path, not for use.
     */
    static final String MEMORY_CHECK = "tdpmmu.memoryCheck";
    static final String MEMORY_CHECK_OFF = "off";

    private final Set<Scenario> admitted = Collections.newSetFromMap(new IdentityHashMap<>());

    private final picocli.CommandLine commandLine;
    private int repeats = 1;
    private boolean forked;
    private boolean single;

    Runner(CliContext ctx, OutputOptions output, picocli.CommandLine commandLine) {
        this.ctx = ctx;
        this.output = output;
        this.commandLine = commandLine;
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
            // every repeat's result is kept (merged results list their repeats)
            MemoryEstimate e = MemoryEstimate.of(s, scenarios.size() * repeats, kind, output.reportDir != null);
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

    /**
     * Runs each scenario in this JVM ({@code --repeat} times), for callers that cannot hand a child
     * JVM its arguments (perf --beside-kernel).
     */
    List<RunResult> run(List<Scenario> scenarios) throws Exception {
        return run(scenarios, null);
    }

    /**
     * {@code --repeat}, or the default for {@code s}: {@value #DEFAULT_REPEATS_SMALL} for a small VM
     * when the runs fork, else 1. In one JVM the later repeats run warm, so their spread would
     * measure the warm-up rather than the noise; ask for them with {@code --repeat}.
     */
    static int repeatsFor(Integer repeat, Scenario s, boolean forked) {
        if (repeat != null) {
            return repeat;
        }
        return forked && s.vm().totalBytes() <= SMALL_VM_BYTES ? DEFAULT_REPEATS_SMALL : 1;
    }

    /**
     * Runs each scenario {@code --repeat} times and returns one result per scenario, its repeats
     * merged. In the child-JVM protocol ({@code --result-file}) runs each once, here.
     *
     * @param childArgs the arguments a child JVM runs a scenario with ({@code run FILE --strategy S});
     *                  null: every run in this JVM
     */
    List<RunResult> run(List<Scenario> scenarios, Function<Scenario, List<String>> childArgs) throws Exception {
        ScenarioEngine engine = ctx.engine();
        prepare(scenarios.get(0), scenarios.size());
        if (childArgs == null) {
            forked = false;
        }
        admit(scenarios);
        int total = repeats * scenarios.size();
        List<List<RunResult>> runs = new ArrayList<>();
        scenarios.forEach(s -> runs.add(new ArrayList<>()));
        boolean progress = output.progressWanted(ctx.interactive);
        ConsoleProgress bar = progress && !forked ? new ConsoleProgress(ctx.err) : null;
        long started = System.nanoTime();
        int lineWidth = 0;
        try {
            int k = 0;
            for (int rep = 0; rep < repeats; rep++) {
                for (int i = 0; i < scenarios.size(); i++) {
                    Scenario s = scenarios.get(i);
                    k++;
                    String label = total == 1 ? "" : "run " + k + "/" + total + " " + s.strategy().map(x -> x.yamlName())
                            .orElse(s.name()) + eta(started, k - 1, total);
                    RunResult r;
                    if (forked) {
                        if (progress && total > 1) {
                            ctx.err.print("\r" + label + " ".repeat(Math.max(0, lineWidth - label.length())));
                            lineWidth = label.length();
                            ctx.err.flush();
                        }
                        r = fork(s, childArgs.apply(s), progress, k, total);
                    } else {
                        if (bar != null) {
                            bar.runStarted(label, s.steps().size());
                        }
                        r = inProcess(engine, s, bar);
                    }
                    warnOnStepMismatch(s, r);
                    runs.get(i).add(r);
                }
            }
        } finally {
            if (bar != null) {
                bar.close();
            } else if (forked && progress && total > 1) {
                ctx.err.print("\r" + " ".repeat(lineWidth) + "\r");
                ctx.err.flush();
            }
        }
        List<RunResult> merged = new ArrayList<>();
        runs.forEach(l -> merged.add(RunResult.merge(l)));
        return merged;
    }

    /**
     * Checks {@code --repeat} and {@code --fork} and decides, for {@code runCount} scenarios starting
     * with {@code first}, the repeats and whether they fork; before anything runs (perf prints its
     * header first).
     */
    void prepare(Scenario first, int runCount) {
        boolean child = output.resultFile != null;
        if (output.repeat != null && (output.repeat < 1 || output.repeat > MAX_REPEATS)) {
            throw new picocli.CommandLine.ParameterException(commandLine,
                    "--repeat: " + output.repeat + " is out of range 1.." + MAX_REPEATS);
        }
        if (Boolean.TRUE.equals(output.fork) && !ctx.canFork()) {
            throw new picocli.CommandLine.ParameterException(commandLine,
                    "--fork: the engine was given to this JVM, a child JVM cannot use it");
        }
        boolean forkable = !child && ctx.canFork() && !Boolean.FALSE.equals(output.fork);
        repeats = child ? 1 : repeatsFor(output.repeat, first, forkable);
        single = runCount == 1;
        // a single run is as cold in this JVM as in a child: fork only when runs could warm each other
        forked = forkable && (repeats * runCount > 1 || Boolean.TRUE.equals(output.fork));
    }

    /** Whether this is a child JVM of the protocol (it prints nothing on stdout). */
    boolean child() {
        return output.resultFile != null;
    }

    int repeats() {
        return repeats;
    }

    private static String eta(long started, int done, int total) {
        if (done == 0) {
            return "";
        }
        long perRun = (System.nanoTime() - started) / done;
        return ", ETA " + Formats.duration(perRun * (total - done));
    }

    private RunResult inProcess(ScenarioEngine engine, Scenario s, ConsoleProgress bar) throws EngineFailure {
        RunResult warm = output.warmUp ? once(engine, s, ProgressListener.NONE) : null;
        RunResult r = once(engine, s, bar == null ? ProgressListener.NONE : bar);
        if (warm == null || warm.ok()) {
            return r;
        }
        // the warm-up's times are discarded, its violations are not
        List<org.tdpmmu.scenarios.engine.Violation> vs = new ArrayList<>();
        warm.violations().forEach(v -> vs.add(new org.tdpmmu.scenarios.engine.Violation(v.property(),
                "(warm-up run) " + v.message())));
        vs.addAll(r.violations());
        return new RunResult(r.scenarioName(), r.strategy(), r.phases(), vs, r.timeline());
    }

    private RunResult once(ScenarioEngine engine, Scenario s, ProgressListener progress) throws EngineFailure {
        RunResult r;
        try {
            r = engine.run(s, progress);
        } catch (Exception | Error e) {
            // wrapped so the handler can tell engine failures from ours; and picocli handles
            // Exceptions only: an Error must not end the JVM with exit 1 ("violations")
            throw new EngineFailure(engine, e);
        }
        if (r == null) {
            throw new IllegalStateException("engine " + engine.name() + " returned no result for " + s.name());
        }
        return r;
    }

    private RunResult fork(Scenario s, List<String> args, boolean progress, int k, int total) throws Exception {
        Path file = Files.createTempFile("tdpmmu-run-", ".json");
        try {
            List<String> extra = new ArrayList<>(List.of(progress ? "--progress" : "--no-progress"));
            if (output.warmUp) {
                extra.add("--warm-up");
            }
            String what = "run " + k + " of " + total + " (" + s.strategy().map(x -> x.yamlName()).orElse(s.name())
                    + ") in a fresh JVM";
            RunResult r = inChild(ctx.childLauncher(), args, extra, file, ctx.err, what, s);
            return new RunResult(s.name(), r.strategy(), r.phases(), r.violations(), r.timeline());
        } finally {
            Files.deleteIfExists(file);
        }
    }

    /**
     * The parent's side of the child-JVM protocol: runs {@code tdpmmu args --repeat 1 --no-fork
     * --result-file file} through {@code launcher} and reads back its one run of {@code s}.
     * {@code extra} are the child's own switches (progress, warm-up).
     *
     * @param what the run in messages ({@code run 2 of 6 (zap_huge) in a fresh JVM})
     * @throws CliException when the child failed (its exit code: 2, 3, else 4) or wrote no single run of
     *                      {@code s}'s strategy
     */
    static RunResult inChild(ChildLauncher launcher, List<String> args, List<String> extra, Path file,
                             java.io.PrintStream err, String what, Scenario s) throws IOException, InterruptedException {
        List<String> a = new ArrayList<>(args);
        a.addAll(List.of("--repeat", "1", "--no-fork"));
        a.addAll(extra);
        a.addAll(List.of("--result-file", file.toString()));
        int code = launcher.launch(a, err);
        if (code != ExitCodes.OK && code != ExitCodes.VIOLATION) {
            throw new CliException(code == ExitCodes.BAD_INPUT || code == ExitCodes.NO_ENGINE ? code
                    : ExitCodes.ENGINE_FAILED, "tdpmmu: " + what + " failed with exit code " + code
                    + " (its output is above)");
        }
        List<RunResult> got;
        try {
            got = JsonReport.parse(Files.readString(file, StandardCharsets.UTF_8));
        } catch (IllegalArgumentException e) {
            throw new CliException(ExitCodes.ENGINE_FAILED, "tdpmmu: " + what + " wrote no readable results: "
                    + e.getMessage());
        }
        if (got.size() != 1) {
            throw new CliException(ExitCodes.ENGINE_FAILED, "tdpmmu: " + what + " wrote " + got.size()
                    + " runs instead of one");
        }
        RunResult r = got.get(0);
        if (r.strategy() != s.strategy().orElse(null)) {
            throw new CliException(ExitCodes.ENGINE_FAILED, "tdpmmu: " + what + " ran strategy " + r.strategy());
        }
        return r;
    }

    /** How the runs were isolated, for the provenance. */
    String isolation() {
        return (forked ? "each run in a fresh JVM" : repeats == 1 && single ? "one run, in a fresh JVM"
                : "all runs in one JVM") + (output.warmUp ? ", each after a discarded warm-up run of its strategy" : "");
    }

    /** The provenance of {@code results}, runs of {@code scenario} (as loaded or built). */
    Provenance provenance(Scenario scenario, List<RunResult> results) {
        return provenanceOf(scenario, results.stream().map(Metrics::label).toList());
    }

    /** The provenance of runs of {@code scenario} with {@code strategies}, after {@link #prepare}. */
    Provenance provenanceOf(Scenario scenario, List<String> strategies) {
        return Provenance.of(command(), scenario, strategies, repeats, isolation());
    }

    private String command() {
        picocli.CommandLine.ParseResult pr = commandLine.getParseResult();
        List<String> args = new ArrayList<>();
        args.add(commandLine.getCommandName());
        if (pr != null) {
            args.addAll(pr.originalArgs());
            if (args.size() > 1 && args.get(1).equals(args.get(0))) {
                args.remove(0);
            }
        }
        return String.join(" ", args);
    }

    /** Prints the results in the chosen format, writes the report, lists violations; the exit code. */
    int emit(List<RunResult> results, Provenance provenance, ReportWriter.Format format) throws IOException {
        if (output.resultFile != null) {
            return writeChildResults(results);
        }
        ReportWriter.write(results, provenance, format, ctx.out);
        return finish(results, provenance);
    }

    /** The child's side of the protocol: the results as JSON to {@code --result-file}, nothing on stdout. */
    int writeChildResults(List<RunResult> results) throws IOException {
        Files.writeString(output.resultFile, JsonReport.render(results), StandardCharsets.UTF_8);
        return results.stream().allMatch(RunResult::ok) ? ExitCodes.OK : ExitCodes.VIOLATION;
    }

    /** Writes the HTML report if asked, prints violations on stderr; 0 or 1. */
    int finish(List<RunResult> results, Provenance provenance) {
        if (output.reportDir != null) {
            Path index;
            try {
                index = ReportWriter.html(results, provenance, output.reportDir);
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
