package org.tdpmmu.scenarios.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;
import org.tdpmmu.scenarios.model.AccessPattern;
import org.tdpmmu.scenarios.model.Backing;
import org.tdpmmu.scenarios.model.CostModel;
import org.tdpmmu.scenarios.model.Phase;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.model.VmConfig;

/**
 * {@code tdpmmu access -l -p}: the aging passes run while the vCPUs populate (the kernel test's
 * run_benchmark), and what the cost model charges for them in each locking mode.
 */
class AccessTrackingBenchmarkTest
{
    private static final int VCPUS = 3;
    /** 1 MiB a vCPU: 256 pages, 128 before the halfway point. */
    private static final long PAGES = 256;

    private static Scenario scenario(final boolean lockless)
    {
        final VmConfig vm = VmConfig.uniform(VCPUS, PAGES * 4096, 1, Backing.ANONYMOUS, 4, VmConfig.DEFAULT_SLOT_BASE_GFN)
            .withLocklessAging(lockless);
        return new Scenario("access", "test", vm, CostModel.defaults(),
            List.of(new Phase.Populate(), new Phase.SecondPass(100, AccessPattern.SEQUENTIAL, 0, 1), new Phase.Teardown()),
            List.of(), "<test>");
    }

    /**
     * Holds every vCPU halfway through its populate until the aging thread has finished a pass, and
     * the aging thread's first pass until every vCPU is halfway.
     */
    private static final class Gate implements AccessTracking.BenchmarkHook
    {
        final CountDownLatch halfway = new CountDownLatch(VCPUS);
        final CountDownLatch firstPass = new CountDownLatch(1);
        final AtomicLong firstMet = new AtomicLong(-1);

        @Override
        public void vcpuHalfway(final int vcpu) throws InterruptedException
        {
            halfway.countDown();
            if (!firstPass.await(30, TimeUnit.SECONDS))
            {
                throw new AssertionError("vCPU " + vcpu + ": no aging pass ended while it was populating");
            }
        }

        @Override
        public void beforePass(final int pass) throws InterruptedException
        {
            if (pass == 0 && !halfway.await(30, TimeUnit.SECONDS))
            {
                throw new AssertionError("the vCPUs did not populate while the aging thread ran");
            }
        }

        @Override
        public void afterPass(final int pass, final long pagesMet)
        {
            if (pass == 0)
            {
                firstMet.set(pagesMet);
                firstPass.countDown();
            }
        }
    }

    /**
     * Every vCPU stops halfway through its populate until the aging thread has finished a pass; the
     * aging thread starts its first pass only once all of them are halfway. So the first pass meets
     * exactly half of every vCPU's pages. Run one after the other (vCPUs first, or aging first), the
     * vCPUs would wait for a pass that never comes, or the pass would meet no page or all of them.
     */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void agingPassesRunWhileTheVcpusPopulate(final boolean lockless) throws Exception
    {
        final Gate hook = new Gate();
        final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        final AccessTracking.Result r = AccessTracking.run(scenario(lockless), true, false,
            new PrintStream(bytes, true, StandardCharsets.UTF_8), new AccessTracking.Options(true, true), hook);
        final String out = bytes.toString(StandardCharsets.UTF_8);
        assertEquals(VCPUS * PAGES / 2, hook.firstMet.get(), "the first pass met the first half of every vCPU's pages: " + out);
        final AccessTracking.Benchmark b = r.benchmark();
        assertTrue(b.passes() >= 1, out);
        assertTrue(b.agingNanos() > 0 && b.vcpuWallNanos() > 0, out);
        // Every pass met a page a call at least (the first pass: host PTEs young, clear_young only).
        assertTrue(b.calls() >= b.pagesMet() && b.pagesMet() >= VCPUS * PAGES / 2, out);
        final CostModel u = CostModel.defaults();
        // The first pass ran entirely while every vCPU was halfway.
        assertTrue(b.callsWhilePopulating() >= VCPUS * PAGES / 2, out);
        assertEquals(b.calls() * (u.unit("age.gfn") + (lockless ? 0 : u.unit("age.lock.wait"))), b.agingModeledNanos(),
            "every call is charged age.gfn, and with mmu_lock the wait too");
        assertTrue(out.contains("Running lru_gen benchmark..."), out);
        assertTrue(out.lines().anyMatch(l -> l.matches("vcpu wall time {16}: \\d+\\.\\d{9}s")), out);
        assertTrue(out.lines().anyMatch(l -> l.matches(
            "lru_gen avg pass duration {5}: \\d+\\.\\d{9}s, \\(passes:\\d+, total:\\d+\\.\\d{9}s\\)")), out);
    }

    /** The vCPUs' modeled time gains the stall of the locked calls beside them, in the locked mode only. */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void theLockCostsTheVcpusTheirStall(final boolean lockless) throws Exception
    {
        final AccessTracking.Benchmark b = AccessTracking.run(scenario(lockless), true, false,
            new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8),
            new AccessTracking.Options(true, true), new Gate()).benchmark();
        final CostModel u = CostModel.defaults();
        final long own = b.vcpuModeledNanos() - b.vcpuStallNanos();
        if (lockless)
        {
            assertEquals(0, b.vcpuStallNanos());
        }
        else
        {
            // T = T0 + T x stall / (gfn + wait): the stall is T's share stall / (gfn + wait).
            final double share = (double)u.unit("age.lock.stall") / (u.unit("age.gfn") + u.unit("age.lock.wait"));
            assertEquals(share, (double)b.vcpuStallNanos() / b.vcpuModeledNanos(), 1e-6);
        }
        // A vCPU's own populate: a fault and an exit a page at least.
        assertTrue(own >= PAGES * (u.unit("fault") + u.unit("vmexit")),
            "modeled " + b.vcpuModeledNanos());
    }

    @Test
    void theBenchmarkNeedsLruGen()
    {
        final IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> new AccessTracking.Options(false, true));
        assertEquals("-p specified without -l", e.getMessage());
    }
}
