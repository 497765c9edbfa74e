package org.tdpmmu.scenarios.cli;

import java.util.List;
import java.util.concurrent.Callable;
import org.tdpmmu.scenarios.engine.RunResult;
import org.tdpmmu.scenarios.load.ScenarioLoader;
import org.tdpmmu.scenarios.model.AccessPattern;
import org.tdpmmu.scenarios.model.Backing;
import org.tdpmmu.scenarios.model.CostModel;
import org.tdpmmu.scenarios.model.DirtyLogMode;
import org.tdpmmu.scenarios.model.HarvestMethod;
import org.tdpmmu.scenarios.model.Phase;
import org.tdpmmu.scenarios.model.RecoveryStrategy;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.model.Sizes;
import org.tdpmmu.scenarios.model.VmConfig;
import org.tdpmmu.scenarios.report.ReportWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * The flags of the kernel's dirty_log_perf_test (tools/testing/selftests/kvm), with the same
 * meanings and defaults, plus tdpmmu's own. Builds the test's sequence as a {@link Scenario} —
 * populate, enable dirty logging, {@code -i} iterations of a dirty pass and a harvest, disable
 * dirty logging, a second pass (ours: counts what the strategy left to refault), teardown — and
 * prints the test's own lines so the two outputs can be laid side by side.
 */
@Command(name = "perf", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Run the dirty_log_perf_test sequence with its flags: populate memory, enable dirty logging, "
                + "-i iterations of (every vCPU dirties its memory, then the dirty log is harvested), disable dirty "
                + "logging; then, beyond the kernel test, a second pass and teardown. Prints the kernel test's lines "
                + "(\"Populate memory time: ...\") followed by tdpmmu's own."})
final class PerfCommand implements Callable<Integer> {

    static final String SOURCE = "<perf flags>";

    private final CliContext ctx;

    @Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "-v", paramLabel = "VCPUS", defaultValue = "1",
            description = "Number of vCPUs, each dirtying its own memory region (1..512, default: ${DEFAULT-VALUE}).")
    int vcpus;

    @Option(names = "-b", paramLabel = "BYTES", defaultValue = "1G", converter = Converters.Size.class,
            description = "Size of the memory region each vCPU dirties, e.g. 10M or 3G; a multiple of 4 KiB "
                    + "(default: ${DEFAULT-VALUE}).")
    long bytesPerVcpu;

    @Option(names = "-i", paramLabel = "ITERATIONS", defaultValue = "2",
            description = "Number of dirty-memory iterations, each followed by a dirty-log harvest (default: ${DEFAULT-VALUE}).")
    int iterations;

    @Option(names = "-w", paramLabel = "PERCENT", defaultValue = "100",
            description = "Percentage of accesses that are writes, 0..100. Probabilistic: each access is a write "
                    + "with this chance and a read otherwise (default: ${DEFAULT-VALUE}, every page written).")
    int writePercent;

    @Option(names = "-a", description = "Access memory in random order instead of sequentially.")
    boolean random;

    @Option(names = "-r", paramLabel = "SEED", defaultValue = "1",
            description = "Seed of the random accesses and write choices (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "-x", paramLabel = "SLOTS", defaultValue = "1",
            description = "Split the guest memory into this many equal memslots (default: ${DEFAULT-VALUE}).")
    int memslots;

    @Option(names = "-s", paramLabel = "TYPE", defaultValue = "anonymous", converter = Converters.BackingType.class,
            completionCandidates = Converters.BackingNames.class,
            description = "Memory backing the guest, named as the kernel names it: ${COMPLETION-CANDIDATES} "
                    + "(default: ${DEFAULT-VALUE}). It bounds the largest mapping: 4 KiB, 2 MiB, 2 MiB, 1 GiB.")
    Backing backing;

    @Option(names = "-p", paramLabel = "OFFSET", converter = Converters.Size.class,
            description = "Guest physical address of the test memory, e.g. 0x200000000 or 8G; aligned down to the "
                    + "backing page size, as memstress aligns the test region (default: 4G; the kernel test puts it "
                    + "at the top of guest physical memory, and parses -p without applying it).")
    Long physOffset;

    @Option(names = "-o", description = "Overlap guest memory accesses: every vCPU touches all of the test memory "
            + "instead of its own region, so vCPUs fault and write the same pages.")
    boolean overlap;

    @Option(names = "-e", description = "Keep the vCPUs running while dirty logging is being disabled, racing the "
            + "huge-page recovery (much slower without an in-place recovery).")
    boolean vcpusRunning;

    @Option(names = "-g", description = "Do not use manual protect (KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2): "
            + "KVM_GET_DIRTY_LOG itself re-protects what it reports, and writes are tracked from the moment "
            + "logging is enabled. Default: manual protect with the log initially all set; each iteration runs "
            + "KVM_GET_DIRTY_LOG then KVM_CLEAR_DIRTY_LOG, and the first clear does the protecting.")
    boolean noManualProtect;

    @Option(names = "--strategy", paramLabel = "S", defaultValue = "promote_in_place",
            converter = Converters.Strategy.class, completionCandidates = Converters.StrategyNames.class,
            description = "tdpmmu: how huge pages are recovered when dirty logging is disabled: "
                    + "${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE}).")
    RecoveryStrategy strategy;

    @Option(names = "--eager-split", description = "tdpmmu: split huge pages when dirty logging is enabled (or at the "
            + "first clear, with manual protect) instead of at each first write (KVM's eager_page_split).")
    boolean eagerSplit;

    @Option(names = "--dbit", description = "tdpmmu: track dirty pages with the SPTE dirty bit (as PML does) "
            + "instead of write protection.")
    boolean dbit;

    @Option(names = "--root-level", paramLabel = "4|5", defaultValue = "4",
            description = "tdpmmu: TDP root level, 4 (48-bit guest physical) or 5 (57-bit) (default: ${DEFAULT-VALUE}).")
    int rootLevel;

    @Option(names = "--beside-kernel", paramLabel = "BINARY",
            description = "Run the kernel's dirty_log_perf_test BINARY with the same flags on /dev/kvm first and print "
                    + "its lines beside tdpmmu's (see scripts/kernel-selftests.sh); exit 3 without a usable /dev/kvm.")
    java.nio.file.Path besideKernel;

    @Mixin
    OutputOptions output;

    PerfCommand(CliContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public Integer call() throws Exception {
        ReportWriter.Format format = output.format(spec.commandLine());
        Scenario scenario = scenario();
        Runner runner = new Runner(ctx, output);
        runner.admit(List.of(scenario));
        if (besideKernel != null) {
            return new BesideKernel(ctx).run(besideKernel, spec.commandLine().getParseResult().originalArgs(), scenario,
                    runner, format);
        }
        if (format == ReportWriter.Format.TEXT) {
            ctx.out.print(PerfOutput.header(scenario));
            ctx.out.flush();
        }
        List<RunResult> results = runner.run(List.of(scenario));
        if (format == ReportWriter.Format.TEXT) {
            ctx.out.print(PerfOutput.lines(scenario, results.get(0)));
            ctx.out.flush();
            return runner.finish(results);
        }
        return runner.emit(results, format);
    }

    /** The scenario the flags describe; a usage error (exit 2) for out-of-range values. */
    Scenario scenario() {
        check(vcpus >= 1 && vcpus <= ScenarioLoader.MAX_VCPUS, "-v: " + vcpus + " is out of range 1.." + ScenarioLoader.MAX_VCPUS);
        check(bytesPerVcpu > 0 && bytesPerVcpu % Sizes.KIB_4 == 0,
                "-b: " + bytesPerVcpu + " bytes is not a positive multiple of 4 KiB (4096 bytes)");
        check(iterations >= 1 && iterations <= ScenarioLoader.MAX_ITERATIONS,
                "-i: " + iterations + " is out of range 1.." + ScenarioLoader.MAX_ITERATIONS);
        check(writePercent >= 0 && writePercent <= 100, "-w: " + writePercent + " is out of range 0..100");
        check(seed >= 0, "-r: " + seed + " is out of range 0.." + Long.MAX_VALUE);
        check(memslots >= 1 && memslots <= ScenarioLoader.MAX_MEMSLOTS,
                "-x: " + memslots + " is out of range 1.." + ScenarioLoader.MAX_MEMSLOTS);
        check(rootLevel == 4 || rootLevel == 5, "--root-level: " + rootLevel + " is not one of 4, 5");
        long gpa = physOffset == null ? VmConfig.DEFAULT_SLOT_BASE_GFN * Sizes.KIB_4 : physOffset & -backing.pageSize();
        long space = 1L << VmConfig.guestPhysBits(rootLevel);
        check(gpa < space, "-p: 0x" + Long.toHexString(gpa) + " is outside the " + VmConfig.guestPhysBits(rootLevel)
                + "-bit guest physical space (0..0x" + Long.toHexString(space - 1) + ")");
        check((double) vcpus * bytesPerVcpu <= (double) (space - gpa),
                "-v/-b" + (physOffset == null ? "" : "/-p") + ": " + vcpus + " x " + Sizes.format(bytesPerVcpu)
                        + " from guest physical 0x" + Long.toHexString(gpa) + " does not fit in the "
                        + VmConfig.guestPhysBits(rootLevel) + "-bit guest physical space");
        VmConfig vm;
        try {
            vm = VmConfig.uniform(vcpus, bytesPerVcpu, memslots, backing, rootLevel, gpa / Sizes.KIB_4)
                    .withOverlapVcpuMemory(overlap);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), "-v/-b/-x/-s: " + e.getMessage());
        }
        AccessPattern pattern = random ? AccessPattern.RANDOM : AccessPattern.SEQUENTIAL;
        HarvestMethod method = noManualProtect ? HarvestMethod.GET : HarvestMethod.CLEAR;
        List<Phase> phases = List.of(
                new Phase.Populate(),
                new Phase.EnableDirtyLogging(dbit ? DirtyLogMode.DBIT : DirtyLogMode.WRPROT, eagerSplit, !noManualProtect),
                new Phase.DirtyPass(iterations, writePercent, pattern, 0, seed, method),
                new Phase.DisableDirtyLogging(strategy, vcpusRunning),
                new Phase.SecondPass(writePercent, pattern, 0, seed),
                new Phase.Teardown());
        String description = "dirty_log_perf_test " + String.join(" ", spec.commandLine().getParseResult() == null
                ? List.of() : spec.commandLine().getParseResult().originalArgs());
        return new Scenario("perf", description.strip(), vm, CostModel.defaults(), phases, List.of(), SOURCE);
    }

    private void check(boolean ok, String message) {
        if (!ok) {
            throw new CommandLine.ParameterException(spec.commandLine(), message);
        }
    }
}
