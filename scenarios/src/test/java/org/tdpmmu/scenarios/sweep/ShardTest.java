package org.tdpmmu.scenarios.sweep;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.tdpmmu.scenarios.model.ScenarioException;

class ShardTest {

    @Test
    void everyPointBelongsToExactlyOneShard() {
        List<Integer> seen = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            Shard s = Shard.parse(i + "/3", null, Map.of());
            for (int p = 0; p < 10; p++) {
                if (s.owns(p)) {
                    seen.add(p);
                }
            }
        }
        seen.sort(null);
        assertEquals(List.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), seen);
        assertTrue(Shard.parse("1/3", null, Map.of()).owns(4), "round robin by index");
        assertEquals(Shard.ALL, Shard.parse(null, null, Map.of()));
    }

    @Test
    void autoReadsKubernetesAndSlurm() {
        assertEquals(new Shard(2, 4), Shard.parse("auto", 4, Map.of("JOB_COMPLETION_INDEX", "2")));
        assertEquals(new Shard(2, 4), Shard.parse("auto", null, Map.of("JOB_COMPLETION_INDEX", "2", Shard.COUNT_ENV, "4")));
        assertEquals(new Shard(0, 3), Shard.parse("auto", null,
                Map.of("SLURM_ARRAY_TASK_ID", "1", "SLURM_ARRAY_TASK_MIN", "1", "SLURM_ARRAY_TASK_COUNT", "3")));
        assertEquals(new Shard(2, 3), Shard.parse("auto", null,
                Map.of("SLURM_ARRAY_TASK_ID", "4", "SLURM_ARRAY_TASK_MIN", "0", "SLURM_ARRAY_TASK_MAX", "4",
                        "SLURM_ARRAY_TASK_STEP", "2")));
    }

    private static String error(String text, Integer count, Map<String, String> env) {
        return assertThrows(ScenarioException.class, () -> Shard.parse(text, count, env)).getMessage();
    }

    @Test
    void badShardsAreRefused() {
        assertEquals("--shard: --shard 3/3: index 3 is out of range 0..2", error("3/3", null, Map.of()));
        assertEquals("--shard: --shard 0/0: the number of shards must be 1..100000", error("0/0", null, Map.of()));
        assertEquals("--shard: \"1-3\" is not I/N (0-based index I of N shards, e.g. 0/4) nor auto", error("1-3", null, Map.of()));
        assertEquals("--shard: JOB_COMPLETION_INDEX=5 with --shard-count=4: index 5 is out of range 0..3",
                error("auto", 4, Map.of("JOB_COMPLETION_INDEX", "5")));
        assertTrue(error("auto", null, Map.of("JOB_COMPLETION_INDEX", "1")).contains("give --shard-count N or TDPMMU_SHARD_COUNT=N"));
        assertTrue(error("auto", null, Map.of()).startsWith("--shard auto: neither JOB_COMPLETION_INDEX"));
        assertTrue(error("auto", null, Map.of("SLURM_ARRAY_TASK_ID", "4", "SLURM_ARRAY_TASK_MIN", "1",
                "SLURM_ARRAY_TASK_COUNT", "3", "SLURM_ARRAY_TASK_STEP", "2")).contains("has no 0-based index"));
        assertEquals("--shard-count: only with --shard auto (--shard I/N gives the count)", error("0/2", 2, Map.of()));
    }
}
