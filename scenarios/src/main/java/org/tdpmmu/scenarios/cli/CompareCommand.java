package org.tdpmmu.scenarios.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.tdpmmu.core.KernelRelease;
import org.tdpmmu.scenarios.engine.RunResult;
import org.tdpmmu.scenarios.load.FieldOverride;
import org.tdpmmu.scenarios.load.ScenarioLoader;
import org.tdpmmu.scenarios.model.RecoveryStrategy;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.report.ReportWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(name = "compare", mixinStandardHelpOptions = true,
        description = {"Run a scenario once per recovery strategy (zap_leafs, zap_huge, promote_in_place) "
                + "and print the runs side by side: rows are the steps' wall times and key counters "
                + "(faults after disable, TLB flushes at disable, ...), columns the strategies. With --repeat N "
                + "(default 3 for a small VM) each strategy runs N times, each run in a fresh JVM, and wall "
                + "figures are medians [min-max]. With --kernels 6.1,6.6,6.12,6.18 the columns are kernel releases "
                + "instead: each runs the scenario in that release's preset (vm.kernel) with its recovery strategy."})
final class CompareCommand implements Callable<Integer> {

    private final CliContext ctx;

    @Spec
    CommandLine.Model.CommandSpec spec;

    @Parameters(index = "0", paramLabel = "FILE", description = "The scenario file (YAML, see FORMAT.md).")
    Path file;

    @Mixin
    OutputOptions output;

    @CommandLine.Option(names = "--kernels", split = ",", paramLabel = "R",
            description = "One column per kernel release (5.15, 6.1, 6.6, 6.12, 6.18), each with the release's "
                    + "switches and recovery strategy; switches the file sets itself still apply. Same repeats and "
                    + "spread as the strategy columns.")
    List<String> kernels;

    @CommandLine.Option(names = "--kernel", paramLabel = "R",
            description = "Kernel preset of every strategy column (vm.kernel), for the switches the file does not set.")
    String kernel;

    CompareCommand(CliContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public Integer call() throws Exception {
        ReportWriter.Format format = output.format(spec.commandLine());
        if (kernels != null) {
            return compareKernels(format);
        }
        List<FieldOverride> overrides = kernel == null ? List.of()
                : List.of(Converters.kernelOverride(spec.commandLine(), "--kernel", kernel));
        Scenario scenario = ScenarioLoader.load(file, overrides);
        if (!scenario.disablesDirtyLogging()) {
            throw new CliException(ExitCodes.BAD_INPUT, file + ": scenario " + scenario.name()
                    + " has no disableDirtyLogging phase, so every strategy would run the same");
        }
        List<Scenario> runs = new ArrayList<>();
        for (RecoveryStrategy s : RecoveryStrategy.values()) {
            runs.add(scenario.withStrategy(s));
        }
        Runner runner = new Runner(ctx, output, spec.commandLine());
        String path = file.toAbsolutePath().toString();
        List<RunResult> results = runner.run(runs, s -> {
            List<String> args = new ArrayList<>(List.of("run", path, "--strategy", s.strategy().orElseThrow().yamlName()));
            overrides.forEach(o -> args.addAll(List.of("--set", o.toString())));
            return args;
        });
        return runner.emit(results, runner.provenance(scenario, results), format);
    }

    /**
     * One column per release: the scenario loaded with {@code vm.kernel} set to it, and, where it
     * disables dirty logging, the release's recovery strategy (as the strategy columns override the
     * file's strategy). Children run {@code run FILE --set vm.kernel=R --strategy S}.
     */
    private int compareKernels(ReportWriter.Format format) throws Exception {
        List<KernelRelease> releases = new ArrayList<>();
        for (String k : kernels) {
            KernelRelease r = Converters.kernelRelease(spec.commandLine(), "--kernels", k);
            if (releases.contains(r)) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--kernels: " + r + " is listed twice");
            }
            releases.add(r);
        }
        if (kernel != null) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--kernel and --kernels: give one of them");
        }
        List<Scenario> runs = new ArrayList<>();
        for (KernelRelease r : releases) {
            Scenario s = ScenarioLoader.load(file, List.of(Converters.kernelOverride(spec.commandLine(), "--kernels", r.version())));
            runs.add(s.disablesDirtyLogging() ? s.withStrategy(ScenarioLoader.presetStrategy(r)) : s);
        }
        Runner runner = new Runner(ctx, output, spec.commandLine());
        String path = file.toAbsolutePath().toString();
        List<RunResult> results = runner.run(runs, s -> {
            List<String> args = new ArrayList<>(List.of("run", path, "--set", "vm.kernel=" + s.vm().kernel().release()));
            s.strategy().ifPresent(x -> args.addAll(List.of("--strategy", x.yamlName())));
            return args;
        });
        List<RunResult> labelled = new ArrayList<>();
        for (int i = 0; i < results.size(); i++) {
            labelled.add(results.get(i).withKernel(releases.get(i).version()));
        }
        return runner.emit(labelled, runner.provenance(runs.get(0), labelled), format);
    }
}
