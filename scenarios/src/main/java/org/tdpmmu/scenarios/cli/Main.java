package org.tdpmmu.scenarios.cli;

import java.io.PrintStream;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import org.tdpmmu.scenarios.engine.ScenarioEngine;
import org.tdpmmu.scenarios.model.ScenarioException;
import org.tdpmmu.scenarios.report.HtmlReport;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Spec;

/**
 * The {@code tdpmmu} command: {@code run}, {@code compare}, {@code perf}, {@code check}.
 * Exit codes: see {@link ExitCodes}. {@link #main} is the only place that calls
 * {@link System#exit}; tests call {@link #run(String[], PrintStream, PrintStream, ScenarioEngine)}.
 */
@Command(name = "tdpmmu", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "A simulator of the Linux KVM x86 TDP MMU: run dirty-logging scenarios and compare "
                + "huge-page recovery strategies.",
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {
            "0:the run completed and every safety property held",
            "1:safety violations (printed on stderr)",
            "2:bad command line or scenario file",
            "3:no scenario engine available",
            "4:the run could not complete: out of memory, a resource exhausted or a failure injected (one line), or the engine failed or an internal error (with the stack trace)"})
public final class Main implements Callable<Integer> {

    @Spec
    CommandLine.Model.CommandSpec spec;

    /** {@code tdpmmu --version}: the version and git commit the build recorded. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"tdpmmu " + org.tdpmmu.scenarios.report.Provenance.buildVersion()};
        }
    }

    private Main() {
    }

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err, null));
    }

    /**
     * Runs the command line {@code args}.
     *
     * @param engine the engine to run scenarios on, or null to find one through
     *               {@link org.tdpmmu.scenarios.engine.EngineProvider}
     * @return the exit code
     */
    public static int run(String[] args, PrintStream out, PrintStream err, ScenarioEngine engine) {
        return run(args, out, err, engine, null);
    }

    /** {@link #run(String[], PrintStream, PrintStream, ScenarioEngine)} with child JVMs started by {@code launcher}. */
    static int run(String[] args, PrintStream out, PrintStream err, ScenarioEngine engine, ChildLauncher launcher) {
        HtmlReport.headless();
        CliContext ctx = new CliContext(out, err, engine, System.console() != null, launcher);
        CommandLine cl = commandLine(ctx);
        PrintWriter outWriter = new PrintWriter(out, true);
        PrintWriter errWriter = new PrintWriter(err, true);
        cl.setOut(outWriter);
        cl.setErr(errWriter);
        try {
            return cl.execute(args);
        } catch (OutOfMemoryError e) {
            // picocli handles Exceptions only; an Error escaping main would exit 1, "violations"
            err.println(outOfMemory(e));
            return ExitCodes.ENGINE_FAILED;
        } catch (Error e) {
            err.println("tdpmmu: internal error: " + e);
            e.printStackTrace(err);
            return ExitCodes.ENGINE_FAILED;
        } finally {
            outWriter.flush();
            errWriter.flush();
            out.flush();
            err.flush();
        }
    }

    static CommandLine commandLine(CliContext ctx) {
        CommandLine cl = new CommandLine(new Main());
        cl.addSubcommand(new RunCommand(ctx));
        cl.addSubcommand(new CompareCommand(ctx));
        cl.addSubcommand(new PerfCommand(ctx));
        cl.addSubcommand(new CheckCommand(ctx));
        cl.addSubcommand(new KvmCheckCommand(ctx));
        cl.addSubcommand(new SweepCommand(ctx));
        cl.addSubcommand(new MergeCommand(ctx));
        cl.addSubcommand(new DirtyLogTestCommand(ctx));
        cl.addSubcommand(new MemslotStressCommand(ctx));
        cl.addSubcommand(new MemslotPerfCommand(ctx));
        cl.addSubcommand(new AccessCommand(ctx));
        cl.addSubcommand(new CommandLine.HelpCommand());
        Converters.registerNumbers(cl);
        cl.setParameterExceptionHandler(Main::usageError);
        cl.setExecutionExceptionHandler((ex, cmd, parseResult) -> failure(ex, ctx));
        return cl;
    }

    @Override
    public Integer call() {
        throw new CommandLine.ParameterException(spec.commandLine(),
                "missing a command: run, compare, perf, check or help");
    }

    /** One line, exit 2. */
    private static int usageError(CommandLine.ParameterException ex, String[] args) {
        CommandLine cmd = ex.getCommandLine();
        String name = cmd.getCommandSpec().qualifiedName();
        cmd.getErr().println(name + ": " + ex.getMessage() + " (see '" + name + " --help')");
        cmd.getErr().flush();
        return ExitCodes.BAD_INPUT;
    }

    /**
     * The one line for an OutOfMemoryError (exit 4): the run had been admitted by its memory
     * estimate, so the estimate fell short of what the JVM needed; no stack trace.
     */
    static String outOfMemory(OutOfMemoryError e) {
        String what = e.getMessage() == null ? "" : " (" + e.getMessage().lines().findFirst().orElse("") + ")";
        return "tdpmmu: out of memory" + what + ": this run needed more than its estimate; raise the limits with "
                + "TDPMMU_JAVA_OPTS='-Xmx... -XX:MaxDirectMemorySize=...' (see README) or use a smaller VM";
    }

    private static int failure(Exception ex, CliContext ctx) {
        if (ex instanceof ScenarioException se) {
            ctx.err.println(se.getMessage());
            return ExitCodes.BAD_INPUT;
        }
        if (ex instanceof CliException ce) {
            ctx.err.println(ce.getMessage());
            return ce.exitCode();
        }
        if (ex instanceof Runner.EngineFailure && ex.getCause() instanceof org.tdpmmu.core.ResourceExhaustedException) {
            // an orderly stop: the engine tore the VM down and checked it; one line, no trace (issue 14.8)
            ctx.err.println("tdpmmu: " + ex.getCause().getMessage());
            return ExitCodes.ENGINE_FAILED;
        }
        if (ex.getCause() instanceof OutOfMemoryError oom) {
            ctx.err.println(outOfMemory(oom));
            return ExitCodes.ENGINE_FAILED;
        }
        if (ex instanceof Runner.EngineFailure) {
            ctx.err.println("tdpmmu: " + ex.getMessage());
            ex.getCause().printStackTrace(ctx.err);
        } else {
            ctx.err.println("tdpmmu: internal error: " + ex);
            ex.printStackTrace(ctx.err);
        }
        return ExitCodes.ENGINE_FAILED;
    }
}
