package org.tdpmmu.scenarios.cli;

import java.util.concurrent.Callable;
import org.tdpmmu.core.Memslots;
import org.tdpmmu.scenarios.sim.MemslotMapRwTests;
import org.tdpmmu.scenarios.sim.MemslotTests;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code tdpmmu memslot-perf-test}: the kernel's memslot_perf_test (6.12) on the model, every test
 * 0..5 (map, unmap, unmap chunked, move active area, move inactive area, RW), with its flags
 * ({@code -v -d -q -s -f -e -l -r}), its defaults ({@code -f 0 -e 5 -s -1 -l 5 -r 1}) and its
 * lines. The move tests are {@link MemslotTests#perfMove}, the others {@link MemslotMapRwTests}.
 */
@Command(name = "memslot-perf-test", mixinStandardHelpOptions = true,
        description = "The kernel's memslot_perf_test on the model: 0 map, 1 unmap, 2 unmap chunked (the host "
                + "unmapping guest memory while the vCPU maps it), 3 move active area, 4 move inactive area (the host "
                + "moving the last slot), 5 RW (guest and host reading each other's writes), in up to 32763 "
                + "memslots; the kernel test's timing lines, then every safety check. Exit 1 on any violation.")
final class MemslotPerfCommand implements Callable<Integer> {

    private final CliContext ctx;

    @Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "-v", description = "Verbose mode (the kernel test's slot and launch lines).")
    boolean verbose;

    @Option(names = "-d", description = "Extra debug checks: the map and unmap tests check the guest's values before "
            + "each unmap (the safety checks run after every run anyway).")
    boolean debug;

    @Option(names = "-q", description = "Disable the memslot zap quirk during memslot move.")
    boolean disableQuirk;

    @Option(names = "-s", paramLabel = "SLOTS", defaultValue = "-1",
            description = "Memslot count cap, more than 1, or -1 for no cap (then " + (Memslots.USER_MEM_SLOTS - 1)
                    + ", KVM_USER_MEM_SLOTS less the kernel test's slot 0) (default: ${DEFAULT-VALUE}).")
    int slots;

    @Option(names = "-f", paramLabel = "N", defaultValue = "0",
            description = "First test to run, 0..5 (default: ${DEFAULT-VALUE}).")
    int first;

    @Option(names = "-e", paramLabel = "N", defaultValue = "5",
            description = "Last test to run, 0..5 (default: ${DEFAULT-VALUE}).")
    int last;

    @Option(names = "-l", paramLabel = "SECONDS", defaultValue = "5",
            description = "Test length in seconds (default: ${DEFAULT-VALUE}).")
    int seconds;

    @Option(names = "-r", paramLabel = "N", defaultValue = "1", description = "Runs per test (default: ${DEFAULT-VALUE}).")
    int runs;

    MemslotPerfCommand(CliContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public Integer call() throws Exception {
        check(slots == -1 || (slots > 1 && slots < Memslots.USER_MEM_SLOTS),
                "-s: slot count cap must be larger than 1 and below " + Memslots.USER_MEM_SLOTS + ", or -1 for no cap");
        check(first >= 0 && first <= 5 && last >= 0 && last <= 5, "-f/-e: test numbers are 0..5");
        check(first <= last, "-f/-e: first test to run cannot be greater than the last test to run");
        check(seconds > 0, "-l: test length must be positive (" + seconds + ")");
        check(runs > 0, "-r: runs must be positive (" + runs + ")");
        // kernel: the cap counts slot 0, which the test keeps for its code.
        int nslots = slots == -1 ? Memslots.USER_MEM_SLOTS - 1 : Math.min(slots, Memslots.USER_MEM_SLOTS) - 1;
        long violations = 0;
        long bestSetup = 0;
        for (int t = first; t <= last; t++) {
            if (t > first) {
                ctx.out.println();
            }
            ctx.out.println("Testing " + MemslotTests.perfTestName(t) + " performance with " + runs + " runs, " + seconds
                    + " seconds each");
            long bestIter = 0;
            long bestLoops = 0;
            for (int run = 0; run < runs; run++) {
                long[] max = new long[1];
                MemslotTests.PerfRun r = MemslotMapRwTests.covers(t)
                        ? MemslotMapRwTests.run(t, nslots, seconds, debug, verbose, max, ctx.out)
                        : MemslotTests.perfMove(t == MemslotTests.FIRST_MOVE_TEST, nslots, seconds, disableQuirk, verbose,
                                max, ctx.out);
                if (r == null) {
                    ctx.out.println(max[0] != 0
                            ? "Memslot count too high for this test, decrease the cap (max is " + max[0] + ")"
                            : "Memslot count may be too high for this test, try adjusting the cap");
                    break;
                }
                ctx.out.println("Test took " + MemslotTests.seconds(r.setupNanos()) + " for slot setup + "
                        + MemslotTests.seconds(r.loopNanos()) + " all iterations");
                ctx.out.println("--- tdpmmu ---");
                r.result().summary().forEach(ctx.out::println);
                for (String v : r.result().violations()) {
                    ctx.err.println("VIOLATION " + v);
                }
                violations += r.result().violations().size();
                // Only the tests on the whole test area rank their setup times (the kernel's rule).
                if (MemslotMapRwTests.ranksSetup(t)) {
                    bestSetup = bestSetup == 0 ? r.setupNanos() : Math.min(bestSetup, r.setupNanos());
                }
                if (r.loops() == 0) {
                    ctx.out.println("No full loops done - too short test time or system too loaded?");
                    continue;
                }
                long iter = r.loopNanos() / r.loops();
                ctx.out.println("Done " + r.loops() + " iterations, avg " + MemslotTests.seconds(iter) + " each");
                if (bestIter == 0 || iter < bestIter) {
                    bestIter = iter;
                    bestLoops = r.loops();
                }
            }
            if (bestIter != 0) {
                ctx.out.println("Best runtime result was " + MemslotTests.seconds(bestIter) + " per iteration (with "
                        + bestLoops + " iterations)");
            }
        }
        if (bestSetup != 0) {
            ctx.out.println("Best slot setup time for the whole test area was " + MemslotTests.seconds(bestSetup));
        }
        ctx.out.flush();
        return violations == 0 ? ExitCodes.OK : ExitCodes.VIOLATION;
    }

    private void check(boolean ok, String message) {
        if (!ok) {
            throw new CommandLine.ParameterException(spec.commandLine(), message);
        }
    }
}
