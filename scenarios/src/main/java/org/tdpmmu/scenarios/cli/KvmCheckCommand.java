package org.tdpmmu.scenarios.cli;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import org.tdpmmu.scenarios.kvm.KvmCheck;
import org.tdpmmu.scenarios.kvm.KvmUnavailableException;
import org.tdpmmu.scenarios.load.ScenarioLoader;
import org.tdpmmu.scenarios.model.Scenario;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

@Command(name = "kvm-check", mixinStandardHelpOptions = true,
        description = "Run each scenario's access pattern in a real KVM guest (/dev/kvm) and through the model, "
                + "and compare every dirty-log harvest bit for bit, per harvest method (get, clear, initially-set, "
                + "ring) and model mode (wrprot, dbit), with one vCPU and then the scenario's vCPUs. Prints KVM's "
                + "binary statistics beside the model's counters. Exit 1 on any dirty-bit difference, 3 when "
                + "/dev/kvm is missing or refuses.")
final class KvmCheckCommand implements Callable<Integer> {

    private final CliContext ctx;

    @Parameters(arity = "1..*", paramLabel = "FILE", description = "Scenario files.")
    List<Path> files;

    KvmCheckCommand(CliContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public Integer call() {
        int differences = 0;
        for (Path f : files) {
            final Scenario scenario = ScenarioLoader.load(f);
            final KvmCheck check;
            try {
                check = new KvmCheck(scenario, ctx.out);
            } catch (IllegalArgumentException e) {
                throw new CliException(ExitCodes.BAD_INPUT, "tdpmmu kvm-check: " + e.getMessage());
            }
            try {
                differences += check.run();
            } catch (KvmUnavailableException e) {
                throw new CliException(ExitCodes.NO_ENGINE, "tdpmmu kvm-check: " + e.getMessage());
            }
        }
        return differences == 0 ? ExitCodes.OK : ExitCodes.VIOLATION;
    }
}
