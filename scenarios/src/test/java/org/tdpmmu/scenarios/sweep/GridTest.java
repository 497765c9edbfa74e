package org.tdpmmu.scenarios.sweep;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.tdpmmu.scenarios.load.FieldOverride;
import org.tdpmmu.scenarios.model.ScenarioException;

class GridTest {

    @Test
    void expandsInWrittenOrderWithTheLastKeyFastest() {
        Grid g = Grid.parse("strategy=*; vm.vcpus=16,32 ; vm.memoryPerVcpu=256M,1G; seed=1..3;");
        assertEquals(3 * 2 * 2 * 3, g.size());
        List<Point> points = g.points();
        assertEquals(g.size(), points.size());
        assertEquals(Map.of("strategy", "zap_leafs", "vm.vcpus", "16", "vm.memoryPerVcpu", "256M", "seed", "1"),
                points.get(0).values());
        assertEquals(Map.of("strategy", "zap_leafs", "vm.vcpus", "16", "vm.memoryPerVcpu", "256M", "seed", "2"),
                points.get(1).values());
        assertEquals(Map.of("strategy", "zap_leafs", "vm.vcpus", "16", "vm.memoryPerVcpu", "1G", "seed", "1"),
                points.get(3).values());
        assertEquals(Map.of("strategy", "promote_in_place", "vm.vcpus", "32", "vm.memoryPerVcpu", "1G", "seed", "3"),
                points.get(35).values());
        for (int i = 0; i < points.size(); i++) {
            assertEquals(i, points.get(i).index());
        }
        assertEquals(List.of("strategy", "vm.vcpus", "vm.memoryPerVcpu", "seed"), List.copyOf(points.get(0).values().keySet()));
    }

    @Test
    void switchesAreNotFieldOverrides() {
        Point p = Grid.parse("strategy=zap_huge; vm.vcpus=4; seed=7").points().get(0);
        assertEquals(List.of(new FieldOverride("vm.vcpus", "4"), new FieldOverride("seed", "7")), p.overrides());
        assertEquals(List.of("--strategy", "zap_huge", "--set", "vm.vcpus=4", "--set", "seed=7"), p.runArgs());
        assertEquals("point 0 (strategy=zap_huge, vm.vcpus=4, seed=7)", p.describe());
    }

    private static String error(String grid) {
        return assertThrows(ScenarioException.class, () -> Grid.parse(grid)).getMessage();
    }

    @Test
    void malformedGridsAreNamedByTheirKey() {
        assertEquals("--grid: vm.vcpus: empty list of values", error("vm.vcpus="));
        assertEquals("--grid: vm.vcpus: empty value in \"16,,32\"", error("vm.vcpus=16,,32"));
        assertEquals("--grid: seed: bad range \"5..1\": 5 is greater than 1", error("seed=5..1"));
        assertEquals("--grid: seed: bad range \"1..x\": a range is of integers, FROM..TO (e.g. 1..5)", error("seed=1..x"));
        assertEquals("--grid: seed: given twice; list all its values once (seed=a,b,c)", error("seed=1; vm.vcpus=2; seed=2"));
        assertEquals("--grid: vm.vcpus: value 16 is listed twice", error("vm.vcpus=16,32,16"));
        assertEquals("--grid: seed: value 3 is listed twice", error("seed=1..3,3"));
        assertEquals("--grid: strategy: \"zap_all\" is not one of zap_leafs, zap_huge, promote_in_place",
                error("strategy=zap_all"));
        assertEquals("--grid: vm.vcpus: '*' (every value) is for switches (strategy); list a field's values",
                error("vm.vcpus=*"));
        assertEquals("--grid: \"vm.vcpus 16\" is not KEY=VALUES (e.g. vm.vcpus=16,32 or seed=1..5)", error("vm.vcpus 16"));
        assertEquals("--grid: \"vm..vcpus\" is not a switch (strategy) nor a field path such as vm.vcpus or "
                + "phases[2].dirtyPass.seed", error("vm..vcpus=1"));
        assertEquals("--grid: no keys; write KEY=VALUES separated by ';' (e.g. 'strategy=*; seed=1..5')", error(" ; "));
        assertEquals("--grid: b: the grid has more than 100000 points", error("a=1..1000; b=1..1000"));
    }
}
