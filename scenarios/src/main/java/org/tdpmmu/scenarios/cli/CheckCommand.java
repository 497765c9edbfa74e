package org.tdpmmu.scenarios.cli;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import org.tdpmmu.scenarios.load.ScenarioLoader;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.model.ScenarioException;
import org.tdpmmu.scenarios.model.SlotConfig;
import org.tdpmmu.scenarios.model.Sizes;
import org.tdpmmu.scenarios.model.Step;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

@Command(name = "check", mixinStandardHelpOptions = true,
        description = "Validate scenario files without running them; print each one's VM and steps. "
                + "Needs no engine.")
final class CheckCommand implements Callable<Integer> {

    private final CliContext ctx;

    @Parameters(arity = "1..*", paramLabel = "FILE", description = "Scenario files.")
    List<Path> files;

    CheckCommand(CliContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public Integer call() {
        int code = ExitCodes.OK;
        for (Path f : files) {
            try {
                ctx.out.print(describe(ScenarioLoader.load(f)));
            } catch (ScenarioException e) {
                ctx.err.println(e.getMessage());
                code = ExitCodes.BAD_INPUT;
            }
        }
        return code;
    }

    static String describe(Scenario s) {
        StringBuilder sb = new StringBuilder();
        sb.append(s.source()).append(": ok: ").append(s.name()).append('\n');
        sb.append("  vm: ").append(s.vm().vcpus()).append(" vCPUs x ").append(Sizes.format(s.vm().memoryPerVcpu()))
                .append(", ").append(s.vm().rootLevel()).append("-level root")
                .append(s.vm().overlapVcpuMemory() ? ", every vCPU on all of it" : "").append('\n');
        for (SlotConfig slot : s.vm().slots()) {
            sb.append(String.format("  slot %d: gfn 0x%x-0x%x, %s, %s, largest mapping level %d%n",
                    slot.id(), slot.baseGfn(), slot.endGfn(), Sizes.human(slot.sizeBytes()),
                    slot.backing().yamlName(), slot.maxLevel()));
        }
        sb.append("  steps: ").append(s.steps().stream().map(Step::name).collect(Collectors.joining(", "))).append('\n');
        s.host().forEach(h -> sb.append("  host: ").append(h.kind().yamlName()).append(" during ").append(h.during())
                .append(", ").append(h.ratePerSecond()).append("/s, ").append(h.pagesPerEvent()).append(" pages\n"));
        if (!s.costModel().overrides().isEmpty()) {
            sb.append("  cost overrides (ns): ").append(s.costModel().overrides()).append('\n');
        }
        return sb.toString();
    }
}
