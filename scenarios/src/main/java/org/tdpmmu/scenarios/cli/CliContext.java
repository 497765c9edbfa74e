package org.tdpmmu.scenarios.cli;

import java.io.PrintStream;
import java.util.Objects;
import org.tdpmmu.scenarios.engine.EngineProvider;
import org.tdpmmu.scenarios.engine.ScenarioEngine;

/**
 * What the commands share: the output streams, the engine (given, or found through
 * {@link EngineProvider} on first use) and whether stderr is interactive.
 */
final class CliContext {

    final PrintStream out;
    final PrintStream err;
    final boolean interactive;
    private final boolean engineGiven;
    private final ChildLauncher childLauncher;
    private ScenarioEngine engine;

    CliContext(PrintStream out, PrintStream err, ScenarioEngine engine, boolean interactive) {
        this(out, err, engine, interactive, null);
    }

    /**
     * @param childLauncher starts child JVMs; null for the real one ({@link ChildLauncher#JVM}). A
     *                      given launcher also lets a given engine's runs fork (tests of the protocol).
     */
    CliContext(PrintStream out, PrintStream err, ScenarioEngine engine, boolean interactive,
               ChildLauncher childLauncher) {
        this.out = Objects.requireNonNull(out);
        this.err = Objects.requireNonNull(err);
        this.engine = engine;
        this.engineGiven = engine != null && childLauncher == null;
        this.interactive = interactive;
        this.childLauncher = childLauncher == null ? ChildLauncher.JVM : childLauncher;
    }

    /** Whether runs may go to child JVMs: the engine is found there as here (not an object given to us). */
    boolean canFork() {
        return !engineGiven && !EngineProvider.hasRegistered();
    }

    ChildLauncher childLauncher() {
        return childLauncher;
    }

    /** The engine; a {@link CliException} with exit code 3 when there is none. */
    ScenarioEngine engine() {
        if (engine == null) {
            try {
                engine = EngineProvider.find().orElse(null);
            } catch (IllegalStateException e) {
                throw new CliException(ExitCodes.NO_ENGINE, e.getMessage());
            }
            if (engine == null) {
                throw new CliException(ExitCodes.NO_ENGINE, "no scenario engine available");
            }
        }
        return engine;
    }
}
