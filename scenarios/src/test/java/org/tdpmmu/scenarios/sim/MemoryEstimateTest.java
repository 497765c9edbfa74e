package org.tdpmmu.scenarios.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.tdpmmu.scenarios.engine.PhaseResult;
import org.tdpmmu.scenarios.engine.ProgressListener;
import org.tdpmmu.scenarios.engine.RunResult;
import org.tdpmmu.scenarios.load.ScenarioLoader;
import org.tdpmmu.scenarios.model.Backing;
import org.tdpmmu.scenarios.model.CostModel;
import org.tdpmmu.scenarios.model.HarvestMethod;
import org.tdpmmu.scenarios.model.AccessPattern;
import org.tdpmmu.scenarios.model.Phase;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.model.SlotConfig;
import org.tdpmmu.scenarios.model.VmConfig;
import org.tdpmmu.scenarios.support.Shipped;

/** The memory estimate: an upper bound on what a run really reserves, not absurdly above it, and no overflow. */
class MemoryEstimateTest
{
    /** How far above the real reservation the estimate may be (the decision documented in FORMAT.md). */
    private static final double MAX_OVERESTIMATE = 4.0;

    private static long directPoolUsed()
    {
        for (final BufferPoolMXBean b : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class))
        {
            if (b.getName().equals("direct"))
            {
                return b.getMemoryUsed();
            }
        }
        throw new IllegalStateException("no direct buffer pool");
    }

    /**
     * The shipped scenarios a unit test can afford (kernel-sized takes 96 GiB of guest memory): the
     * off-heap bytes the store and host memory report at their peak are at most the estimate of the
     * same two, and at least a quarter of it; the direct pool grows by no more than the whole
     * direct estimate (a GC in between can only make the growth smaller).
     */
    @ParameterizedTest
    @ValueSource(strings = {"small-default.yaml", "migration-race.yaml", "mixed-backing.yaml"})
    void estimateBoundsWhatAShippedScenarioReserves(final String file) throws Exception
    {
        final Scenario s = ScenarioLoader.load(Shipped.path(file));
        final MemoryEstimate e = MemoryEstimate.of(s, 1, MemoryEstimate.Output.TEXT, false);
        final long before = directPoolUsed();
        final RunResult r;
        final long grown;
        try (ScenarioRun run = new ScenarioRun(s, ProgressListener.NONE))
        {
            r = run.execute();
            grown = directPoolUsed() - before;
        }
        assertTrue(r.ok(), () -> file + ": " + r.violations());
        final long peak = r.phases().stream().mapToLong(PhaseResult::offHeapBytes).max().orElseThrow();
        final long estimated = e.tableBytes() + e.hostBytes();
        assertTrue(peak <= estimated, () -> file + ": reserved " + peak + " > estimate " + estimated);
        assertTrue(estimated <= MAX_OVERESTIMATE * peak, () -> file + ": estimate " + estimated + " > "
            + MAX_OVERESTIMATE + " x reserved " + peak);
        assertTrue(grown <= e.directBytes(), () -> file + ": direct pool grew " + grown + " > " + e.directBytes());
    }

    private static long usedHeapAfterGc()
    {
        System.gc();
        System.gc();
        return Runtime.getRuntime().totalMemory() - Runtime.getRuntime().freeMemory();
    }

    /**
     * Many steps on a tiny VM, where the step results are the heap: what the kept results hold after
     * a full collection is below the estimate of the VM and the results.
     */
    @Test
    void heapEstimateBoundsTheKeptResults() throws Exception
    {
        final Scenario s = ScenarioLoader.parse("name: many\nvm: { vcpus: 2, memoryPerVcpu: 64K }\nphases:\n  - populate\n"
            + "  - enableDirtyLogging\n  - dirtyPass: { iterations: 300, pattern: random }\n", "many.yaml");
        final MemoryEstimate e = MemoryEstimate.of(s, 1, MemoryEstimate.Output.TEXT, false);
        final long before = usedHeapAfterGc();
        final RunResult r = new MmuEngine().run(s, ProgressListener.NONE);
        final long held = usedHeapAfterGc() - before;
        assertTrue(r.ok(), () -> r.violations().toString());
        assertEquals(902, r.phases().size());
        final long bound = e.heapBytes() - MemoryEstimate.BASE_HEAP;
        System.out.printf("heap held by %d step results: %d bytes, estimate %d (%.1fx)%n", r.phases().size(), held,
            bound, bound / (double)held);
        assertTrue(held <= bound, () -> "results hold " + held + " > estimate " + bound);
    }

    /**
     * The store's capacity counts the vCPUs' memory caches: 512 vCPUs on 4 KiB each once exhausted
     * the store in populate (a violation per vCPU) although the estimate had admitted the run.
     */
    @Test
    void manyVcpusOnLittleMemoryFitTheStore() throws Exception
    {
        final Scenario s = ScenarioLoader.parse("name: crowd\nvm: { vcpus: 512, memoryPerVcpu: 4K }\nphases: [populate, "
            + "enableDirtyLogging, dirtyPass, disableDirtyLogging, secondPass, teardown]\n", "crowd.yaml");
        final RunResult r = new MmuEngine().run(s, ProgressListener.NONE);
        assertTrue(r.ok(), () -> r.violations().size() + " violations, first " + r.violations().get(0));
        assertTrue(MemoryEstimate.tableCapacity(s) >= 512 * 5);
    }

    /** The engine sizes its VM with the estimate's own rules. */
    @Test
    void engineAndEstimateShareTheSizing() throws Exception
    {
        final Scenario s = ScenarioLoader.load(Shipped.path("small-default.yaml"));
        try (ScenarioRun run = new ScenarioRun(s, ProgressListener.NONE))
        {
            final java.lang.reflect.Field vm = ScenarioRun.class.getDeclaredField("vm");
            vm.setAccessible(true);
            final org.tdpmmu.core.Vm v = (org.tdpmmu.core.Vm)vm.get(run);
            assertEquals(MemoryEstimate.tableCapacity(s), v.config().tableCapacity());
            assertEquals(MemoryEstimate.hostFrameLimit(s), v.config().hostFrameLimit());
        }
    }

    /**
     * The whole 57-bit guest physical space of a 5-level root, every vCPU over all of it, the most
     * iterations: every figure saturates instead of wrapping, and the scenario is refused.
     */
    @Test
    void theLargestScenarioSaturatesAndIsRefused()
    {
        final List<SlotConfig> slots = new ArrayList<>();
        final long perSlot = SlotConfig.MAX_PAGES;
        for (int i = 0; i < 16384; i++)
        {
            slots.add(new SlotConfig(i, i * perSlot, perSlot, Backing.ANONYMOUS));
        }
        final long total = 16384 * perSlot;
        assertTrue(total <= 1L << 45);
        final VmConfig vm = new VmConfig(512, total / 512 * 4096, 5, slots, true);
        final Scenario s = new Scenario("top", "", vm, CostModel.defaults(), List.of(new Phase.Populate(),
            new Phase.EnableDirtyLogging(org.tdpmmu.scenarios.model.DirtyLogMode.WRPROT, false, false),
            new Phase.DirtyPass(100_000, 100, AccessPattern.SEQUENTIAL, 0, 1, HarvestMethod.CLEAR)), List.of(), "top.yaml");
        final MemoryEstimate e = MemoryEstimate.of(s, 3, MemoryEstimate.Output.JSON, true);
        assertEquals(1L << 30, MemoryEstimate.tableCapacity(s), "capped at the store's largest capacity");
        assertEquals((1L << 42) + (1L << 17) * 4096, e.tableBytes(), "2^30 tables of 4 KiB, and a page per 2^13-table chunk");
        assertTrue(e.hostBytes() >= total * 8, "host frames: 8 bytes per page, no wrap: " + e.hostBytes());
        assertTrue(e.tableBytes() > 0 && e.bitmapBytes() >= total / 8 && e.heapBytes() > 0, e.describe());
        assertEquals(Long.MAX_VALUE, e.accesses(), "512 vCPUs x 2^45 pages x 10^5 passes x 3 runs saturates");
        assertEquals(300_002L, e.steps());
        assertTrue(e.describe().contains("3 x 300 k step results"), e.describe());
        assertTrue(e.directBytes() > 0 && e.directBytes() >= e.hostBytes());
        final String refusal = e.refusal(new MemoryEstimate.Limits(1L << 40, 1L << 40, 1L << 42)).orElseThrow();
        assertTrue(refusal.contains("needs about") && refusal.contains("RAM"), refusal);
        assertFalse(refusal.contains("-"), "no negative figure: " + refusal);
        assertTrue(e.longRunNote().isPresent());
    }

    @Test
    void refusalNamesTheEstimateTheLimitAndHowToRaiseIt()
    {
        final Scenario s = ScenarioLoader.parse("name: big\nvm: { vcpus: 1, memoryPerVcpu: 1T }\nphases: [populate]\n", "big.yaml");
        final MemoryEstimate e = MemoryEstimate.of(s, 1, MemoryEstimate.Output.TEXT, false);
        assertTrue(e.refusal(new MemoryEstimate.Limits(1L << 40, 1L << 40, 0)).isEmpty(), "fits a 1 TiB JVM");
        final String m = e.refusal(new MemoryEstimate.Limits(8L << 30, 1L << 30, 64L << 30)).orElseThrow();
        assertTrue(m.startsWith("scenario big needs about 6.1 GiB of direct memory (page tables 4.0 GiB, host frames "
            + "2.0 GiB) but this JVM allows 1 GiB; raise the limits with TDPMMU_JAVA_OPTS='-Xmx"), m);
        assertTrue(m.endsWith(" -XX:MaxDirectMemorySize=7g' (see README)"), m);
        assertFalse(m.contains("\n"));
        // 2^28 pages, four passes' worth of accesses and visits: announced, not refused
        assertTrue(e.longRunNote().isEmpty(), "one populate pass of 1 TiB is 268 M accesses");
        final Scenario perf = ScenarioLoader.parse("name: long\nvm: { vcpus: 1, memoryPerVcpu: 1T }\nphases: [populate, "
            + "enableDirtyLogging, { dirtyPass: { iterations: 2 } }, disableDirtyLogging, secondPass, teardown]\n", "l.yaml");
        final String note = MemoryEstimate.of(perf, 1, MemoryEstimate.Output.TEXT, false).longRunNote().orElseThrow();
        assertTrue(note.startsWith("note: scenario long is long: 1.1 G guest accesses, "), note);
    }

    @Test
    void limitsOfThisJvm()
    {
        final MemoryEstimate.Limits l = MemoryEstimate.Limits.current();
        assertEquals(Runtime.getRuntime().maxMemory(), l.heapBytes());
        assertTrue(l.directBytes() > 0);
    }
}
