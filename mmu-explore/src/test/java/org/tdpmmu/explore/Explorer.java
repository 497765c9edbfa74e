package org.tdpmmu.explore;

import static org.jetbrains.lincheck.datastructures.ManagedStrategyGuaranteeKt.forClasses;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

import org.jetbrains.kotlinx.lincheck.Actor;
import org.jetbrains.kotlinx.lincheck.LinChecker;
import org.jetbrains.kotlinx.lincheck.execution.ExecutionScenario;
import org.jetbrains.kotlinx.lincheck.execution.ExecutionResult;
import org.jetbrains.kotlinx.lincheck.strategy.LincheckFailure;
import org.jetbrains.kotlinx.lincheck.strategy.UnexpectedExceptionFailure;
import org.jetbrains.kotlinx.lincheck.util.ExceptionResult;
import org.jetbrains.kotlinx.lincheck.util.LincheckResult;
import org.jetbrains.lincheck.datastructures.ModelCheckingOptions;
import org.tdpmmu.core.SeededBug;
import org.tdpmmu.stress.StressVm;

/**
 * Runs Lincheck's model checker over one race: every schedule of the race's actor threads at the
 * granularity of the simulated-memory accessors, up to a bound of invocations.
 */
final class Explorer
{
    /** Schedules explored per race (Lincheck invocations); the surefire config sets the bounded default. */
    static final String INVOCATIONS = "explore.invocations";
    /**
     * JUnit tag of the exploring tests: plain {@code mvn verify} excludes it (surefire
     * excludedGroups = {@code ${explore.excludedGroups}}); scripts/explore.sh runs it.
     */
    static final String TAG = "explore";

    private Explorer()
    {
    }

    static int invocations()
    {
        return Integer.getInteger(INVOCATIONS, 40);
    }

    /** Explores {@code raceClass} with no seeded bug: every schedule must end ACCEPTABLE. */
    static void explore(final Class<?> raceClass)
    {
        explore(raceClass, invocations());
    }

    /**
     * As {@link #explore(Class)} with a bound of {@code invocations} schedules (a twin whose
     * schedules cost seconds each explores a share of the common bound).
     */
    static void explore(final Class<?> raceClass, final int invocations)
    {
        final AssertionError failure = run(raceClass, EnumSet.noneOf(SeededBug.class), Math.max(1, invocations));
        if (failure != null)
        {
            throw failure;
        }
    }

    /**
     * Explores {@code raceClass} with {@code bugs} seeded.
     *
     * @return the failure (Lincheck's interleaving, the MMU's trace of it and the rerun command), or
     *     null if every schedule within the bound ended ACCEPTABLE.
     */
    static AssertionError run(final Class<?> raceClass, final Set<SeededBug> bugs, final int invocations)
    {
        return run(raceClass, bugs, invocations, true);
    }

    /**
     * Formats the failure report of a seeded-bug catch (SeededBugsExploreTest); by default it names
     * the violation and prints the replay command instead, which formats it (ReplayTest).
     */
    static final String SEEDED_REPORTS = "explore.seededReports";

    /**
     * As {@link #run(Class, Set, int)}; with {@code formatted} false a failure is not formatted by
     * Lincheck (its trace tables cost more than the search that found it: most of a root race's
     * catch) and carries only what was violated and the replay command.
     */
    static AssertionError run(final Class<?> raceClass, final Set<SeededBug> bugs, final int invocations,
        final boolean formatted)
    {
        final Race race = Race.of(raceClass);
        RaceTwin.race = race;
        RaceTwin.built = 0;
        StressVm.overrideSeededBugs(bugs);
        MmuTrace.reset();
        final Cost cost = new Cost();
        boolean failed = true;
        try
        {
            if (formatted)
            {
                options(race, invocations).check(RaceTwin.class);
                failed = false;
                return null;
            }
            final LincheckFailure failure =
                new LinChecker(RaceTwin.class, options(race, invocations)).checkImpl$lincheck(f -> kotlin.Unit.INSTANCE);
            failed = failure != null;
            return failed ? new AssertionError(race.name() + " with seeded bugs " + bugs + ", " + invocations +
                " invocations: a schedule ended FORBIDDEN: " + violation(failure) + "\n" +
                "Lincheck's report and the MMU's trace of the schedule (not formatted here; -D" + SEEDED_REPORTS +
                "=true formats it): replay it with\n  " + rerunCommand(race, bugs, invocations) + "\n") : null;
        }
        catch (final AssertionError e)
        {
            final String report = race.name() + " with seeded bugs " + bugs + ", " + invocations +
                " invocations: a schedule ended FORBIDDEN\n" + MmuTrace.annotate(e.getMessage(), race) + "\n" +
                "rerun exactly this exploration (Lincheck's model checker is deterministic):\n  " +
                rerunCommand(race, bugs, invocations) + "\n";
            save(race, bugs, report);
            return new AssertionError(report, e);
        }
        finally
        {
            StressVm.overrideSeededBugs(null);
            RaceTwin.race = null;
            System.out.println("explore: " + race.name() + (bugs.isEmpty() ? "" : " " + bugs) + (failed ? " FORBIDDEN" : " ACCEPTABLE") +
                " after " + RaceTwin.built + " states (bound " + invocations + "): " + cost);
        }
    }

    /**
     * Wall clock and the whole JVM's CPU time since construction, with the load average: Lincheck
     * runs one thread of a race at a time, so on a loaded machine the CPU time is what an idle one
     * would take (EXPLORE.md quotes both).
     */
    static final class Cost
    {
        private final long wall = System.nanoTime();
        private final long cpu = cpuNanos();

        private static long cpuNanos()
        {
            final java.lang.management.OperatingSystemMXBean os = java.lang.management.ManagementFactory.getOperatingSystemMXBean();
            return os instanceof com.sun.management.OperatingSystemMXBean ?
                ((com.sun.management.OperatingSystemMXBean)os).getProcessCpuTime() : -1;
        }

        double wallSeconds()
        {
            return (System.nanoTime() - wall) / 1e9;
        }

        double cpuSeconds()
        {
            return cpu < 0 ? Double.NaN : (cpuNanos() - cpu) / 1e9;
        }

        @Override
        public String toString()
        {
            return String.format(java.util.Locale.ROOT, "%.1f s wall, %.1f s CPU, load %.1f", wallSeconds(), cpuSeconds(),
                java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
        }
    }

    /** What a failure violated (the first exception an actor or the arbiter threw), without Lincheck's formatting. */
    private static String violation(final LincheckFailure failure)
    {
        if (failure instanceof UnexpectedExceptionFailure)
        {
            return ((UnexpectedExceptionFailure)failure).getException().toString();
        }
        final ExecutionResult results = failure.getResults();
        if (results != null)
        {
            final List<LincheckResult> all = new ArrayList<>(results.getPostResults());
            results.getParallelResultsWithClock().forEach(t -> t.forEach(r -> all.add(r.getResult())));
            for (final LincheckResult r : all)
            {
                if (r instanceof ExceptionResult)
                {
                    final Throwable t = ((ExceptionResult)r).getThrowable();
                    return t instanceof Race.ForbiddenOutcome ? t.getMessage() : t.toString();
                }
            }
        }
        return failure.getClass().getSimpleName();
    }

    /** Lincheck's default {@code loopIterationsBeforeThreadSwitch}. */
    static final int DEFAULT_LOOPS_BEFORE_SWITCH = 10;
    /** Overrides every race's {@link LoopsBeforeSwitch} (an experiment; the rerun command repeats it). */
    static final String LOOP_SWITCH = "explore.loopSwitch";

    static int loopsBeforeSwitch(final Race race)
    {
        final LoopsBeforeSwitch declared = race.type().getAnnotation(LoopsBeforeSwitch.class);
        return Integer.getInteger(LOOP_SWITCH, declared != null ? declared.value() : DEFAULT_LOOPS_BEFORE_SWITCH);
    }

    /** The command that reruns one race's exploration with the same bound (same schedules, same failure). */
    static String rerunCommand(final Race race, final Set<SeededBug> bugs, final int invocations)
    {
        return "mvn -B -pl mmu-explore -am test -Dsurefire.failIfNoSpecifiedTests=false -Dtest=ReplayTest" +
            " -Dexplore.race=" + race.type().getName() + (bugs.isEmpty() ? "" : " -Dexplore.bugs=" +
            bugs.stream().map(Enum::name).collect(Collectors.joining(","))) + " -D" + INVOCATIONS + "=" + invocations +
            (System.getProperty(LOOP_SWITCH) == null ? "" : " -D" + LOOP_SWITCH + "=" + System.getProperty(LOOP_SWITCH));
    }

    /** Every failure report, whole: target/explore-failures/RACE[-BUGS].txt (the console gets a head). */
    static final Path FAILURES = Path.of("target", "explore-failures");

    private static void save(final Race race, final Set<SeededBug> bugs, final String report)
    {
        try
        {
            Files.createDirectories(FAILURES);
            final String name = race.name() + (bugs.isEmpty() ? "" : "-" +
                bugs.stream().map(Enum::name).collect(Collectors.joining("-")));
            Files.writeString(FAILURES.resolve(name + ".txt"), report);
        }
        catch (final IOException ex)
        {
            throw new UncheckedIOException(ex);
        }
    }

    static void constructed(final Object state)
    {
        MmuTrace.constructed(state);
    }

    static ModelCheckingOptions options(final Race race, final int invocations)
    {
        return new ModelCheckingOptions()
            .iterations(0)
            .invocationsPerIteration(invocations)
            .addCustomScenario(scenario(race))
            .minimizeFailedScenario(false)
            .verifier(ArbiterVerifier.class)
            .loopBound(Integer.getInteger("explore.loopBound", 4096))
            .loopIterationsBeforeThreadSwitch(loopsBeforeSwitch(race))
            // Lincheck's default of 30 s per schedule reported "the execution has hung" on a loaded
            // machine while its agent was still instrumenting classes: a spin or a deadlock is found
            // by its own analysis, this is only the backstop for a wall-clock stall.
            .invocationTimeout$lincheck(Long.getLong("explore.timeoutMs", 600_000L))
            // The one door to simulated memory: each accessor is one atomic step, a switch point
            // before it. Lincheck does not see off-heap accesses, and inside an accessor there is
            // nothing the model's own threads may interleave with (the hardware's atomic unit).
            .addGuarantee(forClasses("org.tdpmmu.core.PageTableStore").allMethods().treatAsAtomic())
            .addGuarantee(forClasses("org.tdpmmu.core.DirtyBitmap").allMethods().treatAsAtomic())
            .addGuarantee(forClasses("org.tdpmmu.core.HostMemory")
                .methods("back", "resolvePfn", "lvContent", "soContent", "contentOf", "isLive", "framesInUse",
                    "migrations", "framesMigrated", "offHeapBytes")
                .treatAsAtomic())
            // The requester's half of the request/entry pairing: Lincheck 3.7 puts no switch point
            // at a VarHandle getAndBitwiseOr, so without this a requester that reads the vCPU's
            // mode before setting the bit (the Dekker pair broken in program order) ran with no
            // schedule between its two steps. The read-modify-write is one hardware step anyway.
            .addGuarantee(forClasses("org.tdpmmu.concurrency.VcpuState").methods("orRequests").treatAsAtomic())
            // The same for mmu_lock's head writer setting WAITING (queued_write_lock_slowpath).
            .addGuarantee(forClasses("org.tdpmmu.concurrency.QueuedRwLock").methods("setWaiting").treatAsAtomic())
            // The dirty rings' shared pages (DirtyRing's entries, read and written by the vCPU and
            // the collector as words, as userspace does): one step per buffer access. Analysed
            // inside, Agrona's bounds-check flag (a static final of its superclass) made Lincheck
            // throw NoSuchFieldException in every ring race, which the ring bugs' twins had taken
            // for a catch. The other doors above reach their buffers inside their own atomic steps.
            .addGuarantee(forClasses("org.agrona.concurrent.UnsafeBuffer").allMethods().treatAsAtomic())
            // The arbiters' whole-VM checks and teardown run after every actor, alone: there is
            // nothing to interleave with them, and analysed step by step (a walk of every entry of
            // every table, handle_removed_pt's 512-entry loops) they were most of a schedule's cost
            // (two thirds of the samples of a memslot twin). Run unanalysed, they cost what they do
            // outside the checker; their steps no longer appear in a failure's trace.
            .addGuarantee(forClasses("org.tdpmmu.core.SafetyChecks", "org.tdpmmu.core.SafetyChecks$DeletedSlotCheck")
                .allMethods().ignore())
            .addGuarantee(forClasses("org.tdpmmu.stress.Probe").methods("leakedAfterDestroy", "rootsBroken").ignore())
            // Statistics only: no decision reads them.
            .addGuarantee(forClasses("java.util.concurrent.atomic.LongAdder").allMethods().ignore())
            // The jcstress meeting point only makes overlaps frequent under real scheduling; the
            // checker makes every overlap itself, so it runs unexplored (and gives up at once).
            .addGuarantee(forClasses("org.tdpmmu.stress.Rendezvous").allMethods().ignore());
    }

    private static ExecutionScenario scenario(final Race race)
    {
        final List<List<Actor>> threads = new ArrayList<>();
        for (int i = 0; i < race.actorCount(); i++)
        {
            threads.add(List.of(new Actor(method("actor" + i), List.of())));
        }
        return new ExecutionScenario(List.of(), threads, List.of(new Actor(method("arbiter"), List.of())), null);
    }

    private static Method method(final String name)
    {
        try
        {
            return RaceTwin.class.getMethod(name);
        }
        catch (final NoSuchMethodException ex)
        {
            throw new IllegalStateException(ex);
        }
    }
}
