package org.tdpmmu.scenarios.engine;

import java.util.Arrays;
import java.util.Collections;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import org.HdrHistogram.Histogram;

/**
 * The measurements of one step of a run.
 *
 * <p>Counter names are open-ended; the reports read these: {@code fault.X} (one counter per fault
 * outcome — {@code fault.installed}, {@code fault.retry}, {@code fault.spurious}, {@code fault.fast};
 * their sum is "faults"; a deeper name such as {@code fault.retry.invalidation} is a breakdown of
 * {@code fault.retry}, not summed again), {@code tlb.flush.requests}, {@code tlb.flush.vcpus}, {@code walk.levels},
 * {@code table.alloc}, {@code table.free}, {@code spte.cmpxchg.fail}, {@code zap.leaf},
 * {@code zap.nonleaf}, {@code split}, {@code promote}, {@code promote.skip.<reason>},
 * {@code dirty.wrprot}, {@code dirty.dbit.cleared}, {@code vmexit}.
 *
 * @param name           the step name ({@code populate}, {@code dirty-pass-1}, {@code get-dirty-log-1},
 *                       {@code clear-dirty-log-1}, {@code disable-dirty-logging}, {@code second-pass},
 *                       {@code teardown}, ...; see {@link org.tdpmmu.scenarios.model.Step})
 * @param wallNanos      wall-clock time of the step in the simulator
 * @param perVcpuNanos   per vCPU, the time its own part of the step took (index = vCPU id); empty when
 *                       the step is not per vCPU. Copied in and out.
 * @param modeledNanos   {@link org.tdpmmu.scenarios.model.CostModel#modeledNanos} of {@code counters}
 * @param counters       counter deltas over the step, by name (unmodifiable, sorted by name)
 * @param faultLatency   latency of each fault handled during the step, in ns; null if none recorded.
 *                       Readers must not modify it.
 * @param peakLiveTables the most page-table pages alive at once during the step
 * @param offHeapBytes   off-heap bytes the page-table store held at the end of the step
 */
public record PhaseResult(String name, long wallNanos, long[] perVcpuNanos, long modeledNanos,
                          Map<String, Long> counters, Histogram faultLatency, long peakLiveTables,
                          long offHeapBytes) {

    public PhaseResult {
        Objects.requireNonNull(name, "name");
        perVcpuNanos = perVcpuNanos == null ? new long[0] : perVcpuNanos.clone();
        counters = Collections.unmodifiableMap(new TreeMap<>(counters == null ? Map.of() : counters));
    }

    @Override
    public long[] perVcpuNanos() {
        return perVcpuNanos.clone();
    }

    /** The counter {@code name}, 0 if absent. */
    public long counter(String name) {
        return counters.getOrDefault(name, 0L);
    }

    /** The sum of the counters named {@code prefix} or starting with {@code prefix + "."}. */
    public long counterFamily(String prefix) {
        long sum = 0;
        for (Map.Entry<String, Long> e : counters.entrySet()) {
            if (e.getKey().equals(prefix) || e.getKey().startsWith(prefix + ".")) {
                sum += e.getValue();
            }
        }
        return sum;
    }

    /**
     * Faults handled in the step: the sum of the fault-outcome counters {@code fault.X}
     * ({@link org.tdpmmu.scenarios.model.CostModel#isFaultOutcome}); breakdowns {@code fault.X.Y} are
     * already inside their {@code fault.X}.
     */
    public long faults() {
        long sum = 0;
        for (Map.Entry<String, Long> e : counters.entrySet()) {
            if (org.tdpmmu.scenarios.model.CostModel.isFaultOutcome(e.getKey())) {
                sum += e.getValue();
            }
        }
        return sum;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PhaseResult p && p.name.equals(name) && p.wallNanos == wallNanos
                && Arrays.equals(p.perVcpuNanos, perVcpuNanos) && p.modeledNanos == modeledNanos
                && p.counters.equals(counters) && Objects.equals(p.faultLatency, faultLatency)
                && p.peakLiveTables == peakLiveTables && p.offHeapBytes == offHeapBytes;
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, wallNanos, Arrays.hashCode(perVcpuNanos), modeledNanos, counters,
                peakLiveTables, offHeapBytes);
    }

    @Override
    public String toString() {
        return "PhaseResult[" + name + ", wall " + wallNanos + " ns, modeled " + modeledNanos + " ns, "
                + counters + "]";
    }
}
