package org.tdpmmu.scenarios.cli;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.tdpmmu.scenarios.engine.RunResult;
import org.tdpmmu.scenarios.load.ScenarioLoader;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.model.ScenarioException;
import org.tdpmmu.scenarios.report.Formats;
import org.tdpmmu.scenarios.report.Metrics;
import org.tdpmmu.scenarios.report.Provenance;
import org.tdpmmu.scenarios.sim.MemoryEstimate;
import org.tdpmmu.scenarios.sweep.Grid;
import org.tdpmmu.scenarios.sweep.Point;
import org.tdpmmu.scenarios.sweep.RunFile;
import org.tdpmmu.scenarios.sweep.Shard;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code tdpmmu sweep FILE --grid G --out DIR}: every point of the grid checked first (exit 2 naming
 * the first bad one, before anything runs), then this shard's points that have no result file yet
 * run, {@code --workers} at a time, each in a child JVM of its own (the {@code --result-file}
 * protocol of {@code --repeat}), each result written atomically to {@code DIR/KEY.json}
 * ({@link RunFile}). Then the merged report of this shard's results, as {@code merge} prints it.
 * A point that fails does not stop the others: it is reported at the end (exit 4, or the child's
 * 2 or 3), and the next sweep runs it again.
 */
@Command(name = "sweep", mixinStandardHelpOptions = true,
        description = {"Run a scenario over a grid of fields and switches, each run in its own JVM, one result "
                + "file per run in --out DIR named by a hash of its resolved configuration; runs whose result "
                + "exists are skipped, so a sweep resumes where it stopped. Shard it over a cluster's job engine "
                + "with --shard, then 'tdpmmu merge' the directories. See docs/sweeps.md."})
final class SweepCommand implements Callable<Integer> {

    static final int MAX_WORKERS = 256;

    private final CliContext ctx;

    @Spec
    CommandLine.Model.CommandSpec spec;

    @Parameters(index = "0", paramLabel = "FILE", description = "The scenario file (YAML, see FORMAT.md).")
    Path file;

    @Option(names = "--grid", required = true, paramLabel = "GRID",
            description = "KEY=VALUES separated by ';': a field path of the file (vm.vcpus, phases[2].dirtyPass.writePercent), "
                    + "seed (every seed of the file) or the switch strategy; VALUES a comma list, an integer range "
                    + "a..b, or * (every strategy). E.g. 'strategy=*; vm.vcpus=16,32,64; seed=1..5'.")
    String grid;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "The directory of result files.")
    Path out;

    @Option(names = "--workers", paramLabel = "N", defaultValue = "1",
            description = "Runs at a time, each in its own JVM (1.." + MAX_WORKERS + ", default 1). More than the "
                    + "cores makes wall times worse, not the sweep faster.")
    int workers;

    @Option(names = "--shard", paramLabel = "I/N|auto",
            description = "Run only shard I of N (0-based): the points whose index is I modulo N. auto reads "
                    + "JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or SLURM_ARRAY_TASK_ID (Slurm job array).")
    String shard;

    @Option(names = "--shard-count", paramLabel = "N",
            description = "With --shard auto: the number of shards (a Kubernetes Job's completions; "
                    + "default $" + Shard.COUNT_ENV + ", or Slurm's array size).")
    Integer shardCount;

    @Mixin
    SweepOutput output;

    SweepCommand(CliContext ctx) {
        this.ctx = ctx;
    }

    /** A point checked and ready to run. */
    private record Planned(Point point, Scenario scenario, String key) {
    }

    @Override
    public Integer call() throws Exception {
        output.check(spec.commandLine());
        if (workers < 1 || workers > MAX_WORKERS) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--workers: " + workers
                    + " is out of range 1.." + MAX_WORKERS);
        }
        Grid g = Grid.parse(grid);
        Shard sh = Shard.parse(shard, shardCount, System.getenv());
        if (!ctx.canFork()) {
            throw new CliException(ExitCodes.BAD_INPUT, "tdpmmu sweep: each run is a child JVM, and the engine was "
                    + "given to this JVM: a child cannot use it");
        }
        ScenarioLoader.load(file);
        List<Planned> plan = plan(g);
        prepareOut();
        List<Planned> mine = plan.stream().filter(p -> sh.owns(p.point().index())).toList();
        List<Planned> todo = new ArrayList<>();
        for (Planned p : mine) {
            if (!done(p)) {
                todo.add(p);
            }
        }
        String where = sh.count() == 1 ? "" : ", shard " + sh + " has " + mine.size();
        ctx.err.println("sweep: " + plan.size() + " points" + where + ", " + (mine.size() - todo.size())
                + " already done, " + todo.size() + " to run with " + Math.min(workers, Math.max(1, todo.size()))
                + " worker(s); results in " + out);
        List<Failure> failures = run(todo);
        List<RunFile.Entry> entries = new ArrayList<>();
        for (Planned p : mine) {
            Path f = RunFile.path(out, p.key());
            if (Files.exists(f)) {
                entries.add(RunFile.read(f));
            }
        }
        int code = entries.isEmpty() ? ExitCodes.OK : output.print(entries, ctx);
        if (!failures.isEmpty()) {
            ctx.err.println("sweep: " + failures.size() + " of " + todo.size() + " runs failed (run the sweep again to "
                    + "retry them):");
            failures.forEach(f -> ctx.err.println("  " + f.message()));
            return failures.get(0).exitCode();
        }
        return code;
    }

    /** Every point loaded, switched, estimated and keyed; the first bad one is exit 2. */
    private List<Planned> plan(Grid g) {
        MemoryEstimate.Limits limits = MemoryEstimate.Limits.current();
        Map<String, Point> keys = new HashMap<>();
        List<Planned> plan = new ArrayList<>();
        List<Point> points = g.points();
        for (Point p : points) {
            Scenario s;
            try {
                s = p.applySwitches(ScenarioLoader.load(file, p.overrides()));
            } catch (ScenarioException e) {
                throw bad(p, points.size(), e.getMessage());
            }
            Optional<String> refusal = MemoryEstimate.of(s, 1, MemoryEstimate.Output.JSON, false).refusal(limits);
            if (refusal.isPresent() && !Runner.MEMORY_CHECK_OFF.equals(System.getProperty(Runner.MEMORY_CHECK))) {
                throw bad(p, points.size(), refusal.get());
            }
            String key = RunFile.key(s, p.unrecordedSwitches());
            Point same = keys.putIfAbsent(key, p);
            if (same != null) {
                throw bad(p, points.size(), "runs the same configuration as " + same.describe()
                        + " (does the key change anything in this scenario?)");
            }
            plan.add(new Planned(p, s, key));
        }
        return plan;
    }

    private static CliException bad(Point p, int total, String why) {
        return new CliException(ExitCodes.BAD_INPUT, "tdpmmu sweep: " + p.describe() + " of " + total + ": " + why);
    }

    private void prepareOut() {
        try {
            Files.createDirectories(out);
            Files.delete(Files.createTempFile(out, ".tdpmmu-write-check", ".tmp"));
        } catch (IOException e) {
            throw new CliException(ExitCodes.BAD_INPUT, "--out " + out + ": cannot write there (" + e + ")");
        }
    }

    /** Whether {@code p}'s result file exists and is its; an unreadable one is run again. */
    private boolean done(Planned p) {
        Path f = RunFile.path(out, p.key());
        if (!Files.exists(f)) {
            return false;
        }
        try {
            RunFile.Entry e = RunFile.read(f);
            if (e.key().equals(p.key())) {
                return true;
            }
            ctx.err.println("sweep: " + f + " holds run " + e.key() + ", not " + p.key() + ": running " + p.point().describe() + " again");
        } catch (IOException | IllegalArgumentException e) {
            ctx.err.println("sweep: " + f + " is unreadable (" + e.getMessage() + "): running " + p.point().describe() + " again");
        }
        return false;
    }

    private record Failure(int index, int exitCode, String message) {
    }

    private List<Failure> run(List<Planned> todo) throws InterruptedException {
        List<Failure> failures = new ArrayList<>();
        if (todo.isEmpty()) {
            return failures;
        }
        ExecutorService pool = Executors.newFixedThreadPool(Math.min(workers, todo.size()), r -> {
            Thread t = new Thread(r, "tdpmmu-sweep-worker");
            t.setDaemon(true);
            return t;
        });
        AtomicInteger finished = new AtomicInteger();
        try {
            List<Future<Failure>> futures = new ArrayList<>();
            for (Planned p : todo) {
                futures.add(pool.submit(() -> runOne(p, finished, todo.size())));
            }
            for (Future<Failure> f : futures) {
                try {
                    Failure x = f.get();
                    if (x != null) {
                        failures.add(x);
                    }
                } catch (java.util.concurrent.ExecutionException e) {
                    throw new IllegalStateException("a sweep worker failed: " + e.getCause(), e.getCause());
                }
            }
        } finally {
            pool.shutdownNow();
        }
        return failures;
    }

    /** Runs {@code p} in a child JVM and writes its result file; the failure, or null. */
    private Failure runOne(Planned p, AtomicInteger finished, int total) throws IOException {
        removeLeftovers(p.key());
        Path childFile = RunFile.temp(out, p.key(), "child");
        ByteArrayOutputStream childOutput = new ByteArrayOutputStream();
        long started = System.nanoTime();
        try (PrintStream childErr = new PrintStream(childOutput, true, StandardCharsets.UTF_8)) {
            List<String> args = new ArrayList<>(List.of("run", file.toAbsolutePath().toString()));
            args.addAll(p.point().runArgs());
            String what = p.point().describe() + " in a fresh JVM";
            RunResult r = Runner.inChild(ctx.childLauncher(), args, List.of("--no-progress"), childFile, childErr, what,
                    p.scenario());
            Provenance prov = Provenance.of(String.join(" ", args), p.scenario(), List.of(Metrics.label(r)), 1,
                    "each run in a fresh JVM");
            RunFile.write(out, p.key(), p.point(), r, prov);
            report(childOutput, "sweep: [" + finished.incrementAndGet() + "/" + total + "] " + p.point().describe()
                    + ": " + (r.ok() ? "done" : "SAFETY VIOLATIONS") + " in " + Formats.duration(System.nanoTime() - started));
            return null;
        } catch (CliException e) {
            report(childOutput, "sweep: [" + finished.incrementAndGet() + "/" + total + "] " + p.point().describe()
                    + ": failed");
            return new Failure(p.point().index(), e.exitCode(), e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Failure(p.point().index(), ExitCodes.ENGINE_FAILED, p.point().describe() + ": interrupted");
        } finally {
            Files.deleteIfExists(childFile);
        }
    }

    /** The temporary files a killed worker left for run {@code key}: only this shard runs it. */
    private void removeLeftovers(String key) throws IOException {
        try (java.nio.file.DirectoryStream<Path> s = Files.newDirectoryStream(out, "." + key + ".*.tmp")) {
            for (Path f : s) {
                Files.deleteIfExists(f);
            }
        }
    }

    /** The child's output (when it printed anything) and the status line, together. */
    private void report(ByteArrayOutputStream childOutput, String line) {
        synchronized (ctx.err) {
            String text = childOutput.toString(StandardCharsets.UTF_8);
            if (!text.isBlank()) {
                ctx.err.print(text.endsWith("\n") ? text : text + "\n");
            }
            ctx.err.println(line);
            ctx.err.flush();
        }
    }
}
