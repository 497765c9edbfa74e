package org.tdpmmu.scenarios.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real thing, on the simulator: a sweep whose runs are child JVMs ({@link ChildLauncher#JVM}),
 * against the same sweep as three shards, each a JVM of its own, merged. Everything but the wall
 * times must agree, but for one figure the simulator itself does not repeat: a disable step that
 * unlinks page tables (zap_huge, promote_in_place) hands them to RCU, and whether the reclaimer
 * thread frees them within the step or in the next one varies from run to run ({@code run --repeat}
 * lists it: {@code disable-dirty-logging table.free: 0..2}), and so does the step's modeled time.
 * zap_leafs frees no table while disabling: its modeled time must agree too.
 */
class SweepJvmTest {

    private static final String GRID = "strategy=zap_leafs,promote_in_place; seed=1..2";

    @TempDir
    Path dir;

    @Test
    void twoWorkersAndThreeShardProcessesMergeAlike() throws Exception {
        Path file = dir.resolve("tiny.yaml");
        Files.writeString(file, SweepCommandTest.TINY, StandardCharsets.UTF_8);
        Path local = dir.resolve("local");
        Path sharded = dir.resolve("sharded");

        CliHarness.Outcome o = CliHarness.run(null, "sweep", file.toString(), "--grid", GRID, "--out", local.toString(),
                "--workers", "2");
        assertEquals(ExitCodes.OK, o.exitCode(), o.err());
        assertEquals(4, SweepCommandTest.files(local).size(), o.err());

        ExecutorService pool = Executors.newFixedThreadPool(3);
        try {
            List<Future<Integer>> shards = new ArrayList<>();
            List<ByteArrayOutputStream> outputs = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                ByteArrayOutputStream buf = new ByteArrayOutputStream();
                outputs.add(buf);
                List<String> args = List.of("sweep", file.toString(), "--grid", GRID, "--out", sharded.toString(),
                        "--shard", i + "/3", "--json");
                shards.add(pool.submit(() -> {
                    try (PrintStream err = new PrintStream(buf, true, StandardCharsets.UTF_8)) {
                        return ChildLauncher.JVM.launch(args, err);
                    }
                }));
            }
            for (int i = 0; i < 3; i++) {
                assertEquals(ExitCodes.OK, shards.get(i).get(), outputs.get(i).toString(StandardCharsets.UTF_8));
            }
        } finally {
            pool.shutdownNow();
        }
        assertEquals(SweepCommandTest.files(local), SweepCommandTest.files(sharded), "the same runs, by key");

        CliHarness.Outcome a = CliHarness.run(null, "merge", local.toString(), "--json");
        CliHarness.Outcome b = CliHarness.run(null, "merge", sharded.toString(), "--json");
        assertEquals(ExitCodes.OK, a.exitCode(), a.err());
        assertEquals(ExitCodes.OK, b.exitCode(), b.err());
        assertEquals(comparable(a.out()), comparable(b.out()));
        assertTrue(a.out().contains("\"faultsAfterDisable\""), a.out());
        assertTrue(new com.fasterxml.jackson.databind.ObjectMapper().readTree(a.out()).at("/points/0/figures/totalWallNanos/min")
                .asLong() > 0, "real runs take time");
    }

    /** The merged JSON without wall times, and without the disable modeled time of the strategies that free tables. */
    private static com.fasterxml.jackson.databind.JsonNode comparable(String json) throws java.io.IOException {
        com.fasterxml.jackson.databind.JsonNode root = SweepCommandTest.withoutWall(json);
        for (com.fasterxml.jackson.databind.JsonNode p : root.get("points")) {
            if (!p.at("/values/strategy").asText().equals("zap_leafs")) {
                ((com.fasterxml.jackson.databind.node.ObjectNode) p.get("figures"))
                        .remove(org.tdpmmu.scenarios.report.SweepReport.Figure.DISABLE_MODELED.jsonName());
            }
        }
        return root;
    }
}
