package org.tdpmmu.scenarios.cli;

import java.util.concurrent.Callable;
import org.tdpmmu.scenarios.sim.MemslotTests;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code tdpmmu memslot-modification-stress-test}: the kernel's memslot_modification_stress_test
 * (6.12) on the model, with its flags ({@code -d -q -b -v -o -i}; {@code -m} refused) and its lines.
 */
@Command(name = "memslot-modification-stress-test", mixinStandardHelpOptions = true,
        description = "The kernel's memslot_modification_stress_test on the model: vCPUs write their memory over "
                + "and over while the host creates and deletes a one-page memslot next to it; then every safety "
                + "check (nothing maps the deleted slot, no stale translation, no leak). Exit 1 on any violation.")
final class MemslotStressCommand implements Callable<Integer> {

    /** The most test memory a run may hold (vCPUs x -b): 16 GiB, about 100 MB of simulator memory. */
    static final long MAX_BYTES = 16L << 30;

    private final CliContext ctx;

    @Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "-d", paramLabel = "USEC", defaultValue = "0",
            description = "Delay between each iteration of adding and deleting the memslot, in us (default: ${DEFAULT-VALUE}).")
    long delay;

    @Option(names = "-q", description = "Disable the memslot zap quirk (KVM_X86_QUIRK_SLOT_ZAP_ALL): a delete zaps "
            + "only its slot's range.")
    boolean disableQuirk;

    @Option(names = "-b", paramLabel = "BYTES", defaultValue = "1G", converter = Converters.Size.class,
            description = "Memory accessed by each vCPU (default: ${DEFAULT-VALUE}).")
    long bytes;

    @Option(names = "-v", paramLabel = "VCPUS", defaultValue = "1", description = "vCPUs (default: ${DEFAULT-VALUE}).")
    int vcpus;

    @Option(names = "-o", description = "Overlap guest memory accesses instead of partitioning them per vCPU.")
    boolean overlap;

    @Option(names = "-i", paramLabel = "N", defaultValue = "10",
            description = "Iterations of adding and removing the memslot (default: ${DEFAULT-VALUE}).")
    long iterations;

    @Option(names = "-m", paramLabel = "MODE", description = "The kernel test's guest mode: not modelled, refused.")
    String guestMode;

    MemslotStressCommand(CliContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public Integer call() throws Exception {
        check(guestMode == null, "-m: not modelled by tdpmmu: guest modes (the TDP depth is fixed at 4 levels here)");
        check(delay >= 0, "-d: delay must be non-negative (" + delay + ")");
        check(vcpus >= 1 && vcpus <= 512, "-v: " + vcpus + " is out of range 1..512");
        check(iterations >= 1, "-i: iterations must be positive (" + iterations + ")");
        check(bytes >= 4096 && bytes % 4096 == 0, "-b: " + bytes + " is not a positive multiple of 4 KiB");
        long total = overlap ? bytes : bytes * vcpus;
        check(total / vcpus == (overlap ? bytes / vcpus : bytes) && total <= MAX_BYTES,
                "-v x -b: " + total + " bytes of test memory, more than this command's limit of 16 GiB");
        MemslotTests.Result r = MemslotTests.modificationStress(vcpus, bytes, iterations, delay, disableQuirk, overlap,
                ctx.out);
        ctx.out.println("--- tdpmmu ---");
        r.summary().forEach(ctx.out::println);
        ctx.out.flush();
        for (String v : r.violations()) {
            ctx.err.println("VIOLATION " + v);
        }
        return r.violations().isEmpty() ? ExitCodes.OK : ExitCodes.VIOLATION;
    }

    private void check(boolean ok, String message) {
        if (!ok) {
            throw new CommandLine.ParameterException(spec.commandLine(), message);
        }
    }
}
