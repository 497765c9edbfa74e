package org.tdpmmu.scenarios.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.tdpmmu.scenarios.engine.FakeEngine;
import org.tdpmmu.scenarios.model.AccessPattern;
import org.tdpmmu.scenarios.model.Backing;
import org.tdpmmu.scenarios.model.CostModel;
import org.tdpmmu.scenarios.model.DirtyLogMode;
import org.tdpmmu.scenarios.model.HarvestMethod;
import org.tdpmmu.scenarios.model.KernelSwitches;
import org.tdpmmu.scenarios.model.Phase;
import org.tdpmmu.scenarios.model.RecoveryStrategy;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.model.Step;
import org.tdpmmu.scenarios.model.VmConfig;
import picocli.CommandLine;

class PerfCommandTest {

    static Scenario parse(String... args) {
        PrintStream sink = new PrintStream(new ByteArrayOutputStream());
        PerfCommand cmd = new PerfCommand(new CliContext(sink, sink, new FakeEngine(), false));
        new CommandLine(cmd).parseArgs(args);
        return cmd.scenario();
    }

    /** The output without the provenance header (its lines start with "# "). */
    static List<String> withoutHeader(String out) {
        return out.lines().dropWhile(l -> l.startsWith("#")).toList();
    }

    @Test
    void defaultsAreTheKernelTests() {
        Scenario s = parse();
        assertEquals(VmConfig.uniform(1, 1L << 30, 1, Backing.ANONYMOUS, 4, VmConfig.DEFAULT_SLOT_BASE_GFN), s.vm());
        assertEquals(List.of(new Phase.Populate(),
                new Phase.EnableDirtyLogging(DirtyLogMode.WRPROT, false, true),
                new Phase.DirtyPass(2, 100, AccessPattern.SEQUENTIAL, 0, 1, HarvestMethod.CLEAR),
                new Phase.DisableDirtyLogging(RecoveryStrategy.PROMOTE_IN_PLACE, false),
                new Phase.SecondPass(100, AccessPattern.SEQUENTIAL, 0, 1),
                new Phase.Teardown()), s.phases());
        assertEquals(CostModel.defaults(), s.costModel());
        assertEquals(List.of(), s.host());
        assertEquals("perf", s.name());
        assertEquals(PerfCommand.SOURCE, s.source());
    }

    @Test
    void everyFlag() {
        Scenario s = parse("-v", "8", "-b", "64M", "-i", "3", "-w", "50", "-a", "-r", "7", "-x", "2",
                "-s", "anonymous_hugetlb_2mb", "-e", "-g", "--strategy", "zap_leafs", "--eager-split", "--dbit",
                "--root-level", "5");
        assertEquals(VmConfig.uniform(8, 64L << 20, 2, Backing.ANONYMOUS_HUGETLB_2MB, 5, VmConfig.DEFAULT_SLOT_BASE_GFN), s.vm());
        assertEquals(List.of(new Phase.Populate(),
                new Phase.EnableDirtyLogging(DirtyLogMode.DBIT, true, false),
                new Phase.DirtyPass(3, 50, AccessPattern.RANDOM, 0, 7, HarvestMethod.GET),
                new Phase.DisableDirtyLogging(RecoveryStrategy.ZAP_LEAFS, true),
                new Phase.SecondPass(50, AccessPattern.RANDOM, 0, 7),
                new Phase.Teardown()), s.phases());
        assertEquals(List.of("populate", "enable-dirty-logging", "dirty-pass-1", "get-dirty-log-1", "dirty-pass-2",
                "get-dirty-log-2", "dirty-pass-3", "get-dirty-log-3", "disable-dirty-logging", "second-pass", "teardown"),
                s.steps().stream().map(Step::name).toList());
        assertTrue(s.description().startsWith("dirty_log_perf_test -v 8 -b 64M"), s.description());
    }

    /** The fault-path era switches: off by default (the newest kernel's paths), each flag sets its switch only. */
    @Test
    void faultPathSwitches() {
        assertEquals(KernelSwitches.NEWEST, parse().vm().kernel());
        KernelSwitches zap = parse("--zap-huge-on-fault").vm().kernel();
        assertFalse(zap.splitHugeOnFault());
        assertFalse(zap.faultUnderWriteLock());
        KernelSwitches locked = parse("--fault-under-write-lock").vm().kernel();
        assertTrue(locked.splitHugeOnFault());
        assertTrue(locked.faultUnderWriteLock());
        assertEquals(KernelSwitches.NEWEST.release(), locked.release());
    }

    /** --dirty-ring: ring tracking of that size, the rings harvested each iteration; bad sizes and -g refused. */
    @Test
    void dirtyRing() {
        Scenario s = parse("-b", "4M", "--dirty-ring", "2048");
        assertEquals(new Phase.EnableDirtyLogging(DirtyLogMode.WRPROT, false, false,
                org.tdpmmu.scenarios.model.DirtyTracking.RING, 2048), s.phases().get(1));
        assertEquals(new Phase.DirtyPass(2, 100, AccessPattern.SEQUENTIAL, 0, 1, HarvestMethod.RING), s.phases().get(2));
        assertEquals(List.of("populate", "enable-dirty-logging", "dirty-pass-1", "collect-dirty-ring-1", "reset-dirty-rings-1",
                "dirty-pass-2", "collect-dirty-ring-2", "reset-dirty-rings-2", "disable-dirty-logging", "second-pass",
                "teardown"), s.steps().stream().map(Step::name).toList());
        CliHarness.Outcome o = CliHarness.run(new FakeEngine(), "perf", "-b", "4M", "--dirty-ring", "1000");
        assertEquals(ExitCodes.BAD_INPUT, o.exitCode());
        assertTrue(o.err().contains("--dirty-ring: dirty ring of 1000 entries: must be a power of two in 1024..65536"), o.err());
        o = CliHarness.run(new FakeEngine(), "perf", "-b", "4M", "--dirty-ring", "1024", "-g");
        assertEquals(ExitCodes.BAD_INPUT, o.exitCode());
        assertTrue(o.err().contains("-g: has no meaning with --dirty-ring"), o.err());
    }

    /** -p: the test memory's guest physical address, aligned down to the backing page as memstress does. */
    @Test
    void physicalOffset() {
        assertEquals(VmConfig.uniform(1, 4L << 20, 1, Backing.ANONYMOUS_HUGETLB_2MB, 4, 0x40000),
                parse("-b", "4M", "-s", "anonymous_hugetlb_2mb", "-p", "0x40123000").vm(), "aligned down to 2 MiB");
        assertEquals(0x40123, parse("-b", "4M", "-p", "0x40123000").vm().slots().get(0).baseGfn(), "4 KiB: as given");
        assertEquals(0x200000, parse("-b", "4M", "-p", "8G").vm().slots().get(0).baseGfn());
        assertEquals(0, parse("-b", "4M", "-p", "0").vm().slots().get(0).baseGfn());
        CliHarness.Outcome o = CliHarness.run(new FakeEngine(), "perf", "-b", "4M", "-p", "0x1000000000000");
        assertEquals(ExitCodes.BAD_INPUT, o.exitCode());
        assertTrue(o.err().contains("-p: 0x1000000000000 is outside the 48-bit guest physical space (0..0xffffffffffff)"),
                o.err());
        o = CliHarness.run(new FakeEngine(), "perf", "-v", "2", "-b", "4M", "-p", "0xfffffffff000");
        assertEquals(ExitCodes.BAD_INPUT, o.exitCode());
        assertTrue(o.err().contains("-v/-b/-p: 2 x 4M from guest physical 0xfffffffff000 does not fit in the 48-bit"),
                o.err());
        o = CliHarness.run(new FakeEngine(), "perf", "-b", "4M", "-p", "12Q");
        assertEquals(ExitCodes.BAD_INPUT, o.exitCode());
        assertTrue(o.err().contains("'12Q' is not a size"), o.err());
        assertEquals(ExitCodes.OK, CliHarness.run(new FakeEngine(), "perf", "-b", "4M", "-p", "0xffffffc00000",
                "--root-level", "4").exitCode(), "the last 4 MiB of the space fit");
    }

    /** -o: every vCPU on all of the test memory (memstress without partition_vcpu_memory_access). */
    @Test
    void overlappingVcpuMemory() {
        assertFalse(parse("-b", "4M").vm().overlapVcpuMemory());
        VmConfig vm = parse("-v", "4", "-b", "4M", "-o").vm();
        assertTrue(vm.overlapVcpuMemory());
        assertEquals(4 * 1024, vm.pagesPerVcpuPass(), "each vCPU goes over all 16 MiB");
        assertEquals(VmConfig.uniform(4, 4L << 20, 1, Backing.ANONYMOUS, 4, VmConfig.DEFAULT_SLOT_BASE_GFN)
                .withOverlapVcpuMemory(true), vm);
        CliHarness.Outcome o = CliHarness.run(new FakeEngine(), "perf", "-v", "2", "-b", "4M", "-o");
        assertEquals(ExitCodes.OK, o.exitCode(), o.err());
        assertEquals("tdpmmu perf: 2 vCPUs x 4M, anonymous, 1 memslot, 4-level root, vCPU memory overlapping",
                withoutHeader(o.out()).get(1), o.out());
    }

    @Test
    void sizeSuffixes() {
        assertEquals(3L << 30, parse("-b", "3G").vm().memoryPerVcpu());
        assertEquals(10L << 20, parse("-b", "10M").vm().memoryPerVcpu());
        assertEquals(8192, parse("-b", "8192").vm().memoryPerVcpu());
    }

    @Test
    void printsTheKernelTestsLines() {
        CliHarness.Outcome o = CliHarness.run(new FakeEngine(), "perf", "-v", "2", "-b", "4M", "-s", "anonymous_hugetlb_2mb");
        assertEquals(ExitCodes.OK, o.exitCode(), o.err());
        List<String> lines = withoutHeader(o.out());
        String t = "\\d+\\.\\d{9}s";
        assertEquals("Test iterations: 2", lines.get(0), "the kernel test's first line");
        assertEquals("tdpmmu perf: 2 vCPUs x 4M, anonymous_hugetlb_2mb, 1 memslot, 4-level root", lines.get(1));
        assertEquals("guest physical test memory: [0x100000000, 0x100800000)", lines.get(2), "the kernel test's line");
        lines = lines.subList(2, lines.size());
        assertTrue(lines.get(1).matches("Populate memory time: " + t), lines.get(1));
        assertTrue(lines.get(2).matches("Enabling dirty logging time: " + t), lines.get(2));
        assertEquals("", lines.get(3), "the kernel test prints a blank line after the enabling time");
        lines = new java.util.ArrayList<>(lines);
        lines.remove(3);
        assertTrue(lines.get(3).matches("Iteration 1 dirty memory time: " + t), lines.get(3));
        assertTrue(lines.get(4).matches("Iteration 1 get dirty log time: " + t), lines.get(4));
        assertTrue(lines.get(5).matches("Iteration 1 clear dirty log time: " + t), lines.get(5));
        assertTrue(lines.get(8).matches("Iteration 2 clear dirty log time: " + t), lines.get(8));
        assertTrue(lines.get(9).matches("Disabling dirty logging time: " + t), lines.get(9));
        assertTrue(lines.get(10).matches("Get dirty log over 2 iterations took " + t + "\\. \\(Avg " + t + "/iteration\\)"), lines.get(10));
        assertTrue(lines.get(11).matches("Clear dirty log over 2 iterations took " + t + "\\. \\(Avg " + t + "/iteration\\)"), lines.get(11));
        assertEquals("--- tdpmmu ---", lines.get(12));
        assertTrue(o.out().contains("Faults after disabling dirty logging: 0\n"), o.out());
        assertTrue(o.out().contains("TLB flushes at disable: 1 requests, 2 vCPU interruptions\n"), o.out());
        assertTrue(o.out().contains("Safety: OK"), o.out());
    }

    @Test
    void withoutManualProtectThereAreNoClearLines() {
        CliHarness.Outcome o = CliHarness.run(new FakeEngine(), "perf", "-b", "4M", "-g", "-i", "3");
        assertEquals(ExitCodes.OK, o.exitCode(), o.err());
        String out = String.join("\n", withoutHeader(o.out()));
        assertFalse(out.contains("clear dirty log"), out);
        assertFalse(out.contains("Clear dirty log"), out);
        assertTrue(out.contains("Get dirty log over 3 iterations took"), out);
    }

    @Test
    void perfJson() throws Exception {
        CliHarness.Outcome o = CliHarness.run(new FakeEngine(), "perf", "-b", "4M", "--json");
        assertEquals(ExitCodes.OK, o.exitCode(), o.err());
        assertEquals("perf -b 4M", new com.fasterxml.jackson.databind.ObjectMapper().readTree(o.out())
                .get("runs").get(0).get("scenario").asText());
    }

    /** dirty_log_perf_test asserts p.iterations >= 2 before running; so does perf, with exit 2. */
    @Test
    void fewerThanTwoIterationsAreRefusedAsByTheKernelTest() {
        for (String i : List.of("1", "0")) {
            CliHarness.Outcome o = CliHarness.run(new FakeEngine(), "perf", "-b", "4M", "-i", i);
            assertEquals(ExitCodes.BAD_INPUT, o.exitCode(), o.err());
            assertEquals("tdpmmu perf: -i: " + i + " is out of range 2..100000 (the kernel test, too, refuses fewer "
                    + "than two iterations) (see 'tdpmmu perf --help')\n", o.err());
            assertEquals("", o.out());
        }
        assertEquals(ExitCodes.OK, CliHarness.run(new FakeEngine(), "perf", "-b", "4M", "-i", "2").exitCode());
    }

    /** The kernel test's -m, -n and -c are known flags that tdpmmu does not model: exit 2, saying so. */
    @Test
    void guestModeNestedAndPinningAreNotModelled() {
        for (List<String> flag : List.of(List.of("-m", "3"), List.of("-n"), List.of("-c", "0,1"))) {
            List<String> args = new java.util.ArrayList<>(List.of("perf", "-b", "4M"));
            args.addAll(flag);
            FakeEngine engine = new FakeEngine();
            CliHarness.Outcome o = CliHarness.run(engine, args.toArray(new String[0]));
            assertEquals(ExitCodes.BAD_INPUT, o.exitCode(), o.err());
            assertTrue(o.err().startsWith("tdpmmu perf: " + flag.get(0) + ": not modelled by tdpmmu: "), o.err());
            assertEquals(1, o.err().lines().count(), o.err());
            assertFalse(o.err().contains("Unknown option"), o.err());
            assertEquals(0, engine.runs().size());
        }
    }

    @Test
    void aPerfRunIsNamedAfterItsFlags() {
        assertEquals("perf -v 8 -b 256M -s anonymous_hugetlb_2mb",
                parse("-v", "8", "-b", "256M", "-s", "anonymous_hugetlb_2mb").name());
        assertEquals("perf", parse().name());
        CliHarness.Outcome o = CliHarness.run(new FakeEngine(), "perf", "-v", "2", "-b", "4M", "--repeat", "1");
        assertTrue(o.out().startsWith("# scenario: perf -v 2 -b 4M — dirty_log_perf_test -v 2 -b 4M (<perf flags>)\n"),
                o.out());
        assertTrue(o.out().contains("# command: tdpmmu perf -v 2 -b 4M --repeat 1\n"), o.out());
    }

    @Test
    void progressShowsTheStepCountAndAnEta() {
        assertEquals(3_000_000_000L, ConsoleProgress.eta(1_000_000_000L, 25, 100), "a quarter done in 1 s: 3 s to go");
        assertEquals(0, ConsoleProgress.eta(1_000_000_000L, 0, 100), "no rate yet");
        assertEquals(0, ConsoleProgress.eta(1_000_000_000L, 100, 100));
        FakeEngine fake = new FakeEngine();
        org.tdpmmu.scenarios.engine.ScenarioEngine slow = (sc, p) -> {
            p.phaseStarted("populate", 10);
            p.phaseEnded();
            p.phaseStarted("enable-dirty-logging", 4);
            p.advanced(1);
            Thread.sleep(1_400);
            p.phaseEnded();
            return fake.run(sc, org.tdpmmu.scenarios.engine.ProgressListener.NONE);
        };
        CliHarness.Outcome o = CliHarness.run(slow, "perf", "-b", "4M", "--progress");
        assertEquals(ExitCodes.OK, o.exitCode(), o.err());
        assertTrue(o.err().contains("\rstep 2/11 enable-dirty-logging [#######                       ]  25%"), o.err());
        assertTrue(o.err().matches("(?s).*25%  1\\.\\d s, ETA \\d\\.\\d s.*"), o.err());
        assertFalse(o.out().contains("\r"), "never on stdout");
    }
}
