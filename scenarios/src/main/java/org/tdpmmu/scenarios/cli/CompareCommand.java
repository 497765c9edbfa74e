package org.tdpmmu.scenarios.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.tdpmmu.scenarios.engine.RunResult;
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
                + "figures are medians [min-max]."})
final class CompareCommand implements Callable<Integer> {

    private final CliContext ctx;

    @Spec
    CommandLine.Model.CommandSpec spec;

    @Parameters(index = "0", paramLabel = "FILE", description = "The scenario file (YAML, see FORMAT.md).")
    Path file;

    @Mixin
    OutputOptions output;

    CompareCommand(CliContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public Integer call() throws Exception {
        ReportWriter.Format format = output.format(spec.commandLine());
        Scenario scenario = ScenarioLoader.load(file);
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
        List<RunResult> results = runner.run(runs,
                s -> List.of("run", path, "--strategy", s.strategy().orElseThrow().yamlName()));
        return runner.emit(results, runner.provenance(scenario, results), format);
    }
}
