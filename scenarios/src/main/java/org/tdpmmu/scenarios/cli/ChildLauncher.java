package org.tdpmmu.scenarios.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Starts one run in a fresh JVM: {@code tdpmmu ARGS --result-file FILE}, the child writing its
 * results as JSON to FILE ({@link org.tdpmmu.scenarios.report.JsonReport#parse} reads them back).
 * Everything the child prints (its progress bar, an error line) is copied to the parent's stderr.
 * Tests replace the real launcher ({@link #JVM}) to run the protocol without a process.
 */
@FunctionalInterface
interface ChildLauncher {

    /**
     * Runs {@code tdpmmu args} to completion.
     *
     * @return the child's exit code
     */
    int launch(List<String> args, PrintStream err) throws IOException, InterruptedException;

    /**
     * A child {@code java} process with this JVM's own flags — {@code -ea}, the Agrona export,
     * whatever {@code TDPMMU_JAVA_OPTS} added, {@code -D} properties such as the engine's — and its
     * class path. A debugger agent is not passed on (its port is taken).
     */
    ChildLauncher JVM = (args, err) -> {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (!a.startsWith("-agentlib:jdwp") && !a.startsWith("-Xrunjdwp")) {
                cmd.add(a);
            }
        }
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(Main.class.getName());
        cmd.addAll(args);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.INHERIT)
                .start();
        try (InputStream in = p.getInputStream()) {
            byte[] buf = new byte[8192];
            for (int n; (n = in.read(buf)) >= 0; ) {
                err.write(buf, 0, n);
                err.flush();
            }
            return p.waitFor();
        } finally {
            p.destroy();
        }
    };
}
