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
    private ScenarioEngine engine;

    CliContext(PrintStream out, PrintStream err, ScenarioEngine engine, boolean interactive) {
        this.out = Objects.requireNonNull(out);
        this.err = Objects.requireNonNull(err);
        this.engine = engine;
        this.interactive = interactive;
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
