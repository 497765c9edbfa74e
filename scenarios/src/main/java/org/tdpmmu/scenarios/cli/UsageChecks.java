package org.tdpmmu.scenarios.cli;

import java.util.function.Supplier;
import org.tdpmmu.scenarios.load.ScenarioLoader;
import picocli.CommandLine;

/**
 * The checks a kernel-test command ({@code perf}, {@code access}) makes of its option block before
 * anything is allocated. Each failure is picocli's usage error: the message, naming the flag and what it
 * allows, then the usage, exit 2 ({@link ExitCodes#BAD_INPUT}).
 */
final class UsageChecks {

    private final CommandLine commandLine;

    UsageChecks(CommandLine.Model.CommandSpec spec) {
        this.commandLine = spec.commandLine();
    }

    /** A usage error with {@code message} unless {@code ok}. */
    void check(boolean ok, String message) {
        if (!ok) {
            throw new CommandLine.ParameterException(commandLine, message);
        }
    }

    /** {@code -v}: the kernel tests' vCPU count, 1..{@link ScenarioLoader#MAX_VCPUS}. */
    void vcpus(int vcpus) {
        check(vcpus >= 1 && vcpus <= ScenarioLoader.MAX_VCPUS,
                "-v: " + vcpus + " is out of range 1.." + ScenarioLoader.MAX_VCPUS);
    }

    /** A usage error for a kernel-test flag the model has no counterpart of, when it was given. */
    void notModelled(boolean given, String flag, String what) {
        check(!given, flag + ": not modelled by tdpmmu: " + what);
    }

    /**
     * What the flags describe (the VM: its shape, its kernel switches); the builder's refusal (an
     * {@link IllegalArgumentException}: a size that does not fit, a backing the memory cannot be split
     * into) is a usage error naming {@code flags}.
     */
    <T> T built(String flags, Supplier<T> build) {
        try {
            return build.get();
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(commandLine, flags + ": " + e.getMessage());
        }
    }

    /** {@link #built} for a check that builds nothing: its refusal is a usage error naming {@code flags}. */
    void accepted(String flags, Runnable validate) {
        built(flags, () -> {
            validate.run();
            return null;
        });
    }
}
