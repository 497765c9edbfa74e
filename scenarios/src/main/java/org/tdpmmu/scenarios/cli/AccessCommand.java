package org.tdpmmu.scenarios.cli;

import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import org.tdpmmu.scenarios.model.AccessPattern;
import org.tdpmmu.scenarios.model.Backing;
import org.tdpmmu.scenarios.model.CostModel;
import org.tdpmmu.scenarios.model.Phase;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.model.VmConfig;
import org.tdpmmu.scenarios.sim.AccessTracking;
import org.tdpmmu.scenarios.sim.MemoryEstimate;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code tdpmmu access}: the model's run of the kernel's access_tracking_perf_test. Each vCPU thread
 * writes its memory (populating it), writes and reads it again, then marks it idle page by page
 * through the mmu_notifier's clear_young (as reading and writing /sys/kernel/mm/page_idle/bitmap does:
 * one clear_young per page, from each vCPU's own thread), writes it, marks it idle again, and reads
 * it. Each step prints its wall time as the kernel test does ({@code %-30s: %ld.%09lds}).
 *
 * <p>The check is the kernel test's: when a vCPU marks its memory idle after writing it, fewer than
 * 10% of its pages may still be idle (a page whose access aging did not see: a translation cached
 * in a TLB since before the previous clear_young, which flushes nothing). {@code -w} as the kernel
 * test's later releases: {@code > 0} warns, {@code 0} fails, {@code < 0} (auto, the default) fails
 * here because the model is neither nested nor subject to NUMA balancing.
 *
 * <p>{@code -l} and {@code -p} are the test's MGLRU modes (James Houghton's series, from its v4 of
 * 2024-05-29; {@code -l} merged for 6.16, {@code -p} never merged): {@code -l} marks memory idle by one
 * lru_gen aging pass ("Mark memory idle (lru_gen)"), {@code -p} runs passes while the vCPUs populate
 * and prints "vcpu wall time" and "lru_gen avg pass duration", the figures the lockless-aging series
 * published (its v4 cover letter; see {@link AccessTracking}). The
 * kernel needs a memory cgroup for them ({@code -r}); the model has none, so there is no {@code -r}.
 */
@Command(name = "access", mixinStandardHelpOptions = true,
        description = "Run access_tracking_perf_test's steps in the model (populate, write, read, mark idle "
                + "through clear_young, write, mark idle, read) and print each step's wall time. Exit 1 when "
                + "10%% or more of a vCPU's pages are still idle after it wrote them (unless -w says warn).")
final class AccessCommand implements Callable<Integer> {

    private static final String SOURCE = "<access>";

    private final CliContext ctx;

    @Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "-v", paramLabel = "VCPUS", defaultValue = "1", description = "vCPUs (default: ${DEFAULT-VALUE}).")
    int vcpus;

    @Option(names = "-b", paramLabel = "BYTES", defaultValue = "1G", converter = Converters.Size.class,
            description = "Memory per vCPU (default: ${DEFAULT-VALUE}).")
    long bytesPerVcpu;

    @Option(names = "-s", paramLabel = "TYPE", defaultValue = "anonymous", converter = Converters.BackingType.class,
            completionCandidates = Converters.BackingNames.class,
            description = "Memory backing the guest: ${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE}).")
    Backing backing;

    @Option(names = "-o", description = "Overlap guest memory accesses: every vCPU touches all of the test memory, "
            + "and vCPU 0 alone marks it idle.")
    boolean overlap;

    @Option(names = "-w", paramLabel = "N", defaultValue = "-1",
            description = "Too many pages still idle: > 0 warns, 0 fails, < 0 auto (fails: not nested, no NUMA "
                    + "balancing) (default: ${DEFAULT-VALUE}).")
    int warnOnly;

    @Option(names = "-l", description = "Use MGLRU aging instead of idle page tracking: one aging pass over all "
            + "the memory, a notifier call a present page (the kernel test's lru_gen mode).")
    boolean lruGen;

    @Option(names = "-p", description = "Benchmark MGLRU aging while faulting memory in: the vCPUs populate "
            + "while aging passes run back to back until they are done; prints the vCPU wall time and the "
            + "average pass (needs -l).")
    boolean benchmark;

    @Option(names = "--lockless-aging", description = "tdpmmu: age under RCU alone, as since 6.15 (default: "
            + "mmu_lock held for write, as before).")
    boolean lockless;

    @Option(names = "--no-ept-ad", description = "tdpmmu: EPT without accessed/dirty bits: aging access-tracks "
            + "(R/W/X cleared, restored by the fast page fault).")
    boolean noAdBits;

    AccessCommand(CliContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public Integer call() throws Exception {
        final UsageChecks usage = new UsageChecks(spec);
        usage.vcpus(vcpus);
        usage.check(bytesPerVcpu >= 4096, "-b: " + bytesPerVcpu + " is less than one 4 KiB page");
        // As the kernel test's main(): the benchmark ages through lru_gen only.
        usage.check(!benchmark || lruGen, "-p specified without -l");
        final VmConfig shape = usage.built("-v/-b/-s", () -> VmConfig.uniform(vcpus, bytesPerVcpu, 1, backing, 4,
                VmConfig.DEFAULT_SLOT_BASE_GFN).withOverlapVcpuMemory(overlap).withLocklessAging(lockless));
        final Scenario s = new Scenario("access", "access_tracking_perf_test", shape, CostModel.defaults(),
                List.of(new Phase.Populate(), new Phase.SecondPass(100, AccessPattern.SEQUENTIAL, 0, 1),
                        new Phase.Teardown()), List.of(), SOURCE);
        final Optional<String> refusal = MemoryEstimate.of(s, 1, MemoryEstimate.Output.TEXT, false)
                .refusal(MemoryEstimate.Limits.current());
        if (refusal.isPresent()) {
            throw new CliException(ExitCodes.BAD_INPUT, "tdpmmu access: " + refusal.get());
        }
        final AccessTracking.Result r = AccessTracking.run(s, !noAdBits, warnOnly > 0, ctx.out,
                new AccessTracking.Options(lruGen, benchmark));
        if (r.tooManyIdle() && warnOnly <= 0) {
            ctx.err.println("tdpmmu access: " + r.idleMessage());
            return ExitCodes.VIOLATION;
        }
        return ExitCodes.OK;
    }
}
