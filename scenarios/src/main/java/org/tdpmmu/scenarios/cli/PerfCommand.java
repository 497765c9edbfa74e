package org.tdpmmu.scenarios.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import org.tdpmmu.core.DirtyRing;
import org.tdpmmu.scenarios.engine.RunResult;
import org.tdpmmu.scenarios.load.ScenarioLoader;
import org.tdpmmu.scenarios.model.AccessPattern;
import org.tdpmmu.scenarios.model.Backing;
import org.tdpmmu.scenarios.model.CostModel;
import org.tdpmmu.scenarios.model.DirtyLogMode;
import org.tdpmmu.scenarios.model.DirtyTracking;
import org.tdpmmu.scenarios.model.HarvestMethod;
import org.tdpmmu.scenarios.model.KernelSwitches;
import org.tdpmmu.scenarios.model.Phase;
import org.tdpmmu.scenarios.model.RecoveryStrategy;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.model.Sizes;
import org.tdpmmu.scenarios.model.VmConfig;
import org.tdpmmu.scenarios.report.Provenance;
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
    /** dirty_log_perf_test asserts at least two iterations (its main, before running). */
    static final int MIN_ITERATIONS = 2;

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
            description = "Number of dirty-memory iterations, each followed by a dirty-log harvest; at least 2, "
                    + "as the kernel test requires (default: ${DEFAULT-VALUE}).")
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

    @Option(names = "-m", paramLabel = "MODE",
            description = "The kernel test's guest mode: not modelled by tdpmmu, refused (see --root-level).")
    String guestMode;

    @Option(names = "-n", description = "The kernel test's nested mode (L2 vCPUs): not modelled by tdpmmu, refused.")
    boolean nested;

    @Option(names = "-c", paramLabel = "CPUS", description = "The kernel test's vCPU pinning: not modelled by tdpmmu, "
            + "refused.")
    String pcpus;

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

    @Option(names = "--zap-huge-on-fault", description = "tdpmmu: the fault path of kernels before 6.2: a fault below a "
            + "huge leaf (a write to a huge page in a logged slot) zaps it and maps only its own 4 KiB page, instead of "
            + "splitting it (vm.splitHugeOnFault: false).")
    boolean zapHugeOnFault;

    @Option(names = "--fault-under-write-lock", description = "tdpmmu: the fault path of kernels before 5.12: every "
            + "fault takes mmu_lock for write, so faults are serialised (vm.faultUnderWriteLock: true).")
    boolean faultUnderWriteLock;

    @Option(names = "--dirty-ring", paramLabel = "ENTRIES",
            description = "tdpmmu: report dirty pages in per-vCPU dirty rings of ENTRIES entries "
                    + "(KVM_CAP_DIRTY_LOG_RING_ACQ_REL, a power of two in 1024..65536) instead of the bitmap; each "
                    + "iteration collects the rings and runs KVM_RESET_DIRTY_RINGS. Not with -g (no bitmap harvest "
                    + "to choose) nor --beside-kernel (dirty_log_perf_test has no ring mode).")
    Integer dirtyRing;

    @Option(names = "--slice", paramLabel = "ACCESSES",
            description = "tdpmmu: guest accesses a vCPU thread runs on a simulated pCPU before it leaves the pCPU to "
                    + "a waiting vCPU thread (vm.sliceAccesses, 1..16777216; default: 2048, about a host scheduler's "
                    + "base slice of faulting accesses).")
    Integer slice;

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
        Runner runner = new Runner(ctx, output, spec.commandLine());
        runner.prepare(scenario, 1);
        runner.admit(List.of(scenario));
        if (besideKernel != null) {
            return new BesideKernel(ctx).run(besideKernel, spec.commandLine().getParseResult().originalArgs(), scenario,
                    runner, format);
        }
        boolean text = format == ReportWriter.Format.TEXT && !runner.child();
        Provenance provenance = runner.provenanceOf(scenario,
                List.of(scenario.strategy().map(RecoveryStrategy::yamlName).orElse(scenario.name())));
        if (text) {
            ctx.out.print(provenance.textHeader());
            ctx.out.print(PerfOutput.header(scenario, iterations));
            ctx.out.flush();
        }
        List<String> flags = scenarioFlags();
        List<RunResult> results = runner.run(List.of(scenario), s -> {
            List<String> args = new ArrayList<>(List.of("perf"));
            args.addAll(flags);
            return args;
        });
        if (runner.child()) {
            return runner.writeChildResults(results);
        }
        if (text) {
            ctx.out.print(PerfOutput.lines(scenario, results.get(0)));
            ctx.out.flush();
            return runner.finish(results, provenance);
        }
        return runner.emit(results, provenance, format);
    }

    /** Names of the options that choose how to run and print, not what runs. */
    private static final Set<String> NOT_SCENARIO = Set.of("--json", "--csv", "--report", "--progress", "--repeat",
            "--fork", "--result-file", "--warm-up", "--beside-kernel");

    /**
     * The flags as given that define the scenario (everything but the output and repeat options), in
     * the order given: they name the run ({@code perf -v 8 -b 256M}) and a child JVM gets them.
     */
    List<String> scenarioFlags() {
        List<String> out = new ArrayList<>();
        CommandLine.ParseResult pr = spec.commandLine().getParseResult();
        if (pr == null) {
            return out;
        }
        for (CommandLine.Model.OptionSpec o : pr.matchedOptions()) {
            if (NOT_SCENARIO.contains(o.longestName())) {
                continue;
            }
            if (o.arity().max() == 0) {
                out.add(o.longestName());
            } else {
                for (String v : o.originalStringValues()) {
                    out.add(o.longestName());
                    out.add(v);
                }
            }
        }
        return out;
    }

    /** The scenario the flags describe; a usage error (exit 2) for out-of-range values. */
    Scenario scenario() {
        UsageChecks usage = new UsageChecks(spec);
        usage.vcpus(vcpus);
        usage.check(bytesPerVcpu > 0 && bytesPerVcpu % Sizes.KIB_4 == 0,
                "-b: " + bytesPerVcpu + " bytes is not a positive multiple of 4 KiB (4096 bytes)");
        usage.notModelled(guestMode != null, "-m", "guest modes (the kernel test's PA/VA bits and guest page "
                + "size); the TDP paging depth is chosen with --root-level 4|5");
        usage.notModelled(nested, "-n", "nested virtualization (vCPUs as L2 guests under a nested TDP MMU)");
        usage.notModelled(pcpus != null, "-c", "pinning vCPU threads to host CPUs (vCPU threads run on simulated "
                + "physical CPUs, one per core)");
        usage.check(iterations >= MIN_ITERATIONS && iterations <= ScenarioLoader.MAX_ITERATIONS,
                "-i: " + iterations + " is out of range " + MIN_ITERATIONS + ".." + ScenarioLoader.MAX_ITERATIONS
                        + " (the kernel test, too, refuses fewer than two iterations)");
        usage.check(writePercent >= 0 && writePercent <= 100, "-w: " + writePercent + " is out of range 0..100");
        usage.check(seed >= 0, "-r: " + seed + " is out of range 0.." + Long.MAX_VALUE);
        usage.check(memslots >= 1 && memslots <= ScenarioLoader.MAX_MEMSLOTS,
                "-x: " + memslots + " is out of range 1.." + ScenarioLoader.MAX_MEMSLOTS);
        usage.check(rootLevel == 4 || rootLevel == 5, "--root-level: " + rootLevel + " is not one of 4, 5");
        usage.check(slice == null || (slice >= 1 && slice <= VmConfig.MAX_SLICE_ACCESSES),
                "--slice: " + slice + " is out of range 1.." + VmConfig.MAX_SLICE_ACCESSES);
        long gpa = physOffset == null ? VmConfig.DEFAULT_SLOT_BASE_GFN * Sizes.KIB_4 : physOffset & -backing.pageSize();
        long space = 1L << VmConfig.guestPhysBits(rootLevel);
        usage.check(gpa < space, "-p: 0x" + Long.toHexString(gpa) + " is outside the " + VmConfig.guestPhysBits(rootLevel)
                + "-bit guest physical space (0..0x" + Long.toHexString(space - 1) + ")");
        usage.check((double) vcpus * bytesPerVcpu <= (double) (space - gpa),
                "-v/-b" + (physOffset == null ? "" : "/-p") + ": " + vcpus + " x " + Sizes.format(bytesPerVcpu)
                        + " from guest physical 0x" + Long.toHexString(gpa) + " does not fit in the "
                        + VmConfig.guestPhysBits(rootLevel) + "-bit guest physical space");
        VmConfig vm = usage.built("-v/-b/-x/-s", () -> {
            VmConfig v = VmConfig.uniform(vcpus, bytesPerVcpu, memslots, backing, rootLevel, gpa / Sizes.KIB_4)
                    .withOverlapVcpuMemory(overlap);
            KernelSwitches k = v.kernel();
            return v.withKernel(new KernelSwitches(k.release(), k.suppressVeNonPresent(), k.spteNeedsAtomicUpdate(),
                    k.retryBeforeMmuLock(), k.eagerPageSplit(), k.splitHugeOnFault() && !zapHugeOnFault,
                    k.faultUnderWriteLock() || faultUnderWriteLock))
                    .withSliceAccesses(slice == null ? VmConfig.DEFAULT_SLICE_ACCESSES : slice);
        });
        AccessPattern pattern = random ? AccessPattern.RANDOM : AccessPattern.SEQUENTIAL;
        if (dirtyRing != null) {
            usage.check(!noManualProtect, "-g: has no meaning with --dirty-ring (the rings are harvested, not the bitmap)");
            usage.check(besideKernel == null, "--beside-kernel: dirty_log_perf_test has no dirty-ring mode to run beside --dirty-ring");
            usage.accepted("--dirty-ring", () -> DirtyRing.checkEntries(dirtyRing, DirtyRing.PML_ENTRIES));
        }
        HarvestMethod method = dirtyRing != null ? HarvestMethod.RING : noManualProtect ? HarvestMethod.GET : HarvestMethod.CLEAR;
        DirtyLogMode mode = dbit ? DirtyLogMode.DBIT : DirtyLogMode.WRPROT;
        List<Phase> phases = List.of(
                new Phase.Populate(),
                dirtyRing != null
                        ? new Phase.EnableDirtyLogging(mode, eagerSplit, false, DirtyTracking.RING, dirtyRing)
                        : new Phase.EnableDirtyLogging(mode, eagerSplit, !noManualProtect),
                new Phase.DirtyPass(iterations, writePercent, pattern, 0, seed, method),
                new Phase.DisableDirtyLogging(strategy, vcpusRunning),
                new Phase.SecondPass(writePercent, pattern, 0, seed),
                new Phase.Teardown());
        String flags = String.join(" ", scenarioFlags());
        String name = ("perf " + flags).strip();
        String description = ("dirty_log_perf_test " + flags).strip();
        return new Scenario(name, description, vm, CostModel.defaults(), phases, List.of(), SOURCE);
    }
}
