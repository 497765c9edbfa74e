package org.tdpmmu.scenarios.cli;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.tdpmmu.scenarios.engine.ScenarioEngine;

/** Runs {@link Main#run} with captured stdout and stderr. */
final class CliHarness {

    record Outcome(int exitCode, String out, String err) {
    }

    private CliHarness() {
    }

    static Outcome run(ScenarioEngine engine, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code;
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
             PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
            code = Main.run(args, o, e, engine);
        }
        return new Outcome(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }
}
