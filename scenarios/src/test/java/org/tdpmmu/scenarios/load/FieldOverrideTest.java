package org.tdpmmu.scenarios.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.tdpmmu.scenarios.model.HostEvent;
import org.tdpmmu.scenarios.model.Phase;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.model.ScenarioException;

/** Fields set from outside the file are read and checked as the file's own. */
class FieldOverrideTest {

    private static final String YAML = String.join("\n",
            "name: t",
            "vm:",
            "  vcpus: 2",
            "  memoryPerVcpu: 4M",
            "phases:",
            "  - populate: {}",
            "  - enableDirtyLogging: { mode: wrprot }",
            "  - dirtyPass: { iterations: 1, writePercent: 100, seed: 3 }",
            "  - disableDirtyLogging: { strategy: zap_leafs }",
            "  - secondPass: { writePercent: 10 }",
            "host:",
            "  - { kind: migrate, during: secondPass, ratePerSecond: 10 }",
            "");

    private static Scenario load(String... sets) {
        return ScenarioLoader.parse(YAML, "t.yaml", java.util.Arrays.stream(sets).map(s -> FieldOverride.parse(s, "--set")).toList());
    }

    private static String error(String... sets) {
        return assertThrows(ScenarioException.class, () -> load(sets)).getMessage();
    }

    @Test
    void setsFieldsAsTheFileWould() {
        Scenario s = load("vm.vcpus=8", "vm.memoryPerVcpu=2M", "vm.backing=anonymous_thp", "phases[2].dirtyPass.writePercent=50");
        assertEquals(8, s.vm().vcpus());
        assertEquals(2L << 20, s.vm().memoryPerVcpu());
        assertEquals(50, ((Phase.DirtyPass) s.phases().get(2)).writePercent());
        assertEquals(ScenarioLoader.parse(YAML, "t.yaml"), load(), "no overrides: the file as it is");
    }

    @Test
    void seedSetsEverySeed() {
        Scenario s = load("seed=9");
        assertEquals(9, ((Phase.DirtyPass) s.phases().get(2)).seed());
        assertEquals(9, ((Phase.SecondPass) s.phases().get(4)).seed(), "a seed the file left to its default too");
        assertEquals(List.of(9L), s.host().stream().map(HostEvent::seed).toList());
    }

    @Test
    void badValuesNameTheFieldAndNoLine() {
        assertEquals("t.yaml: vm.vcpus: 1000 is out of range 1..512", error("vm.vcpus=1000"));
        String unknown = error("vm.vcpu=4");
        assertTrue(unknown.startsWith("t.yaml: vm.vcpu: unknown field; allowed fields of vm: vcpus, memoryPerVcpu, "
                + "memslots, backing, rootLevel, slotBaseGfn, slots, overlapVcpuMemory"), unknown);
        assertEquals("t.yaml: phases[9].dirtyPass.seed: phases has 5 items (0..4), no item 9",
                error("phases[9].dirtyPass.seed=1"));
        assertEquals("t.yaml: name.x: name is \"t\", not a map", error("name.x=1"));
        assertEquals("--set: \"vm.vcpus\" is not FIELD=VALUE (e.g. vm.vcpus=16)", error("vm.vcpus"));
        assertEquals("t.yaml: vm.vcpus: \"[1, 2]\" must be a single value, not a list", error("vm.vcpus=[1, 2]"));
    }
}
