package org.tdpmmu.scenarios.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tdpmmu.scenarios.load.ScenarioLoader;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.model.Step;
import org.tdpmmu.scenarios.model.StepKind;

/** kvm-check's comparison and placement, without /dev/kvm. */
class KvmCheckCompareTest {
    private static Scenario load(Path dir, String vm) throws Exception {
        final Path f = dir.resolve("s.yaml");
        Files.writeString(f, "name: s\nvm:\n" + vm + "phases:\n  - populate\n  - enableDirtyLogging\n"
                + "  - dirtyPass: { iterations: 1 }\n");
        return ScenarioLoader.load(f);
    }

    @Test
    void aDifferenceNamesTheHarvestAndThePages(@TempDir Path dir) throws Exception {
        final Scenario s = load(dir, "  vcpus: 1\n  memoryPerVcpu: 512K\n");
        final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        final KvmCheck check = new KvmCheck(s, new PrintStream(bytes, true, StandardCharsets.UTF_8));
        final Step get = s.steps().stream().filter(t -> t.kind() == StepKind.GET_DIRTY_LOG).findFirst().orElseThrow();
        check.compare("t", get, new long[][] {{0b0001, 0}}, new long[][] {{0b0001, 0}});
        assertEquals(0, check.differences(), "identical");
        check.compare("t", get, new long[][] {{0b0001, 1}}, new long[][] {{0b1111, 0}});
        assertEquals(1, check.differences());
        final String out = bytes.toString(StandardCharsets.UTF_8);
        assertTrue(out.contains("get-dirty-log-1"), out);
        assertTrue(out.contains("KVM reports 2 page(s); tdpmmu reports 3 more (gfn 0x100001-0x100003)"), out);
        assertTrue(out.contains("misses 1 (gfn 0x100040)"), out);
    }

    @Test
    void slotsKeepTheirOffsetModulo1GiBAndMustFitBelow4GiB(@TempDir Path dir) throws Exception {
        assertEquals(3L << 30, KvmCheck.gpaShift(load(dir, "  vcpus: 1\n  memoryPerVcpu: 4M\n")),
                "the default base, 4 GiB, goes to 1 GiB");
        final Scenario big = load(dir, "  vcpus: 4\n  memoryPerVcpu: 1G\n");
        final IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> KvmCheck.gpaShift(big));
        assertTrue(e.getMessage().contains("at most 3 GiB"), e.getMessage());
    }
}
