package org.tdpmmu.scenarios.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.tdpmmu.scenarios.model.RecoveryStrategy;

class ResultModelTest {

    @Test
    void faultsSumOutcomesNotBreakdowns() {
        PhaseResult p = new PhaseResult("dirty-pass-1", 1, null, 0, Map.of("fault.installed", 10L, "fault.retry", 3L,
                "fault.retry.invalidation", 2L, "fault.fast", 5L, "tlb.flush.requests", 9L), null, 0, 0);
        assertEquals(18, p.faults());
        assertEquals(0, p.counter("split"));
        assertEquals(List.of("fault.fast", "fault.installed", "fault.retry", "fault.retry.invalidation", "tlb.flush.requests"),
                List.copyOf(p.counters().keySet()), "sorted");
    }

    @Test
    void perVcpuArrayIsCopied() {
        long[] a = {1, 2};
        PhaseResult p = new PhaseResult("x", 1, a, 0, Map.of(), null, 0, 0);
        a[0] = 99;
        assertArrayEquals(new long[] {1, 2}, p.perVcpuNanos());
        p.perVcpuNanos()[1] = 99;
        assertArrayEquals(new long[] {1, 2}, p.perVcpuNanos());
        assertEquals(p, new PhaseResult("x", 1, new long[] {1, 2}, 0, Map.of(), null, 0, 0));
        assertEquals(0, new PhaseResult("y", 1, null, 0, null, null, 0, 0).perVcpuNanos().length);
    }

    @Test
    void runTotalsAndVerdict() {
        RunResult r = new RunResult("s", RecoveryStrategy.ZAP_HUGE, List.of(
                new PhaseResult("a", 5, null, 7, Map.of("split", 2L), null, 0, 0),
                new PhaseResult("b", 6, null, Long.MAX_VALUE, Map.of("split", 3L, "promote", 1L), null, 0, 0)), List.of());
        assertTrue(r.ok());
        assertEquals(Map.of("split", 5L, "promote", 1L), r.totals());
        assertEquals(11, r.totalWallNanos());
        assertEquals(Long.MAX_VALUE, r.totalModeledNanos());
        assertEquals(Optional.of(6L), r.phase("b").map(PhaseResult::wallNanos));
        assertFalse(new RunResult("s", null, List.of(), List.of(new Violation("no-leak", "x"))).ok());
    }
}
