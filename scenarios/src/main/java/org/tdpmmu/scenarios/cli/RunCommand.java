package org.tdpmmu.scenarios.cli;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
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
        description = "Run a scenario file once and print each step's times and counters.")
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

    @Mixin
    OutputOptions output;

    RunCommand(CliContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public Integer call() throws Exception {
        ReportWriter.Format format = output.format(spec.commandLine());
        Scenario scenario = ScenarioLoader.load(file);
        if (strategy != null) {
            if (!scenario.disablesDirtyLogging()) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--strategy: scenario "
                        + scenario.name() + " has no disableDirtyLogging phase, so the strategy would change nothing");
            }
            scenario = scenario.withStrategy(strategy);
        }
        Runner runner = new Runner(ctx, output);
        return runner.emit(runner.run(List.of(scenario)), format);
    }
}
