package org.tdpmmu.scenarios.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tdpmmu.scenarios.engine.FakeEngine;
import org.tdpmmu.scenarios.report.SweepReport;

/** sweep and merge in this JVM: the child JVMs are {@link CliHarness#inThisJvm} on the fake engine. */
class SweepCommandTest {

    /** A scenario of one vCPU that disables dirty logging, for every test of sweeps (also the JVM one). */
    static final String TINY = String.join("\n",
            "name: tiny",
            "vm:",
            "  vcpus: 1",
            "  memoryPerVcpu: 4M",
            "  backing: anonymous_hugetlb_2mb",
            "phases:",
            "  - populate: {}",
            "  - enableDirtyLogging: { mode: wrprot, eagerSplit: false }",
            "  - dirtyPass: { iterations: 1, writePercent: 100, pattern: random, seed: 1, harvest: clear }",
            "  - disableDirtyLogging: { strategy: promote_in_place, vcpusRunning: false }",
            "  - secondPass: { writePercent: 50, pattern: random }",
            "  - teardown: {}",
            "");
    static final String GRID = "strategy=zap_leafs,promote_in_place; vm.vcpus=1,2; seed=1..2";

    @TempDir
    Path dir;

    private final FakeEngine engine = new FakeEngine();
    private final List<List<String>> launched = Collections.synchronizedList(new ArrayList<>());

    private Path tiny() throws IOException {
        Path f = dir.resolve("tiny.yaml");
        Files.writeString(f, TINY, StandardCharsets.UTF_8);
        return f;
    }

    private CliHarness.Outcome tdpmmu(String... args) {
        return CliHarness.run(engine, CliHarness.inThisJvm(engine, launched), args);
    }

    static List<String> files(Path out) throws IOException {
        try (Stream<Path> s = Files.list(out)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void runsEveryPointInAChildAndSkipsThemOnResume() throws IOException {
        Path out = dir.resolve("out");
        CliHarness.Outcome o = tdpmmu("sweep", tiny().toString(), "--grid", GRID, "--out", out.toString(), "--workers", "2");
        assertEquals(ExitCodes.OK, o.exitCode(), o.err());
        assertEquals(8, launched.size());
        List<String> names = files(out);
        assertEquals(8, names.size(), names.toString());
        assertTrue(names.stream().allMatch(n -> n.matches("[0-9a-f]{16}\\.json")), names.toString());
        List<String> first = launched.stream().filter(a -> a.contains("seed=2") && a.contains("vm.vcpus=1")
                && a.contains("zap_leafs")).findFirst().orElseThrow();
        assertEquals(List.of("run", tiny().toAbsolutePath().toString(), "--strategy", "zap_leafs", "--set", "vm.vcpus=1",
                "--set", "seed=2", "--repeat", "1", "--no-fork", "--no-progress", "--result-file"), first.subList(0, 13));
        assertTrue(o.out().contains("# x: vm.vcpus; lines: strategy; median [min-max] over seed"), o.out());
        assertEquals(8, engine.runs().size());
        assertEquals(2, engine.runs().stream().filter(s -> s.vm().vcpus() == 2
                && ((org.tdpmmu.scenarios.model.Phase.SecondPass) s.phases().get(4)).seed() == 2).count(),
                "seed=2 reached every seed of the file, and the children ran the points' scenarios");

        launched.clear();
        o = tdpmmu("sweep", tiny().toString(), "--grid", GRID, "--out", out.toString());
        assertEquals(ExitCodes.OK, o.exitCode(), o.err());
        assertEquals(0, launched.size(), "every result exists");
        assertTrue(o.err().contains("8 points, 8 already done, 0 to run"), o.err());

        // a worker killed mid-run: its point has no result, only a temporary file
        String gone = names.get(3);
        String key = gone.substring(0, 16);
        Files.delete(out.resolve(gone));
        Files.writeString(out.resolve("." + key + ".child.12345.tmp"), "{\"format\": \"tdpmmu-res", StandardCharsets.UTF_8);
        Files.writeString(out.resolve("." + key + ".result.777.tmp"), "", StandardCharsets.UTF_8);
        o = tdpmmu("sweep", tiny().toString(), "--grid", GRID, "--out", out.toString());
        assertEquals(ExitCodes.OK, o.exitCode(), o.err());
        assertEquals(1, launched.size(), "only the killed run runs again");
        assertEquals(names, files(out), "its result is back and the leftovers are gone");
    }

    @Test
    void aFailedChildLeavesNoResultAndIsRetried() throws IOException {
        Path out = dir.resolve("out");
        ChildLauncher good = CliHarness.inThisJvm(engine, launched);
        ChildLauncher dying = (args, err) -> {
            if (args.contains("seed=2") && args.contains("vm.vcpus=2")) {
                Path resultFile = Path.of(args.get(args.size() - 1));
                Files.writeString(resultFile, "{\"format\": \"tdpmmu-results/1\", \"ru", StandardCharsets.UTF_8);
                return 137; // SIGKILL
            }
            return good.launch(args, err);
        };
        CliHarness.Outcome o = CliHarness.run(engine, dying, "sweep", tiny().toString(), "--grid", GRID, "--out",
                out.toString(), "--workers", "2");
        assertEquals(ExitCodes.ENGINE_FAILED, o.exitCode());
        assertTrue(o.err().contains("sweep: 2 of 8 runs failed (run the sweep again to retry them):"), o.err());
        assertTrue(o.err().contains("tdpmmu: point 3 (strategy=zap_leafs, vm.vcpus=2, seed=2) in a fresh JVM failed "
                + "with exit code 137"), o.err());
        assertEquals(6, files(out).size(), "no half-written files: " + files(out));
        launched.clear();
        o = tdpmmu("sweep", tiny().toString(), "--grid", GRID, "--out", out.toString());
        assertEquals(ExitCodes.OK, o.exitCode(), o.err());
        assertEquals(2, launched.size());
        assertEquals(8, files(out).size());
    }

    /** The merged JSON without the wall-clock figures, which no two runs share. */
    static JsonNode withoutWall(String json) throws IOException {
        JsonNode root = new ObjectMapper().readTree(json);
        for (JsonNode p : root.get("points")) {
            for (SweepReport.Figure f : SweepReport.Figure.values()) {
                if (f.wall()) {
                    ((ObjectNode) p.get("figures")).remove(f.jsonName());
                }
            }
        }
        return root;
    }

    @Test
    void threeShardsMergeToWhatOneSweepGives() throws IOException {
        Path local = dir.resolve("local");
        Path sharded = dir.resolve("sharded");
        assertEquals(ExitCodes.OK, tdpmmu("sweep", tiny().toString(), "--grid", GRID, "--out", local.toString(),
                "--workers", "2").exitCode());
        int runs = 0;
        for (int i = 0; i < 3; i++) {
            launched.clear();
            CliHarness.Outcome o = tdpmmu("sweep", tiny().toString(), "--grid", GRID, "--out", sharded.toString(),
                    "--shard", i + "/3");
            assertEquals(ExitCodes.OK, o.exitCode(), o.err());
            assertEquals(i < 2 ? 3 : 2, launched.size(), "shard " + i + " runs points " + i + ", " + (i + 3) + ", ...");
            runs += launched.size();
        }
        assertEquals(8, runs);
        assertEquals(files(local), files(sharded), "the same keys");
        CliHarness.Outcome a = tdpmmu("merge", local.toString(), "--json");
        CliHarness.Outcome b = tdpmmu("merge", sharded.toString(), "--json");
        assertEquals(ExitCodes.OK, b.exitCode(), b.err());
        assertEquals(withoutWall(a.out()), withoutWall(b.out()));
        JsonNode root = new ObjectMapper().readTree(b.out());
        assertEquals("vm.vcpus", root.get("x").asText());
        assertEquals(4, root.get("points").size(), "2 strategies x 2 vCPU counts");
        assertEquals(2, root.at("/points/0/runs").asInt(), "two seeds each");
        assertEquals("[\"1\",\"2\"]", root.at("/points/0/seeds").toString());
        CliHarness.Outcome both = tdpmmu("merge", local.toString(), sharded.toString(), "--json");
        assertEquals(withoutWall(a.out()), withoutWall(both.out()), "a run found twice counts once");
        assertTrue(both.err().contains("8 result file(s) of runs already read were left out"), both.err());
    }

    @Test
    void mergeWritesTextCsvAndHtml() throws IOException {
        Path out = dir.resolve("out");
        assertEquals(ExitCodes.OK, tdpmmu("sweep", tiny().toString(), "--grid", GRID, "--out", out.toString()).exitCode());
        CliHarness.Outcome t = tdpmmu("merge", out.toString());
        assertEquals(ExitCodes.OK, t.exitCode(), t.err());
        for (String title : List.of("disable wall", "disable modeled", "TLB flushes at disable", "faults after disable",
                "total wall")) {
            assertTrue(t.out().contains("\n" + title + "\nvm.vcpus"), title + " in\n" + t.out());
        }
        CliHarness.Outcome c = tdpmmu("merge", out.toString(), "--csv", "--x", "vm.vcpus");
        String header = c.out().lines().findFirst().orElseThrow();
        assertTrue(header.startsWith("vm.vcpus,strategy,seeds,runs,violations,disableWallNanos_min,disableWallNanos_median,"),
                header);
        assertEquals(5, c.out().lines().count());
        Path html = dir.resolve("html");
        CliHarness.Outcome h = tdpmmu("merge", out.toString(), "--report", html.toString());
        assertEquals(ExitCodes.OK, h.exitCode(), h.err());
        String index = Files.readString(html.resolve("index.html"));
        for (SweepReport.Figure f : SweepReport.Figure.values()) {
            assertTrue(Files.size(html.resolve(f.jsonName() + ".png")) > 1000, f.jsonName());
            assertTrue(index.contains("<img src=\"" + f.jsonName() + ".png\""), f.jsonName());
        }
    }

    @Test
    void badPointsStopTheSweepBeforeAnyRun() throws IOException {
        String file = tiny().toString();
        String out = dir.resolve("out").toString();
        CliHarness.Outcome o = tdpmmu("sweep", file, "--grid", "strategy=zap_huge; vm.vcpus=1,1000", "--out", out);
        assertEquals(ExitCodes.BAD_INPUT, o.exitCode());
        assertEquals("tdpmmu sweep: point 1 (strategy=zap_huge, vm.vcpus=1000) of 2: " + file
                + ": vm.vcpus: 1000 is out of range 1..512\n", o.err());
        o = tdpmmu("sweep", file, "--grid", "vm.vcpu=2", "--out", out);
        assertEquals(ExitCodes.BAD_INPUT, o.exitCode());
        assertTrue(o.err().startsWith("tdpmmu sweep: point 0 (vm.vcpu=2) of 1: " + file + ": vm.vcpu: unknown field"), o.err());
        o = tdpmmu("sweep", file, "--grid", "vm.memoryPerVcpu=4M,5000", "--out", out);
        assertEquals(ExitCodes.BAD_INPUT, o.exitCode());
        assertTrue(o.err().contains("point 1 (vm.memoryPerVcpu=5000) of 2: " + file + ": vm.memoryPerVcpu: 5000 bytes is "
                + "not a multiple of 4 KiB"), o.err());
        o = tdpmmu("sweep", file, "--grid", "description=a,b", "--out", out);
        assertEquals(ExitCodes.BAD_INPUT, o.exitCode());
        assertTrue(o.err().contains("point 1 (description=b) of 2: runs the same configuration as point 0 (description=a)"),
                o.err());
        o = tdpmmu("sweep", file, "--grid", "seed=", "--out", out);
        assertEquals("--grid: seed: empty list of values\n", o.err());
        assertEquals(ExitCodes.BAD_INPUT, o.exitCode());
        o = tdpmmu("sweep", file, "--grid", "seed=1..2", "--out", out, "--shard", "2/2");
        assertEquals("--shard: --shard 2/2: index 2 is out of range 0..1\n", o.err());
        o = tdpmmu("sweep", file, "--grid", "seed=1..2", "--out", out, "--workers", "0");
        assertEquals(ExitCodes.BAD_INPUT, o.exitCode());
        assertTrue(o.err().startsWith("tdpmmu sweep: --workers: 0 is out of range 1..256"), o.err());
        assertEquals(0, launched.size(), "nothing ran");
        assertFalse(Files.exists(Path.of(out)), "nothing was written");
    }

    @Test
    void mergeRefusesWhatIsNotAResult() throws IOException {
        Path empty = Files.createDirectories(dir.resolve("empty"));
        CliHarness.Outcome o = tdpmmu("merge", empty.toString());
        assertEquals(ExitCodes.BAD_INPUT, o.exitCode());
        assertEquals("tdpmmu merge: no result files in [" + empty + "]\n", o.err());
        Files.writeString(empty.resolve("notes.json"), "{\"format\": \"something else\"}");
        o = tdpmmu("merge", empty.toString());
        assertEquals("tdpmmu merge: " + empty.resolve("notes.json") + ": not a tdpmmu-sweep-run/1 result file\n", o.err());
        Path out = dir.resolve("out");
        tdpmmu("sweep", tiny().toString(), "--grid", "seed=1..2", "--out", out.toString());
        o = tdpmmu("merge", out.toString(), "--x", "vm.vcpus");
        assertEquals(ExitCodes.BAD_INPUT, o.exitCode());
        assertEquals("tdpmmu: --x vm.vcpus: not a key of these runs (they have seed)\n", o.err());
    }
}
