package org.tdpmmu.scenarios.cli;

import java.util.List;
import java.util.Locale;
import org.tdpmmu.scenarios.engine.PhaseResult;
import org.tdpmmu.scenarios.engine.RunResult;
import org.tdpmmu.scenarios.model.HarvestMethod;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.model.Sizes;
import org.tdpmmu.scenarios.report.Formats;
import org.tdpmmu.scenarios.report.Metrics;

/**
 * The perf command's text: the lines dirty_log_perf_test prints, with the same wording and the same
 * {@code seconds.nanoseconds} format, then tdpmmu's own lines after a separator.
 */
final class PerfOutput {

    private PerfOutput() {
    }

    /**
     * The lines before the run: {@code Test iterations: N} as the kernel test prints it first, then
     * ours in the place of its "Testing guest mode" line, then the test memory range as memstress
     * prints it.
     */
    static String header(Scenario s, int iterations) {
        long gpa = s.vm().slots().get(0).baseGfn() * Sizes.KIB_4;
        return "Test iterations: " + iterations + "\n" + String.format(Locale.ROOT, "tdpmmu perf: %d vCPU%s x %s, %s, %d memslot%s, %d-level root%s%n"
                        + "guest physical test memory: [0x%x, 0x%x)%n",
                s.vm().vcpus(), s.vm().vcpus() == 1 ? "" : "s", Sizes.format(s.vm().memoryPerVcpu()),
                s.vm().slots().get(0).backing().yamlName(), s.vm().memslots(), s.vm().memslots() == 1 ? "" : "s",
                s.vm().rootLevel(), s.vm().overlapVcpuMemory() ? ", vCPU memory overlapping" : "",
                gpa, gpa + s.vm().totalBytes());
    }

    static String lines(Scenario s, RunResult r) {
        StringBuilder sb = new StringBuilder();
        long getTotal = 0;
        long clearTotal = 0;
        int gets = 0;
        int clears = 0;
        for (PhaseResult p : r.phases()) {
            String n = p.name();
            String t = Formats.kernelSeconds(p.wallNanos());
            if (n.equals("populate")) {
                sb.append("Populate memory time: ").append(t).append('\n');
            } else if (n.equals("enable-dirty-logging")) {
                // the kernel test ends this line with a blank line
                sb.append("Enabling dirty logging time: ").append(t).append("\n\n");
            } else if (n.startsWith("dirty-pass-")) {
                sb.append("Iteration ").append(suffix(n)).append(" dirty memory time: ").append(t).append('\n');
            } else if (n.startsWith("get-dirty-log-")) {
                sb.append("Iteration ").append(suffix(n)).append(" get dirty log time: ").append(t).append('\n');
                getTotal += p.wallNanos();
                gets++;
            } else if (n.startsWith("clear-dirty-log-")) {
                sb.append("Iteration ").append(suffix(n)).append(" clear dirty log time: ").append(t).append('\n');
                clearTotal += p.wallNanos();
                clears++;
            } else if (n.startsWith("collect-dirty-ring-")) {
                // tdpmmu's ring lines, worded as the bitmap's (the kernel test has no ring mode)
                sb.append("Iteration ").append(suffix(n)).append(" collect dirty ring time: ").append(t).append('\n');
                getTotal += p.wallNanos();
                gets++;
            } else if (n.startsWith("reset-dirty-rings-")) {
                sb.append("Iteration ").append(suffix(n)).append(" reset dirty rings time: ").append(t).append('\n');
                clearTotal += p.wallNanos();
                clears++;
            } else if (n.equals("disable-dirty-logging")) {
                sb.append("Disabling dirty logging time: ").append(t).append('\n');
            }
        }
        boolean ring = s.harvestMethod().orElse(null) == HarvestMethod.RING;
        if (gets > 0) {
            sb.append(summary(ring ? "Collect" : "Get", ring ? "dirty ring" : "dirty log", gets, getTotal));
        }
        if (clears > 0) {
            sb.append(summary(ring ? "Reset" : "Clear", ring ? "dirty rings" : "dirty log", clears, clearTotal));
        }
        if (ring) {
            sb.append("Dirty ring: ").append(Formats.count(r.totals().getOrDefault("ring.pushed", 0L)))
                    .append(" entries pushed, ").append(Formats.count(r.totals().getOrDefault("ring.reset", 0L)))
                    .append(" reset in ").append(Formats.count(r.totals().getOrDefault("ring.reset.masks", 0L)))
                    .append(" masks, ").append(Formats.count(r.totals().getOrDefault("ring.full.exits", 0L)))
                    .append(" KVM_EXIT_DIRTY_RING_FULL exits\n");
        }
        sb.append("--- tdpmmu ---\n");
        if (r.runs().size() > 1) {
            sb.append("Wall times above are medians of ").append(r.runs().size())
                    .append(" runs; per step, min-max:\n");
            for (PhaseResult p : r.phases()) {
                RunResult.Spread w = r.wallSpread(p.name()).orElseThrow();
                sb.append("  ").append(p.name()).append(": ").append(Formats.kernelSeconds(w.min())).append(" - ")
                        .append(Formats.kernelSeconds(w.max())).append('\n');
            }
            List<String> diffs = r.repeatDifferences();
            sb.append(diffs.isEmpty() ? "Modeled time and every count were identical in every run\n"
                    : "Counts that differed between runs (shown: the median run's): " + String.join("; ", diffs) + "\n");
        }
        r.phase("second-pass").ifPresent(p -> sb.append("Second pass time: ")
                .append(Formats.kernelSeconds(p.wallNanos())).append('\n'));
        r.phase("teardown").ifPresent(p -> sb.append("Teardown time: ")
                .append(Formats.kernelSeconds(p.wallNanos())).append('\n'));
        sb.append("Recovery strategy: ").append(r.strategy() == null ? "-" : r.strategy().yamlName()).append('\n');
        Metrics.faultsAfterDisable(r).ifPresent(f ->
                sb.append("Faults after disabling dirty logging: ").append(Formats.count(f)).append('\n'));
        Metrics.disableStep(r).ifPresent(p -> sb.append("TLB flushes at disable: ")
                .append(Formats.count(p.counter("tlb.flush.requests"))).append(" requests, ")
                .append(Formats.count(p.counter("tlb.flush.vcpus"))).append(" vCPU interruptions\n"));
        sb.append("Total faults: ").append(Formats.count(r.phases().stream().mapToLong(PhaseResult::faults).sum()))
                .append(", TLB flush requests: ").append(Formats.count(r.totals().getOrDefault("tlb.flush.requests", 0L)))
                .append('\n');
        Metrics.disableStep(r).ifPresent(p -> sb.append("Disabling dirty logging modeled time: ")
                .append(Formats.kernelSeconds(p.modeledNanos())).append('\n'));
        sb.append("Modeled time (all threads): ").append(Formats.kernelSeconds(r.totalModeledNanos())).append('\n');
        Metrics.faultLatency(r).ifPresent(h -> sb.append("Fault latency: ")
                .append(String.join(", ", Metrics.percentiles(h).entrySet().stream()
                        .map(e -> e.getKey() + " " + Formats.duration(e.getValue())).toList())).append('\n'));
        sb.append(r.ok() ? "Safety: OK\n" : "Safety: " + r.violations().size() + " violation(s), listed on stderr\n");
        return sb.toString();
    }

    private static String summary(String what, String log, int n, long total) {
        return what + " " + log + " over " + n + " iterations took " + Formats.kernelSeconds(total)
                + ". (Avg " + Formats.kernelSeconds(total / n) + "/iteration)\n";
    }

    private static String suffix(String name) {
        return name.substring(name.lastIndexOf('-') + 1);
    }
}
