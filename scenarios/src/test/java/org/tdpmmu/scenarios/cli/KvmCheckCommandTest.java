package org.tdpmmu.scenarios.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tdpmmu.scenarios.kvm.Kvm;
import org.tdpmmu.scenarios.kvm.KvmUnavailableException;

/**
 * kvm-check and perf --beside-kernel: a real run where /dev/kvm works (skipped with the reason
 * elsewhere), one clear line and exit 3 where it does not, and the kernel-line parsing.
 */
class KvmCheckCommandTest {
    private static final String TINY = String.join("\n",
            "name: tiny",
            "vm:",
            "  vcpus: 2",
            "  slots:",
            "    - { size: 2M, backing: anonymous }",
            "    - { size: 2M, backing: anonymous_hugetlb_2mb }",
            "phases:",
            "  - populate",
            "  - enableDirtyLogging: { mode: dbit }",
            "  - dirtyPass: { iterations: 2, writePercent: 50, pattern: random, seed: 2, harvest: clear }",
            "  - disableDirtyLogging",
            "  - teardown",
            "");

    private static void assumeKvm() {
        try {
            Kvm.require();
        } catch (KvmUnavailableException e) {
            Assumptions.abort("skipped: " + e.getMessage());
        }
    }

    @Test
    void everyHarvestMatchesTheRealKvm(@TempDir Path dir) throws Exception {
        assumeKvm();
        final Path f = dir.resolve("tiny.yaml");
        Files.writeString(f, TINY);
        final CliHarness.Outcome o = CliHarness.run(null, "kvm-check", f.toString());
        assertEquals(0, o.exitCode(), o.out() + o.err());
        assertTrue(o.out().contains("host KVM: "), o.out());
        assertTrue(o.out().contains("method initially-set, 2 vCPUs"), o.out());
        assertTrue(o.out().contains("pf_taken"), "KVM's statistics are printed: " + o.out());
        assertTrue(o.out().contains("every harvest identical"), o.out());
    }

    /** TINY with ring tracking: its harvests are ring steps only, no get step. */
    private static final String TINY_RING = TINY
            .replace("name: tiny", "name: tiny-ring")
            .replace("{ mode: dbit }", "{ mode: dbit, tracking: ring, ringEntries: 1024 }")
            .replace("harvest: clear", "harvest: ring");

    @Test
    void ringStepsAreHarvestPointsOnTheRealRing(@TempDir Path dir) throws Exception {
        assumeKvm();
        final Path f = dir.resolve("tiny-ring.yaml");
        Files.writeString(f, TINY_RING);
        final CliHarness.Outcome o = CliHarness.run(null, "kvm-check", f.toString());
        assertEquals(0, o.exitCode(), o.out() + o.err());
        // Before, the collect steps were passed over: "0 harvests compared" for every method.
        assertTrue(o.out().contains("method get, 2 vCPUs: 2 harvests compared"), o.out());
        if (Kvm.dirtyRingMaxBytes() > 0) {
            assertTrue(o.out().contains("method ring, 2 vCPUs: 2 harvests compared"), o.out());
        } else {
            assertTrue(o.out().contains("ring steps (collect-dirty-ring-j, reset-dirty-rings-j) are not run"), o.out());
        }
        assertTrue(o.out().contains("every harvest identical"), o.out());
    }

    @Test
    void ringStepsAreSkippedWithTheReasonWithoutTheCapability(@TempDir Path dir) throws Exception {
        assumeKvm();
        final Path f = dir.resolve("tiny-ring.yaml");
        Files.writeString(f, TINY_RING);
        System.setProperty("tdpmmu.kvm.hideDirtyRing", "true");
        try {
            final CliHarness.Outcome o = CliHarness.run(null, "kvm-check", f.toString());
            assertEquals(0, o.exitCode(), o.out() + o.err());
            assertTrue(o.out().contains("are not run on the real KVM's rings, skipped: this host's KVM offers neither "
                    + "KVM_CAP_DIRTY_LOG_RING nor KVM_CAP_DIRTY_LOG_RING_ACQ_REL"), o.out());
            assertTrue(!o.out().contains("method ring,"), o.out());
            assertTrue(o.out().contains("method clear, 2 vCPUs: 2 harvests compared"), o.out());
        } finally {
            System.clearProperty("tdpmmu.kvm.hideDirtyRing");
        }
    }

    @Test
    void aMissingDeviceIsOneLineAndExit3(@TempDir Path dir) throws Exception {
        final Path f = dir.resolve("tiny.yaml");
        Files.writeString(f, TINY);
        System.setProperty("tdpmmu.kvm.device", dir.resolve("no-kvm").toString());
        try {
            final CliHarness.Outcome o = CliHarness.run(null, "kvm-check", f.toString());
            assertEquals(3, o.exitCode(), o.err());
            assertEquals(1, o.err().strip().lines().count(), o.err());
            assertTrue(o.err().contains("does not exist"), o.err());
            final CliHarness.Outcome p = CliHarness.run(null, "perf", "-b", "4M", "--beside-kernel", "/bin/true");
            assertEquals(3, p.exitCode(), p.err());
            assertEquals(1, p.err().strip().lines().count(), p.err());
        } finally {
            System.clearProperty("tdpmmu.kvm.device");
        }
    }

    /** The kernel's test as scripts/kernel-selftests.sh caches it, or a skip saying so. */
    private static Path kernelTest() throws Exception {
        final Path cache = Path.of(System.getProperty("user.dir")).resolveSibling("target").resolve("kernel-selftests");
        if (Files.isDirectory(cache)) {
            try (var releases = Files.list(cache)) {
                for (Path r : (Iterable<Path>) releases::iterator) {
                    if (Files.isExecutable(r.resolve("dirty_log_perf_test"))) {
                        return r.resolve("dirty_log_perf_test");
                    }
                }
            }
        }
        Assumptions.abort("skipped: no dirty_log_perf_test under " + cache + " (run scripts/kernel-selftests.sh)");
        return null;
    }

    @Test
    void perfBesideTheKernelPrintsBothColumns() throws Exception {
        assumeKvm();
        final Path bin = kernelTest();
        final CliHarness.Outcome o = CliHarness.run(null, "perf", "-b", "4M", "-i", "2", "--no-progress",
                "--beside-kernel", bin.toString());
        assertEquals(0, o.exitCode(), o.out() + o.err());
        assertTrue(o.out().startsWith("host KVM: "), o.out());
        assertTrue(o.out().contains("-b 4M -i 2"), "the kernel test got the same flags: " + o.out());
        // a small VM repeats by default (3 runs): the kernel test runs as often, its spread in the last column
        assertTrue(o.out().contains("mean of 3"), o.out());
        assertTrue(o.out().lines().anyMatch(l -> l.startsWith("Populate memory time")
                && l.matches(".*s .*s .*s .*x .*x +\\d+\\.\\d{9}s - \\d+\\.\\d{9}s")), o.out());
        final CliHarness.Outcome j = CliHarness.run(null, "perf", "-b", "4M", "-i", "2", "--json", "--no-progress",
                "--beside-kernel", bin.toString());
        assertEquals(0, j.exitCode(), j.err());
        assertTrue(j.out().contains("\"format\" : \"tdpmmu-beside-kernel/1\""), j.out());
        assertTrue(j.out().contains("\"tdp_mmu\""), j.out());
    }

    @Test
    void onlyTheKernelsFlagsGoToTheKernelTest() {
        assertEquals(List.of("-v", "2", "-b", "64M", "-a", "-i3", "-g"), BesideKernel.kernelArgs(List.of(
                "-v", "2", "--strategy", "zap_huge", "-b", "64M", "-a", "--dbit", "-i3", "--beside-kernel", "/x",
                "-g", "--json")));
    }

    @Test
    void kernelLinesAreParsedToNanoseconds() {
        final Map<String, Long> m = BesideKernel.parse(String.join("\n",
                "Testing guest mode: PA-bits:ANY, VA-bits:48,  4K pages",
                "Populate memory time: 1.500000000s",
                "Iteration 1 dirty memory time: 0.000123456s",
                "Get dirty log over 2 iterations took 0.5s. (Avg 0.25s/iteration)"));
        assertEquals(1_500_000_000L, m.get("Populate memory time"));
        assertEquals(123_456L, m.get("Iteration 1 dirty memory time"));
        assertEquals(500_000_000L, m.get("Get dirty log over 2 iterations"));
        assertEquals(3, m.size());
    }

    @Test
    void repeatedKernelRunsGiveEachLineItsMedianAndSpread() {
        // --repeat 3 beside the kernel: the kernel test runs three times too, each line its median
        final List<Map<String, Long>> runs = List.of(
                Map.of("Populate memory time", 3L, "Iteration 1 dirty memory time", 10L),
                Map.of("Populate memory time", 1L),
                Map.of("Populate memory time", 2L, "Iteration 1 dirty memory time", 30L));
        final Map<String, Long> m = BesideKernel.medians(runs);
        assertEquals(2L, m.get("Populate memory time"));
        assertEquals(10L, m.get("Iteration 1 dirty memory time"), "the lower middle of the two runs that have it");
        assertEquals("0.000000001s - 0.000000003s", BesideKernel.spreadOf(runs, "Populate memory time"));
        assertEquals("-", BesideKernel.spreadOf(runs, "Disabling dirty logging time"));
    }
}
