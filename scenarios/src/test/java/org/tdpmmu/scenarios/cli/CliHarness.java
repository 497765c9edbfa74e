package org.tdpmmu.scenarios.cli;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.tdpmmu.scenarios.engine.ScenarioEngine;

/** Runs {@link Main#run} with captured stdout and stderr. */
final class CliHarness {

    record Outcome(int exitCode, String out, String err) {
    }

    private CliHarness() {
    }

    static Outcome run(ScenarioEngine engine, String... args) {
        return run(engine, null, args);
    }

    /** {@link #run} with child JVMs started by {@code launcher}. */
    static Outcome run(ScenarioEngine engine, ChildLauncher launcher, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code;
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
             PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
            code = Main.run(args, o, e, engine, launcher);
        }
        return new Outcome(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /** A launcher that runs the child's command line in this JVM on {@code engine}, recording it. */
    static ChildLauncher inThisJvm(ScenarioEngine engine, List<List<String>> launched) {
        return (args, err) -> {
            launched.add(List.copyOf(args));
            PrintStream childOut = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
            int code = Main.run(args.toArray(new String[0]), childOut, err, engine, null);
            childOut.flush();
            return code;
        };
    }
}
