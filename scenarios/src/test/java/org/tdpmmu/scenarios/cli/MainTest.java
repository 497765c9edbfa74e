package org.tdpmmu.scenarios.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tdpmmu.scenarios.engine.EngineProvider;
import org.tdpmmu.scenarios.engine.FakeEngine;
import org.tdpmmu.scenarios.engine.Violation;
import org.tdpmmu.scenarios.model.RecoveryStrategy;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.support.Shipped;

class MainTest {

    private static final String SMALL = Shipped.path("small-default.yaml").toString();

    @AfterEach
    void forgetEngine() {
        EngineProvider.clear();
    }

    private static void assertOneCleanLine(String err) {
        assertEquals(1, err.lines().count(), () -> "one line on stderr: " + err);
        assertFalse(err.contains("Exception"), err);
        assertFalse(err.contains("\tat "), err);
    }

    @Test
    void runPrintsATableAndExitsZero() {
        FakeEngine engine = new FakeEngine();
        CliHarness.Outcome o = CliHarness.run(engine, "run", SMALL);
        assertEquals(ExitCodes.OK, o.exitCode(), o.err());
        assertTrue(o.out().startsWith("# scenario: small-default"), o.out());
        assertTrue(o.out().contains("\nscenario small-default (strategy promote_in_place)\n"), o.out());
        assertTrue(o.out().contains("clear-dirty-log-2"), o.out());
        assertTrue(o.out().contains("faults after disabling dirty logging: 0"), o.out());
        assertTrue(o.out().contains("result: OK, no safety violations"), o.out());
        assertEquals("", o.err());
        assertEquals(1, engine.runs().size());
    }

    @Test
    void strategyOptionOverridesTheFile() {
        FakeEngine engine = new FakeEngine();
        CliHarness.Outcome o = CliHarness.run(engine, "run", SMALL, "--strategy", "zap_leafs");
        assertEquals(ExitCodes.OK, o.exitCode(), o.err());
        assertEquals(RecoveryStrategy.ZAP_LEAFS, engine.runs().get(0).strategy().orElseThrow());
    }

    @Test
    void violationsExitOneAndArePrinted() {
        FakeEngine engine = FakeEngine.withViolations(new Violation(Violation.NO_LOST_WRITE, "gfn 0x100003 lost 42"),
                new Violation(Violation.NO_LEAK, "3 tables"));
        CliHarness.Outcome o = CliHarness.run(engine, "run", SMALL);
        assertEquals(ExitCodes.VIOLATION, o.exitCode());
        assertEquals(List.of("VIOLATION no-lost-write: gfn 0x100003 lost 42", "VIOLATION no-leak: 3 tables"),
                o.err().lines().toList());
        assertTrue(o.out().contains("result: 2 safety violations"), o.out());
    }

    @Test
    void badScenarioFileExitsTwoWithTheLoaderMessage(@TempDir Path dir) throws Exception {
        Path bad = dir.resolve("small.yaml");
        Files.writeString(bad, "vm:\n  vcpus: 0\n  memoryPerVcpu: 4K\nphases: [populate]\n");
        CliHarness.Outcome o = CliHarness.run(new FakeEngine(), "run", bad.toString());
        assertEquals(ExitCodes.BAD_INPUT, o.exitCode());
        assertEquals(bad + ":2: vm.vcpus: 0 is out of range 1..512\n", o.err());
        assertEquals("", o.out());
        o = CliHarness.run(new FakeEngine(), "compare", dir.resolve("missing.yaml").toString());
        assertEquals(ExitCodes.BAD_INPUT, o.exitCode());
        assertEquals(dir.resolve("missing.yaml") + ": no such file\n", o.err());
    }

    @Test
    void badCommandLinesExitTwoWithOneLine() {
        String[][] cases = {
            {"run", SMALL, "--bogus"},
            {"run"},
            {"run", SMALL, "--strategy", "zap"},
            {"run", SMALL, "--json", "--csv"},
            {"perf", "-v", "0"},
            {"perf", "-v", "many"},
            {"perf", "-b", "12X"},
            {"perf", "-b", "5000"},
            {"perf", "-w", "101"},
            {"perf", "-s", "hugetlb"},
            {"perf", "-x", "3", "-b", "4M", "-s", "anonymous_hugetlb_2mb"},
            {"perf", "--root-level", "3"},
            {"frobnicate"},
            {},
            {"run", SMALL, "--kernel", "6.7"},
            {"compare", SMALL, "--kernels", "6.1,6.1"},
        };
        for (String[] args : cases) {
            CliHarness.Outcome o = CliHarness.run(new FakeEngine(), args);
            assertEquals(ExitCodes.BAD_INPUT, o.exitCode(), () -> String.join(" ", args) + " -> " + o.err());
            assertOneCleanLine(o.err());
        }
        assertEquals("tdpmmu run: Invalid value for option '--strategy': 'zap' is not one of zap_leafs, zap_huge, "
                + "promote_in_place (see 'tdpmmu run --help')\n",
                CliHarness.run(new FakeEngine(), "run", SMALL, "--strategy", "zap").err());
        assertEquals("tdpmmu perf: -v: 0 is out of range 1..512 (see 'tdpmmu perf --help')\n",
                CliHarness.run(new FakeEngine(), "perf", "-v", "0").err());
        assertTrue(CliHarness.run(new FakeEngine(), "perf", "-s", "hugetlb").err().contains(
                "'hugetlb' is not one of anonymous, anonymous_thp, anonymous_hugetlb_2mb, anonymous_hugetlb_1gb"));
        assertEquals("tdpmmu run: --kernel: unknown kernel release \"6.7\"; known: 5.15, 6.1, 6.6, 6.12, 6.18 "
                + "(see 'tdpmmu run --help')\n", CliHarness.run(new FakeEngine(), "run", SMALL, "--kernel", "6.7").err());
    }

    /** --kernel sets vm.kernel: the run gets that release's switches and, without a strategy in the file, its recovery. */
    @Test
    void runKernelAppliesThePreset() {
        FakeEngine engine = new FakeEngine();
        CliHarness.Outcome o = CliHarness.run(engine, "run", SMALL, "--kernel", "5.15", "--repeat", "1");
        assertEquals(ExitCodes.OK, o.exitCode(), o.err());
        assertEquals(new org.tdpmmu.scenarios.model.KernelSwitches("5.15", false, false, false, false, false, false),
                engine.runs().get(0).vm().kernel());
        assertTrue(o.out().contains("kernel: {release: 5.15"), "the resolved configuration names it");
    }

    @Test
    void noEngineExitsThree() {
        ClassLoader saved = Thread.currentThread().getContextClassLoader();
        Thread.currentThread().setContextClassLoader(new URLClassLoader(new URL[0], null));
        try {
            CliHarness.Outcome o = CliHarness.run(null, "run", SMALL);
            assertEquals(ExitCodes.NO_ENGINE, o.exitCode());
            assertEquals("no scenario engine available\n", o.err());
        } finally {
            Thread.currentThread().setContextClassLoader(saved);
        }
    }

    @Test
    void registeredEngineIsUsed() {
        FakeEngine engine = new FakeEngine();
        EngineProvider.register(() -> engine);
        CliHarness.Outcome o = CliHarness.run(null, "run", SMALL);
        assertEquals(ExitCodes.OK, o.exitCode(), o.err());
        assertEquals(1, engine.runs().size());
    }

    @Test
    void engineFailureExitsFour() {
        CliHarness.Outcome o = CliHarness.run(FakeEngine.failing(new IllegalStateException("store exhausted")), "run", SMALL);
        assertEquals(ExitCodes.ENGINE_FAILED, o.exitCode());
        assertTrue(o.err().startsWith("tdpmmu: the FakeEngine engine failed: java.lang.IllegalStateException: store exhausted"), o.err());
    }

    @Test
    void engineErrorExitsFourToo() {
        org.tdpmmu.scenarios.engine.ScenarioEngine broken = (s, p) -> {
            throw new NoClassDefFoundError("org/tdpmmu/core/Vm");
        };
        CliHarness.Outcome o = CliHarness.run(broken, "run", SMALL);
        assertEquals(ExitCodes.ENGINE_FAILED, o.exitCode());
        String first = o.err().lines().findFirst().orElseThrow();
        assertTrue(first.startsWith("tdpmmu: the ") && first.endsWith(" engine failed: java.lang.NoClassDefFoundError: org/tdpmmu/core/Vm"), first);
    }

    @Test
    void unwritableReportDirIsBadInput(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("plain-file");
        Files.writeString(file, "x");
        FakeEngine engine = new FakeEngine();
        CliHarness.Outcome o = CliHarness.run(engine, "run", SMALL, "--report", file.resolve("sub").toString());
        assertEquals(ExitCodes.BAD_INPUT, o.exitCode(), o.err());
        // refused before the run, not after it
        assertEquals("--report " + file.resolve("sub") + ": cannot write there (" + file.resolve("sub") + ": Not a directory)\n", o.err());
        assertEquals(List.of(), engine.runs());
        assertEquals("", o.out());
        o = CliHarness.run(engine, "perf", "-b", "4M", "--report", file.toString());
        assertEquals(ExitCodes.BAD_INPUT, o.exitCode(), o.err());
        assertEquals("--report " + file + ": exists and is not a directory\n", o.err());
        assertEquals("", o.out(), "perf prints its header only once the run is admitted");
        assertEquals(List.of(), engine.runs());
    }

    // ------------------------------------------------------------------ memory estimate (issue 14, point 3)

    private static Path write(Path dir, String name, String yaml) throws Exception {
        Path f = dir.resolve(name);
        Files.writeString(f, yaml);
        return f;
    }

    @Test
    void checkPrintsTheEstimateAndRefusesWhatRunCannotHold(@TempDir Path dir) throws Exception {
        // 64 TiB on 1 GiB pages: once "capacity < 0" from the dirty bitmap, now refused from its estimate
        Path huge = write(dir, "huge.yaml", "vm: { vcpus: 1, memoryPerVcpu: 64T, memslots: 16, backing: anonymous_hugetlb_1gb }\n"
                + "phases: [populate]\n");
        CliHarness.Outcome o = CliHarness.run(null, "check", huge.toString());
        assertEquals(ExitCodes.BAD_INPUT, o.exitCode(), o.err());
        assertTrue(o.out().contains("  memory estimate: direct 388.6 GiB (page tables 256.5 GiB, host frames 130.1 GiB"), o.out());
        assertTrue(o.out().contains(": does NOT fit"), o.out());
        assertOneCleanLine(o.err());
        assertTrue(o.err().startsWith("tdpmmu: " + huge + ": scenario huge needs about 388.6 GiB of direct memory"), o.err());
        for (String cmd : new String[] {"run", "compare"}) {
            FakeEngine engine = new FakeEngine();
            o = CliHarness.run(engine, cmd, huge.toString());
            if (cmd.equals("compare")) {
                assertEquals(ExitCodes.BAD_INPUT, o.exitCode(), o.err());
                continue; // no disable phase: refused for that first
            }
            assertEquals(ExitCodes.BAD_INPUT, o.exitCode(), o.err());
            assertOneCleanLine(o.err());
            assertTrue(o.err().contains("needs about 388.6 GiB of direct memory"), o.err());
            assertEquals(List.of(), engine.runs(), "refused before the engine allocates anything");
        }
        o = CliHarness.run(null, "check", SMALL);
        assertEquals(ExitCodes.OK, o.exitCode(), o.err());
        assertTrue(o.out().contains("  memory estimate: direct 6.1 MiB (page tables 5.6 MiB, host frames 532.3 KiB, "
                + "dirty bitmaps 8.1 KiB), heap "), o.out());
        assertTrue(o.out().contains("  work: 262 k guest accesses, 459 k SPTE visits, 11 steps\n"), o.out());
    }

    @Test
    void perfRefusesWhatKvmOrTheJvmCannotHold() {
        FakeEngine engine = new FakeEngine();
        // one slot of 64 TiB: more than KVM_MEM_MAX_NR_PAGES (the dirty bitmap overflowed an int here)
        CliHarness.Outcome o = CliHarness.run(engine, "perf", "-v", "1", "-b", "64T", "-s", "anonymous_hugetlb_1gb");
        assertEquals(ExitCodes.BAD_INPUT, o.exitCode(), o.err());
        assertOneCleanLine(o.err());
        assertTrue(o.err().contains("the slot would hold 64 TiB, more than KVM allows in one memslot "
                + "(KVM_MEM_MAX_NR_PAGES: 2^31 - 1 pages, 8 TiB - 4 KiB); use at least 9 slots"), o.err());
        // 16 TiB in slots KVM allows: once a direct-buffer OutOfMemoryError after 36 s
        o = CliHarness.run(engine, "perf", "-v", "1", "-b", "16T", "-x", "4");
        assertEquals(ExitCodes.BAD_INPUT, o.exitCode(), o.err());
        assertOneCleanLine(o.err());
        assertTrue(o.err().startsWith("tdpmmu: scenario perf -v 1 -b 16T -x 4 needs about "), o.err());
        assertEquals("", o.out(), "nothing printed before the refusal");
        assertEquals(List.of(), engine.runs());
        o = CliHarness.run(engine, "perf", "-b", "99999999999999999999T");
        assertEquals(ExitCodes.BAD_INPUT, o.exitCode(), o.err());
        assertTrue(o.err().contains("'99999999999999999999T' is too large"), o.err());
    }

    @Test
    void manyIterationsAreRefusedForTheirResults(@TempDir Path dir) throws Exception {
        // iterations: 100000 once died of heap exhaustion writing --json
        Path f = write(dir, "many.yaml", "vm: { vcpus: 1, memoryPerVcpu: 4K }\nphases:\n  - populate\n"
                + "  - enableDirtyLogging\n  - dirtyPass: { iterations: 100000 }\n");
        long needs = org.tdpmmu.scenarios.sim.MemoryEstimate.of(org.tdpmmu.scenarios.load.ScenarioLoader.load(f), 1,
                org.tdpmmu.scenarios.sim.MemoryEstimate.Output.JSON, false).heapBytes();
        org.junit.jupiter.api.Assumptions.assumeTrue(Runtime.getRuntime().maxMemory() < needs,
                "this JVM's heap could hold 300,000 step results and their JSON");
        FakeEngine engine = new FakeEngine();
        CliHarness.Outcome o = CliHarness.run(engine, "run", f.toString(), "--json");
        assertEquals(ExitCodes.BAD_INPUT, o.exitCode(), o.err());
        assertOneCleanLine(o.err());
        assertTrue(o.err().matches("tdpmmu: .*many.yaml: scenario many needs about [0-9.]+ GiB of heap \\(VM [0-9.]+ KiB, "
                + "300 k step results [0-9.]+ GiB\\) but this JVM allows .*\n"), o.err());
        assertEquals(List.of(), engine.runs());
    }

    @Test
    void aLongRunIsAnnouncedNotRefused(@TempDir Path dir) throws Exception {
        // 512 vCPUs each over all 32 GiB: 4.3 G accesses per pass, in little memory
        Path f = write(dir, "long.yaml", "vm: { vcpus: 512, memoryPerVcpu: 64M, overlapVcpuMemory: true }\n"
                + "phases: [populate]\n");
        FakeEngine engine = new FakeEngine();
        CliHarness.Outcome o = CliHarness.run(engine, "run", f.toString());
        assertEquals(ExitCodes.OK, o.exitCode(), o.err());
        assertEquals(List.of("tdpmmu: " + f + ": note: scenario long is long: 4.3 G guest accesses, 0 SPTE visits, 1 steps; "
                + "at a few million per second per core this takes minutes or more (--progress shows each step)"),
                o.err().lines().toList());
        assertEquals(1, engine.runs().size());
    }

    @Test
    void overflowingOptionNumbersAreTooLarge() {
        String[][] cases = {
            {"-v", "99999999999", "'99999999999' is too large (an int holds -2147483648..2147483647)"},
            {"-i", "-99999999999999999999", "'-99999999999999999999' is too small (an int holds"},
            {"-r", "99999999999999999999", "'99999999999999999999' is too large (a long holds"},
            {"-v", "abc", "'abc' is not an int"},
        };
        for (String[] c : cases) {
            CliHarness.Outcome o = CliHarness.run(new FakeEngine(), "perf", c[0], c[1]);
            assertEquals(ExitCodes.BAD_INPUT, o.exitCode(), o.err());
            assertOneCleanLine(o.err());
            assertTrue(o.err().contains("Invalid value for option '" + c[0] + "': " + c[2]), o.err());
        }
        assertEquals(ExitCodes.OK, CliHarness.run(new FakeEngine(), "perf", "-v", "0x10", "-b", "4K").exitCode());
    }

    @Test
    void outOfMemoryExitsFourWithOneLine() {
        org.tdpmmu.scenarios.engine.ScenarioEngine starved = (s, p) -> {
            throw new OutOfMemoryError("Cannot reserve 33554432 bytes of direct buffer memory (allocated: 6442450944, "
                    + "limit: 6442450944)");
        };
        CliHarness.Outcome o = CliHarness.run(starved, "run", SMALL);
        assertEquals(ExitCodes.ENGINE_FAILED, o.exitCode(), "never 1: that means safety violations");
        assertOneCleanLine(o.err());
        assertEquals("tdpmmu: out of memory (Cannot reserve 33554432 bytes of direct buffer memory (allocated: "
                + "6442450944, limit: 6442450944)): this run needed more than its estimate; raise the limits with "
                + "TDPMMU_JAVA_OPTS='-Xmx... -XX:MaxDirectMemorySize=...' (see README) or use a smaller VM\n", o.err());
    }

    // ------------------------------------------------------------------ bad files (issue 14, point 4)

    @Test
    void badFilesExitTwoWithOneLine(@TempDir Path dir) throws Exception {
        Path alias = write(dir, "alias.yaml", "name: *d\nvm: { vcpus: 1, memoryPerVcpu: 4K }\nphases: [populate]\n");
        Path binary = dir.resolve("binary.yaml");
        Files.write(binary, new byte[] {'n', 'a', 'm', 'e', ':', ' ', (byte) 0xc3, (byte) 0x28, '\n'});
        Path base = write(dir, "base.yaml", "vm: { vcpus: 1, memoryPerVcpu: 64M, slotBaseGfn: 0xfffffff00 }\nphases: [populate]\n");
        Path big = write(dir, "big.yaml", "vm: { vcpus: 1, memoryPerVcpu: 99999999999999999999999T }\nphases: [populate]\n");
        String[][] cases = {
            {alias.toString(), alias + ":1: name: YAML alias *d is not allowed in a scenario file; anchors, aliases and "
                    + "merge keys are not supported: write each value out"},
            {binary.toString(), binary + ":1: not UTF-8 text (byte 0xc3 at offset 6); a scenario is a YAML text file in UTF-8"},
            {base.toString(), base + ":1: vm.slotBaseGfn: 64 MiB of guest memory from gfn 0xfffffff00 ends at gfn "
                    + "0x1000003f00, beyond the 48-bit guest physical space of a 4-level root (gfns below 0x1000000000); "
                    + "for 64 MiB the base can be at most 0xfffffc000"},
            {big.toString(), big + ":1: vm.memoryPerVcpu: \"99999999999999999999999T\" is too large (sizes stop below "
                    + "8 EiB, 2^63 bytes; guest memory must also fit in the 48-bit (rootLevel 4) or 57-bit (rootLevel 5) "
                    + "guest physical space)"},
            {dir.toString(), dir + ": is a directory, not a scenario file"},
        };
        for (String[] c : cases) {
            for (String cmd : new String[] {"check", "run"}) {
                FakeEngine engine = new FakeEngine();
                CliHarness.Outcome o = CliHarness.run(engine, cmd, c[0]);
                assertEquals(ExitCodes.BAD_INPUT, o.exitCode(), () -> cmd + " " + c[0] + " -> " + o.err());
                assertEquals(c[1] + "\n", o.err());
                assertEquals(List.of(), engine.runs());
            }
        }
        if (Files.exists(Path.of("/dev/zero"))) {
            CliHarness.Outcome o = CliHarness.run(new FakeEngine(), "run", "/dev/zero");
            assertEquals(ExitCodes.BAD_INPUT, o.exitCode());
            assertEquals("/dev/zero: is not a regular file (a device, FIFO or socket); a scenario is a YAML text file\n", o.err());
        }
    }

    @Test
    void compareRunsOncePerStrategy() {
        FakeEngine engine = new FakeEngine();
        CliHarness.Outcome o = CliHarness.run(engine, "compare", SMALL);
        assertEquals(ExitCodes.OK, o.exitCode(), o.err());
        assertEquals(List.of(RecoveryStrategy.ZAP_LEAFS, RecoveryStrategy.ZAP_HUGE, RecoveryStrategy.PROMOTE_IN_PLACE),
                engine.runs().stream().map(s -> s.strategy().orElseThrow()).toList());
        String header = o.out().lines().filter(l -> !l.startsWith("#") && l.contains("zap_leafs")).findFirst().orElseThrow();
        assertTrue(header.matches("\\s+zap_leafs\\s+zap_huge\\s+promote_in_place"), header);
        String faults = o.out().lines().filter(l -> l.startsWith("faults after disable")).findFirst().orElseThrow();
        // FakeEngine: 4 x 64 MiB of 2 MiB pages = 128 huge mappings refaulted by the zapping strategies
        assertTrue(faults.matches("faults after disable\\s+128\\s+128\\s+0"), faults);
        String flushes = o.out().lines().filter(l -> l.startsWith("TLB flushes at disable")).findFirst().orElseThrow();
        assertTrue(flushes.matches("TLB flushes at disable\\s+65,536\\s+1\\s+1"), flushes);
    }

    @Test
    void compareNeedsADisablePhase(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("nodisable.yaml");
        Files.writeString(f, "vm: { vcpus: 1, memoryPerVcpu: 4K }\nphases: [populate]\n");
        CliHarness.Outcome o = CliHarness.run(new FakeEngine(), "compare", f.toString());
        assertEquals(ExitCodes.BAD_INPUT, o.exitCode());
        assertOneCleanLine(o.err());
        assertTrue(o.err().contains("has no disableDirtyLogging phase"), o.err());
    }

    @Test
    void jsonOutputParsesBack() throws Exception {
        CliHarness.Outcome o = CliHarness.run(new FakeEngine(), "compare", SMALL, "--json");
        assertEquals(ExitCodes.OK, o.exitCode(), o.err());
        JsonNode root = new ObjectMapper().readTree(o.out());
        assertEquals(3, root.get("runs").size());
        JsonNode zapLeafs = root.get("runs").get(0);
        assertEquals("small-default", zapLeafs.get("scenario").asText());
        assertEquals("zap_leafs", zapLeafs.get("strategy").asText());
        assertTrue(zapLeafs.get("ok").asBoolean());
        assertEquals(11, zapLeafs.get("phases").size());
        JsonNode disable = zapLeafs.get("phases").get(8);
        assertEquals("disable-dirty-logging", disable.get("name").asText());
        assertEquals(65536, disable.get("counters").get("zap.leaf").asLong());
        assertEquals(128, zapLeafs.get("summary").get("faultsAfterDisable").asLong());
        assertTrue(zapLeafs.get("phases").get(0).get("faultLatency").get("hdr").asText().length() > 10);
    }

    @Test
    void csvOutputHasARowPerStep() {
        CliHarness.Outcome o = CliHarness.run(new FakeEngine(), "run", SMALL, "--csv");
        assertEquals(ExitCodes.OK, o.exitCode(), o.err());
        List<String> lines = o.out().lines().toList();
        assertEquals(12, lines.size());
        assertTrue(lines.get(0).startsWith("scenario,strategy,safe,violations,step,repeats,wall_ns,"), lines.get(0));
        assertTrue(lines.get(1).startsWith("small-default,promote_in_place,true,0,populate,1,"), lines.get(1));
    }

    @Test
    void reportDirGetsIndexAndCharts(@TempDir Path dir) {
        Path report = dir.resolve("r");
        CliHarness.Outcome o = CliHarness.run(new FakeEngine(), "compare", SMALL, "--report", report.toString());
        assertEquals(ExitCodes.OK, o.exitCode(), o.err());
        assertTrue(Files.exists(report.resolve("index.html")));
        assertTrue(Files.exists(report.resolve("phase-wall-times.png")));
        assertEquals("report written to " + report.resolve("index.html") + "\n", o.err());
    }

    @Test
    void checkValidatesShippedScenarios() {
        List<String> args = new java.util.ArrayList<>(List.of("check"));
        Shipped.NAMES.forEach(n -> args.add(Shipped.path(n).toString()));
        CliHarness.Outcome o = CliHarness.run(null, args.toArray(new String[0]));
        assertEquals(ExitCodes.OK, o.exitCode(), o.err());
        assertTrue(o.out().contains("slot 0: gfn 0x100200-0x140200, 1 GiB, anonymous_hugetlb_1gb, largest mapping level 2"), o.out());
    }

    @Test
    void helpExitsZero() {
        CliHarness.Outcome o = CliHarness.run(null, "perf", "--help");
        assertEquals(ExitCodes.OK, o.exitCode());
        assertTrue(o.out().contains("Number of vCPUs"), o.out());
        assertTrue(o.out().contains("KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2"), o.out());
        assertTrue(CliHarness.run(null, "--help").out().contains("Exit codes:"));
    }

    @Test
    void progressBarOnlyWhenAskedAndPhaseIsLong() {
        FakeEngine fake = new FakeEngine();
        org.tdpmmu.scenarios.engine.ScenarioEngine slow = (s, p) -> {
            p.phaseStarted("slow-step", 10);
            p.advanced(5);
            Thread.sleep(1_500);
            p.advanced(5);
            p.phaseEnded();
            return fake.run(s, org.tdpmmu.scenarios.engine.ProgressListener.NONE);
        };
        CliHarness.Outcome o = CliHarness.run(slow, "run", SMALL, "--progress");
        assertEquals(ExitCodes.OK, o.exitCode(), o.err());
        assertTrue(o.err().contains("\rstep 1/11 slow-step ["), o.err());
        assertTrue(o.err().contains(", ETA "), o.err());
        assertTrue(o.err().contains("100%"), o.err());
        assertFalse(o.out().contains("\r"));
        Scenario ran = fake.runs().get(0);
        assertEquals("small-default", ran.name());
    }
}
