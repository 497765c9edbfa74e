package org.tdpmmu.scenarios.cli;

import java.util.concurrent.Callable;
import org.tdpmmu.core.Memslots;
import org.tdpmmu.scenarios.sim.MemslotTests;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code tdpmmu memslot-perf-test}: the move tests of the kernel's memslot_perf_test (6.12) on the
 * model, with its flags ({@code -v -d -q -s -f -e -l -r}) and its lines. Tests 0-2 and 5 (map,
 * unmap, unmap chunked, RW) time host page unmapping and guest RW, not memslot changes, and are
 * refused as not modelled; the default range is therefore 3..4.
 */
@Command(name = "memslot-perf-test", mixinStandardHelpOptions = true,
        description = "The move tests of the kernel's memslot_perf_test on the model (3: move active area, 4: move "
                + "inactive area): 512 MiB in up to 32763 memslots, one vCPU writing a 192 KiB area while the host "
                + "moves the last slot away and back; the kernel test's timing lines, then every safety check. "
                + "Exit 1 on any violation.")
final class MemslotPerfCommand implements Callable<Integer> {

    private final CliContext ctx;

    @Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "-v", description = "Verbose mode (the kernel test's slot and launch lines).")
    boolean verbose;

    @Option(names = "-d", description = "Extra debug checks: the safety checks run after every run (they always run "
            + "here; accepted for the kernel test's command lines).")
    boolean debug;

    @Option(names = "-q", description = "Disable the memslot zap quirk during memslot move.")
    boolean disableQuirk;

    @Option(names = "-s", paramLabel = "SLOTS", defaultValue = "-1",
            description = "Memslot count cap, more than 1, or -1 for no cap (then " + (Memslots.USER_MEM_SLOTS - 1)
                    + ", KVM_USER_MEM_SLOTS less the kernel test's slot 0) (default: ${DEFAULT-VALUE}).")
    int slots;

    @Option(names = "-f", paramLabel = "N", defaultValue = "3",
            description = "First test to run (modelled: 3, 4) (default: ${DEFAULT-VALUE}).")
    int first;

    @Option(names = "-e", paramLabel = "N", defaultValue = "4",
            description = "Last test to run (modelled: 3, 4) (default: ${DEFAULT-VALUE}).")
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
        for (int t = first; t <= last; t++) {
            check(t >= MemslotTests.FIRST_MOVE_TEST && t <= MemslotTests.LAST_MOVE_TEST,
                    "-f/-e: test " + t + " (" + MemslotTests.perfTestName(t) + ") is not modelled by tdpmmu: only the "
                            + "memslot move tests 3 and 4 are");
        }
        check(seconds > 0, "-l: test length must be positive (" + seconds + ")");
        check(runs > 0, "-r: runs must be positive (" + runs + ")");
        int nslots = slots == -1 ? Memslots.USER_MEM_SLOTS - 1 : slots;
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
                MemslotTests.PerfRun r = MemslotTests.perfMove(t == MemslotTests.FIRST_MOVE_TEST, nslots, seconds,
                        disableQuirk, verbose, max, ctx.out);
                if (r == null) {
                    ctx.out.println("Memslot count may be too high for this test, try adjusting the cap");
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
                // The move tests use the whole test area, so their setup times rank (the kernel's rule).
                bestSetup = bestSetup == 0 ? r.setupNanos() : Math.min(bestSetup, r.setupNanos());
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
