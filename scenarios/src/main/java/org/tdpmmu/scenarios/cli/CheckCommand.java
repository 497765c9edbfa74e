package org.tdpmmu.scenarios.cli;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.Optional;
import org.tdpmmu.scenarios.load.ScenarioLoader;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.model.ScenarioException;
import org.tdpmmu.scenarios.model.SlotConfig;
import org.tdpmmu.scenarios.model.Sizes;
import org.tdpmmu.scenarios.model.Step;
import org.tdpmmu.scenarios.sim.MemoryEstimate;
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
        MemoryEstimate.Limits limits = MemoryEstimate.Limits.current();
        for (Path f : files) {
            try {
                Scenario s = ScenarioLoader.load(f);
                MemoryEstimate estimate = MemoryEstimate.of(s, 1, MemoryEstimate.Output.TEXT, false);
                ctx.out.print(describe(s, estimate, limits));
                Optional<String> refusal = estimate.refusal(limits);
                if (refusal.isPresent()) {
                    // check answers "would run accept it?": a file run would refuse is not ok
                    ctx.err.println("tdpmmu: " + f + ": " + refusal.get());
                    code = ExitCodes.BAD_INPUT;
                }
            } catch (ScenarioException e) {
                ctx.err.println(e.getMessage());
                code = ExitCodes.BAD_INPUT;
            }
        }
        return code;
    }

    /** At most this many step names are listed; a longer list shows its head and tail. */
    static final int LISTED_STEPS = 24;

    static String describe(Scenario s, MemoryEstimate estimate, MemoryEstimate.Limits limits) {
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
        List<String> names = s.steps().stream().map(Step::name).toList();
        sb.append("  steps: ").append(names.size() <= LISTED_STEPS ? String.join(", ", names)
                : String.join(", ", names.subList(0, LISTED_STEPS - 4)) + ", ... (" + names.size() + " steps) ..., "
                        + String.join(", ", names.subList(names.size() - 3, names.size()))).append('\n');
        s.host().forEach(h -> sb.append("  host: ").append(h.kind().yamlName()).append(" during ").append(h.during())
                .append(", ").append(h.ratePerSecond()).append("/s, ").append(h.pagesPerEvent()).append(" pages\n"));
        if (!s.costModel().overrides().isEmpty()) {
            sb.append("  cost overrides (ns): ").append(s.costModel().overrides()).append('\n');
        }
        sb.append("  memory estimate: ").append(estimate.describe()).append("; this JVM allows direct ")
                .append(Sizes.human(limits.directBytes())).append(", heap ").append(Sizes.human(limits.heapBytes()))
                .append(estimate.refusal(limits).isPresent() ? ": does NOT fit" : ": fits").append('\n');
        sb.append("  work: ").append(estimate.describeWork())
                .append(estimate.longRunNote().isPresent() ? " (long: minutes or more)" : "").append('\n');
        return sb.toString();
    }
}
