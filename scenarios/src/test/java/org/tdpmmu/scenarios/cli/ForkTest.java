package org.tdpmmu.scenarios.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tdpmmu.scenarios.engine.FakeEngine;
import org.tdpmmu.scenarios.engine.Violation;
import org.tdpmmu.scenarios.model.RecoveryStrategy;
import org.tdpmmu.scenarios.support.Shipped;

/** --repeat and the child-JVM protocol: each run in a child, its results handed back as JSON and merged. */
class ForkTest {

    private static final String SMALL = Shipped.path("small-default.yaml").toString();

    private static ChildLauncher inThisJvm(FakeEngine engine, List<List<String>> launched) {
        return CliHarness.inThisJvm(engine, launched);
    }

    private static CliHarness.Outcome run(FakeEngine engine, ChildLauncher launcher, String... args) {
        return CliHarness.run(engine, launcher, args);
    }

    @Test
    void compareForksEveryRunRoundRobinAndMergesTheRepeats() throws Exception {
        FakeEngine engine = new FakeEngine();
        List<List<String>> launched = Collections.synchronizedList(new ArrayList<>());
        CliHarness.Outcome o = run(engine, inThisJvm(engine, launched), "compare", SMALL, "--repeat", "2", "--json");
        assertEquals(ExitCodes.OK, o.exitCode(), o.err());
        assertEquals(6, launched.size());
        String path = Path.of(SMALL).toAbsolutePath().toString();
        assertEquals(List.of("run", path, "--strategy", "zap_leafs", "--repeat", "1", "--no-fork", "--no-progress",
                "--result-file"), launched.get(0).subList(0, 9));
        assertEquals(List.of(RecoveryStrategy.ZAP_LEAFS, RecoveryStrategy.ZAP_HUGE, RecoveryStrategy.PROMOTE_IN_PLACE,
                        RecoveryStrategy.ZAP_LEAFS, RecoveryStrategy.ZAP_HUGE, RecoveryStrategy.PROMOTE_IN_PLACE),
                engine.runs().stream().map(s -> s.strategy().orElseThrow()).toList(), "round robin");
        JsonNode root = new ObjectMapper().readTree(o.out());
        assertEquals("each run in a fresh JVM", root.at("/provenance/runs/isolation").asText());
        assertEquals(2, root.at("/provenance/runs/repeatsPerStrategy").asInt());
        assertEquals(3, root.get("runs").size());
        for (JsonNode r : root.get("runs")) {
            assertEquals(2, r.get("repeats").asInt());
            assertEquals(2, r.at("/phases/0/wallNanosRepeats").size());
            assertEquals(0, r.get("repeatDifferences").size(), "the fake engine counts the same every time");
        }
        assertEquals(128, root.at("/runs/0/summary/faultsAfterDisable").asLong(), "counts survive the trip");
        for (List<String> args : launched) {
            Path file = Path.of(args.get(args.size() - 1));
            assertTrue(Files.notExists(file), "the result file is removed: " + file);
        }
    }

    @Test
    void textShowsMediansWithTheirRange() {
        FakeEngine engine = new FakeEngine();
        CliHarness.Outcome o = run(engine, inThisJvm(engine, new ArrayList<>()), "run", SMALL, "--repeat", "3");
        assertEquals(ExitCodes.OK, o.exitCode(), o.err());
        assertTrue(o.out().contains("# runs: [promote_in_place] x 3, each run in a fresh JVM; wall figures are medians [min-max]"),
                o.out());
        // the fake engine's times depend only on the counts: min = max = median
        String populate = o.out().lines().filter(l -> l.startsWith("populate ")).findFirst().orElseThrow();
        assertTrue(populate.matches("populate\\s+(\\S+ \\S+) \\[\\S+-\\S+ \\S+].*"), populate);
        assertTrue(o.out().contains("modeled time and every count were identical in every repeat"), o.out());
        assertEquals(3, engine.runs().size());
    }

    @Test
    void violationsFromChildrenAreReportedOnceByTheParent() {
        FakeEngine engine = FakeEngine.withViolations(new Violation(Violation.NO_LEAK, "3 tables"));
        CliHarness.Outcome o = run(engine, inThisJvm(engine, new ArrayList<>()), "run", SMALL, "--repeat", "2");
        assertEquals(ExitCodes.VIOLATION, o.exitCode());
        assertEquals(List.of("VIOLATION no-leak: (repeat 1) 3 tables", "VIOLATION no-leak: (repeat 2) 3 tables"),
                o.err().lines().toList());
    }

    @Test
    void aFailingChildEndsTheRunWithItsCode() {
        FakeEngine engine = new FakeEngine();
        CliHarness.Outcome o = run(engine, (args, err) -> {
            err.println("tdpmmu: the engine failed: boom");
            return ExitCodes.ENGINE_FAILED;
        }, "compare", SMALL);
        assertEquals(ExitCodes.ENGINE_FAILED, o.exitCode());
        assertEquals(List.of("tdpmmu: the engine failed: boom",
                "tdpmmu: run 1 of 9 (zap_leafs) in a fresh JVM failed with exit code 4 (its output is above)"),
                o.err().lines().toList(), "default: 3 repeats of a small VM");
        o = run(engine, (args, err) -> ExitCodes.OK, "run", SMALL, "--repeat", "2");
        assertEquals(ExitCodes.ENGINE_FAILED, o.exitCode());
        assertTrue(o.err().startsWith("tdpmmu: run 1 of 2 (promote_in_place) in a fresh JVM wrote no readable results"),
                o.err());
    }

    @Test
    void aSingleRunStaysInThisJvmUnlessForkIsAsked() throws Exception {
        FakeEngine engine = new FakeEngine();
        List<List<String>> launched = new ArrayList<>();
        CliHarness.Outcome o = run(engine, inThisJvm(engine, launched), "run", SMALL, "--repeat", "1", "--json");
        assertEquals(ExitCodes.OK, o.exitCode(), o.err());
        assertEquals(0, launched.size(), "this JVM is as fresh as a child's");
        assertEquals("one run, in a fresh JVM",
                new ObjectMapper().readTree(o.out()).at("/provenance/runs/isolation").asText());
        o = run(engine, inThisJvm(engine, launched), "run", SMALL, "--repeat", "1", "--fork", "--json");
        assertEquals(ExitCodes.OK, o.exitCode(), o.err());
        assertEquals(1, launched.size());
    }

    @Test
    void perfChildGetsTheSameFlagsAndTheRunIsNamedAfterThem() throws Exception {
        FakeEngine engine = new FakeEngine();
        List<List<String>> launched = new ArrayList<>();
        CliHarness.Outcome o = run(engine, inThisJvm(engine, launched), "perf", "-v", "2", "-b", "4M", "-s",
                "anonymous_hugetlb_2mb", "--repeat", "2", "-e", "--json");
        assertEquals(ExitCodes.OK, o.exitCode(), o.err());
        assertEquals(List.of("perf", "-v", "2", "-b", "4M", "-s", "anonymous_hugetlb_2mb", "-e", "--repeat", "1"),
                launched.get(0).subList(0, 10));
        JsonNode root = new ObjectMapper().readTree(o.out());
        assertEquals("perf -v 2 -b 4M -s anonymous_hugetlb_2mb -e", root.at("/runs/0/scenario").asText());
        assertEquals("perf -v 2 -b 4M -s anonymous_hugetlb_2mb -e", root.at("/provenance/scenario/name").asText());
        assertEquals(2, root.at("/runs/0/repeats").asInt());
        assertEquals(2, engine.runs().size());
    }

    @Test
    void repeatRangeAndForkWithAGivenEngine() {
        CliHarness.Outcome o = CliHarness.run(new FakeEngine(), "run", SMALL, "--repeat", "0");
        assertEquals(ExitCodes.BAD_INPUT, o.exitCode());
        assertEquals("tdpmmu run: --repeat: 0 is out of range 1..100 (see 'tdpmmu run --help')\n", o.err());
        o = CliHarness.run(new FakeEngine(), "run", SMALL, "--fork");
        assertEquals(ExitCodes.BAD_INPUT, o.exitCode());
        assertTrue(o.err().contains("--fork: the engine was given to this JVM"), o.err());
        FakeEngine engine = new FakeEngine();
        o = CliHarness.run(engine, "run", SMALL, "--repeat", "2", "--json");
        assertEquals(ExitCodes.OK, o.exitCode(), o.err());
        assertTrue(o.out().contains("\"isolation\" : \"all runs in one JVM\""), o.out());
        assertEquals(2, engine.runs().size());
    }

    @Test
    void warmUpRunsAreDiscardedButTheirViolationsKept() throws Exception {
        FakeEngine engine = new FakeEngine();
        List<List<String>> launched = new ArrayList<>();
        CliHarness.Outcome o = run(engine, inThisJvm(engine, launched), "run", SMALL, "--repeat", "2", "--warm-up",
                "--json");
        assertEquals(ExitCodes.OK, o.exitCode(), o.err());
        assertEquals(2, launched.size());
        assertTrue(launched.get(0).contains("--warm-up"), launched.get(0).toString());
        assertEquals(4, engine.runs().size(), "one warm-up run in each child");
        JsonNode root = new ObjectMapper().readTree(o.out());
        assertEquals(2, root.at("/runs/0/repeats").asInt());
        assertTrue(root.at("/provenance/runs/isolation").asText().endsWith("after a discarded warm-up run of its strategy"));
        FakeEngine bad = FakeEngine.withViolations(new Violation(Violation.NO_LEAK, "1 table"));
        o = CliHarness.run(bad, "run", SMALL, "--warm-up");
        assertEquals(ExitCodes.VIOLATION, o.exitCode());
        assertEquals(List.of("VIOLATION no-leak: (warm-up run) 1 table", "VIOLATION no-leak: 1 table"),
                o.err().lines().toList());
    }

    /**
     * compare --kernels: one column per release, each child run in that release's preset with its
     * recovery strategy, round robin and merged as the strategy columns are, labelled by release.
     */
    @Test
    void compareKernelsRunsOneColumnPerReleaseInItsPreset() throws Exception {
        FakeEngine engine = new FakeEngine();
        List<List<String>> launched = Collections.synchronizedList(new ArrayList<>());
        CliHarness.Outcome o = run(engine, inThisJvm(engine, launched), "compare", "--kernels", "5.15,6.6,6.18", SMALL,
                "--repeat", "2", "--json");
        assertEquals(ExitCodes.OK, o.exitCode(), o.err());
        assertEquals(6, launched.size());
        String path = Path.of(SMALL).toAbsolutePath().toString();
        assertEquals(List.of("run", path, "--set", "vm.kernel=5.15", "--strategy", "zap_leafs"), launched.get(0).subList(0, 6));
        assertEquals(List.of("5.15", "6.6", "6.18", "5.15", "6.6", "6.18"),
                engine.runs().stream().map(s -> s.vm().kernel().release()).toList(), "round robin, each in its preset");
        assertEquals(List.of(RecoveryStrategy.ZAP_LEAFS, RecoveryStrategy.ZAP_HUGE, RecoveryStrategy.PROMOTE_IN_PLACE),
                engine.runs().subList(0, 3).stream().map(s -> s.strategy().orElseThrow()).toList());
        assertTrue(!engine.runs().get(0).vm().locklessAging() && engine.runs().get(2).vm().locklessAging());
        JsonNode root = new ObjectMapper().readTree(o.out());
        assertEquals(3, root.get("runs").size());
        assertEquals("6.6", root.at("/runs/1/kernel").asText());
        assertEquals(2, root.at("/runs/1/repeats").asInt());
        o = run(engine, inThisJvm(engine, launched), "compare", "--kernels", "6.1,6.18", SMALL, "--repeat", "1");
        assertEquals(ExitCodes.OK, o.exitCode(), o.err());
        String header = o.out().lines().filter(l -> !l.startsWith("#") && l.contains("6.18")).findFirst().orElseThrow();
        assertTrue(header.matches("\\s+6\\.1\\s+6\\.18"), header);
        assertTrue(o.out().contains("one run per kernel release"), o.out());
        o = run(engine, inThisJvm(engine, launched), "compare", "--kernels", "6.1,6.7", SMALL);
        assertEquals(ExitCodes.BAD_INPUT, o.exitCode());
        assertTrue(o.err().contains("--kernels: unknown kernel release \"6.7\"; known: 5.15, 6.1, 6.6, 6.12, 6.18"), o.err());
    }

    @Test
    void progressNamesEachRunWithAnEtaAndChildrenDrawTheirSteps() {
        FakeEngine engine = new FakeEngine();
        List<List<String>> launched = new ArrayList<>();
        CliHarness.Outcome o = run(engine, inThisJvm(engine, launched), "compare", SMALL, "--repeat", "1", "--progress");
        assertEquals(ExitCodes.OK, o.exitCode(), o.err());
        assertTrue(o.err().startsWith("\rrun 1/3 zap_leafs\rrun 2/3 zap_huge, ETA "), o.err());
        assertTrue(o.err().contains("\rrun 3/3 promote_in_place, ETA "), o.err());
        assertTrue(o.err().endsWith("\r"), "the line is cleared at the end");
        assertTrue(launched.get(0).contains("--progress"), "a child draws its own step bar");
        assertTrue(!o.out().contains("\r"));
    }

    /** The real path: two child JVMs of the real engine on a tiny scenario (a few seconds). */
    @Test
    void realChildJvms(@TempDir Path dir) throws Exception {
        Path tiny = dir.resolve("tiny.yaml");
        Files.writeString(tiny, "name: tiny\nvm: { vcpus: 1, memoryPerVcpu: 4M, backing: anonymous_hugetlb_2mb }\n"
                + "phases:\n  - populate\n  - enableDirtyLogging: {}\n  - dirtyPass: { iterations: 1 }\n"
                + "  - disableDirtyLogging: { strategy: zap_huge }\n  - secondPass\n  - teardown\n");
        CliHarness.Outcome o = CliHarness.run(null, "run", tiny.toString(), "--repeat", "2", "--json");
        assertEquals(ExitCodes.OK, o.exitCode(), o.err());
        JsonNode root = new ObjectMapper().readTree(o.out());
        assertEquals("each run in a fresh JVM", root.at("/provenance/runs/isolation").asText());
        JsonNode run = root.at("/runs/0");
        assertEquals("tiny", run.get("scenario").asText());
        assertEquals("zap_huge", run.get("strategy").asText());
        assertTrue(run.get("ok").asBoolean());
        assertEquals(2, run.get("repeats").asInt());
        assertEquals(2, run.at("/phases/0/wallNanosRepeats").size());
        assertTrue(run.at("/phases/0/wallNanosMin").asLong() > 0);
        assertEquals(2, run.at("/summary/faultsAfterDisable").asLong(), "two 2 MiB pages refaulted after zap_huge");
    }
}
