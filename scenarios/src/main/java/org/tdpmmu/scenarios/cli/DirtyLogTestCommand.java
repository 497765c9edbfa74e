package org.tdpmmu.scenarios.cli;

import java.util.List;
import java.util.concurrent.Callable;
import org.tdpmmu.scenarios.model.VmConfig;
import org.tdpmmu.scenarios.sim.DirtyLogTest;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code tdpmmu dirty-log-test}: the kernel's dirty_log_test on the model, with its flags
 * ({@code -c -i -I -p -M}; {@code -m} refused, guest modes are not modelled) and its lines.
 */
@Command(name = "dirty-log-test", mixinStandardHelpOptions = true,
        description = "The kernel's dirty_log_test on the model: one vCPU dirties random pages of 1 GiB with the "
                + "iteration number while the host collects the dirty log every interval (modes dirty-log, "
                + "clear-log, dirty-ring) and checks that a page reported dirty holds this or the previous "
                + "iteration's value, a page not reported an older one, and (beyond the kernel test) that no page "
                + "is reported that was not written since its last report. Exit 1 on any violation.")
final class DirtyLogTestCommand implements Callable<Integer> {

    private final CliContext ctx;

    @Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "-c", paramLabel = "ENTRIES", defaultValue = "65536",
            description = "Dirty ring size in entries (dirty-ring mode only; default: ${DEFAULT-VALUE}).")
    int ringEntries;

    @Option(names = "-i", paramLabel = "N", defaultValue = "32",
            description = "Iterations, more than two (default: ${DEFAULT-VALUE}).")
    long iterations;

    @Option(names = "-I", paramLabel = "MS", defaultValue = "10",
            description = "Interval between collects, in ms (default: ${DEFAULT-VALUE}).")
    long interval;

    @Option(names = "-p", paramLabel = "OFFSET", converter = Converters.Size.class,
            description = "Guest physical address of the test memory (default: 4G), aligned down to 4 KiB.")
    Long physOffset;

    @Option(names = "-M", paramLabel = "MODE", defaultValue = "all",
            description = "Log mode: all, dirty-log, clear-log, dirty-ring (default: ${DEFAULT-VALUE}).")
    String logMode;

    @Option(names = "-m", paramLabel = "MODE", description = "The kernel test's guest mode: not modelled, refused.")
    String guestMode;

    @Option(names = "--seed", paramLabel = "SEED", defaultValue = "1",
            description = "tdpmmu: seed of the guest's random pages (the kernel test seeds from the time).")
    long seed;

    DirtyLogTestCommand(CliContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public Integer call() throws Exception {
        check(guestMode == null, "-m: not modelled by tdpmmu: guest modes (the TDP depth is fixed at 4 levels here)");
        List<DirtyLogTest.Mode> modes;
        if (logMode.equals("all")) {
            modes = List.of(DirtyLogTest.Mode.values());
        } else {
            DirtyLogTest.Mode m = null;
            for (DirtyLogTest.Mode x : DirtyLogTest.Mode.values()) {
                if (x.kernelName().equals(logMode)) {
                    m = x;
                }
            }
            check(m != null, "-M: log mode '" + logMode + "' invalid; choose from: all, dirty-log, clear-log, dirty-ring");
            ctx.out.println("Setting log mode to: '" + logMode + "'");
            modes = List.of(m);
        }
        check(iterations > 2, "-i: iterations must be greater than two (" + iterations + ")");
        check(interval > 0, "-I: interval must be greater than zero (" + interval + ")");
        long gpa = physOffset == null ? VmConfig.DEFAULT_SLOT_BASE_GFN << 12 : physOffset & -4096L;
        check(gpa >= 0 && (gpa >>> 12) + DirtyLogTest.DEFAULT_PAGES <= 1L << 36,
                "-p: 0x" + Long.toHexString(gpa) + " leaves no room for 1 GiB in the 48-bit guest physical space");
        ctx.out.println("Test iterations: " + iterations + ", interval: " + interval + " (ms)");
        long violations = 0;
        for (DirtyLogTest.Mode m : modes) {
            if (modes.size() > 1) {
                ctx.out.println("Testing Log Mode '" + m.kernelName() + "'");
            }
            ctx.out.println("Testing guest mode: tdpmmu, 4-level TDP, 4K pages");
            DirtyLogTest t;
            try {
                t = new DirtyLogTest(m, iterations, interval, ringEntries, gpa >>> 12, DirtyLogTest.DEFAULT_PAGES, seed,
                        ctx.out);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(spec.commandLine(),
                        (m == DirtyLogTest.Mode.DIRTY_RING ? "-c: " : "") + e.getMessage());
            }
            violations += t.run();
            for (String v : t.violations()) {
                ctx.err.println("VIOLATION " + v);
            }
            if (t.violationCount() > t.violations().size()) {
                ctx.err.println("VIOLATION ... and " + (t.violationCount() - t.violations().size()) + " more");
            }
            ctx.out.flush();
        }
        return violations == 0 ? ExitCodes.OK : ExitCodes.VIOLATION;
    }

    private void check(boolean ok, String message) {
        if (!ok) {
            throw new CommandLine.ParameterException(spec.commandLine(), message);
        }
    }
}
