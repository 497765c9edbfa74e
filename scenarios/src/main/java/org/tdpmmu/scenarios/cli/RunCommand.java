package org.tdpmmu.scenarios.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.tdpmmu.scenarios.engine.RunResult;
import org.tdpmmu.scenarios.load.FieldOverride;
import org.tdpmmu.scenarios.load.ScenarioLoader;
import org.tdpmmu.scenarios.model.RecoveryStrategy;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.report.ReportWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(name = "run", mixinStandardHelpOptions = true,
        description = "Run a scenario file and print each step's times and counters. With --repeat N (default 3 "
                + "for a small VM) it runs N times, each in a fresh JVM, and wall figures are medians [min-max].")
final class RunCommand implements Callable<Integer> {

    private final CliContext ctx;

    @Spec
    CommandLine.Model.CommandSpec spec;

    @Parameters(index = "0", paramLabel = "FILE", description = "The scenario file (YAML, see FORMAT.md).")
    Path file;

    @Option(names = "--strategy", paramLabel = "S", converter = Converters.Strategy.class,
            completionCandidates = Converters.StrategyNames.class,
            description = "Recovery strategy for disabling dirty logging, overriding the file's: ${COMPLETION-CANDIDATES}.")
    RecoveryStrategy strategy;

    @Option(names = "--kernel", paramLabel = "R",
            description = "Kernel preset (5.15, 6.1, 6.6, 6.12, 6.18): the behaviour of that release for every "
                    + "switch the file does not set itself (vm.kernel; see FORMAT.md). Default: the file's, else 6.18.")
    String kernel;

    @Option(names = "--set", paramLabel = "FIELD=VALUE",
            description = "Set a field of the file as if it were written there (repeatable): vm.vcpus=16, "
                    + "phases[2].dirtyPass.seed=7; seed=N sets every seed. Checked like the file's own values.")
    List<String> sets = new ArrayList<>();

    @Mixin
    OutputOptions output;

    RunCommand(CliContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public Integer call() throws Exception {
        ReportWriter.Format format = output.format(spec.commandLine());
        List<FieldOverride> overrides = new ArrayList<>();
        if (kernel != null) {
            overrides.add(Converters.kernelOverride(spec.commandLine(), "--kernel", kernel));
        }
        sets.forEach(x -> overrides.add(FieldOverride.parse(x, "--set")));
        Scenario scenario = ScenarioLoader.load(file, overrides);
        if (strategy != null) {
            if (!scenario.disablesDirtyLogging()) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--strategy: scenario "
                        + scenario.name() + " has no disableDirtyLogging phase, so the strategy would change nothing");
            }
            scenario = scenario.withStrategy(strategy);
        }
        Runner runner = new Runner(ctx, output, spec.commandLine());
        String path = file.toAbsolutePath().toString();
        List<RunResult> results = runner.run(List.of(scenario), s -> {
            List<String> args = new ArrayList<>(List.of("run", path));
            s.strategy().ifPresent(x -> args.addAll(List.of("--strategy", x.yamlName())));
            overrides.forEach(o -> args.addAll(List.of("--set", o.toString())));
            return args;
        });
        return runner.emit(results, runner.provenance(scenario, results), format);
    }
}
