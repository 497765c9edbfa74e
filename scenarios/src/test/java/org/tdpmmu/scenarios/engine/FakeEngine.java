package org.tdpmmu.scenarios.engine;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.HdrHistogram.Histogram;
import org.tdpmmu.scenarios.model.HarvestMethod;
import org.tdpmmu.scenarios.model.Phase;
import org.tdpmmu.scenarios.model.RecoveryStrategy;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.model.SlotConfig;
import org.tdpmmu.scenarios.model.Step;

/**
 * A deterministic stand-in for the MMU engine: counters follow simple formulas of the scenario
 * (pages, huge mappings, strategy), times follow the counters. Records every scenario it ran.
 */
public final class FakeEngine implements ScenarioEngine {

    private final List<Violation> violations;
    private final RuntimeException failure;
    private final List<Scenario> runs = Collections.synchronizedList(new ArrayList<>());
    private final List<String> progress = Collections.synchronizedList(new ArrayList<>());

    public FakeEngine() {
        this(List.of(), null);
    }

    private FakeEngine(List<Violation> violations, RuntimeException failure) {
        this.violations = List.copyOf(violations);
        this.failure = failure;
    }

    /** An engine whose every run reports {@code violations}. */
    public static FakeEngine withViolations(Violation... violations) {
        return new FakeEngine(List.of(violations), null);
    }

    /** An engine whose every run throws {@code failure}. */
    public static FakeEngine failing(RuntimeException failure) {
        return new FakeEngine(List.of(), failure);
    }

    /** The scenarios run so far, in order. */
    public List<Scenario> runs() {
        return List.copyOf(runs);
    }

    /** The progress events seen ("start NAME TOTAL", "end"). */
    public List<String> progressEvents() {
        return List.copyOf(progress);
    }

    @Override
    public RunResult run(Scenario s, ProgressListener listener) {
        runs.add(s);
        if (failure != null) {
            throw failure;
        }
        long pages = s.vm().totalPages();
        long huge = 0;
        for (SlotConfig slot : s.vm().slots()) {
            huge += slot.pages() >> (9 * (slot.maxLevel() - 1));
        }
        int vcpus = s.vm().vcpus();
        RecoveryStrategy strategy = s.strategy().orElse(null);
        RecoveryStrategy lastDisable = null;
        boolean split = false;
        List<PhaseResult> out = new ArrayList<>();
        for (Step step : s.steps()) {
            listener.phaseStarted(step.name(), pages);
            progress.add("start " + step.name() + " " + pages);
            Map<String, Long> c = new LinkedHashMap<>();
            switch (step.kind()) {
                case POPULATE -> {
                    c.put("fault.installed", huge);
                    c.put("vmexit", huge);
                    c.put("table.alloc", 1 + huge / 512);
                }
                case ENABLE_DIRTY_LOGGING -> {
                    Phase.EnableDirtyLogging e = (Phase.EnableDirtyLogging) step.phase();
                    c.put("dirty.wrprot", huge);
                    if (e.eagerSplit()) {
                        c.put("split", huge);
                        split = true;
                    }
                    c.put("tlb.flush.requests", 1L);
                    c.put("tlb.flush.vcpus", (long) vcpus);
                }
                case DIRTY_PASS -> {
                    Phase.DirtyPass d = (Phase.DirtyPass) step.phase();
                    long writes = pages * d.writePercent() / 100;
                    c.put("fault.fast", writes);
                    c.put("vmexit", writes);
                    if (!split) {
                        c.put("split", huge);
                        split = true;
                    }
                }
                case GET_DIRTY_LOG -> {
                    if (((Phase.Harvest) step.phase()).method() == HarvestMethod.GET) {
                        c.put("dirty.wrprot", pages);
                        c.put("tlb.flush.requests", 1L);
                    }
                }
                case CLEAR_DIRTY_LOG -> {
                    c.put("dirty.wrprot", pages);
                    c.put("tlb.flush.requests", 1L);
                }
                case DISABLE_DIRTY_LOGGING -> {
                    lastDisable = ((Phase.DisableDirtyLogging) step.phase()).strategy();
                    long flushes = switch (lastDisable) {
                        case ZAP_LEAFS -> {
                            c.put("zap.leaf", pages);
                            yield pages;
                        }
                        case ZAP_HUGE -> {
                            c.put("zap.nonleaf", huge);
                            yield s.vm().memslots();
                        }
                        case PROMOTE_IN_PLACE -> {
                            c.put("promote", huge);
                            c.put("table.free", huge);
                            yield s.vm().memslots();
                        }
                    };
                    c.put("tlb.flush.requests", flushes);
                    c.put("tlb.flush.vcpus", flushes * vcpus);
                }
                case SECOND_PASS -> c.put("fault.installed",
                        lastDisable == null || lastDisable == RecoveryStrategy.PROMOTE_IN_PLACE ? 0 : huge);
                case TEARDOWN -> c.put("table.free", 1 + huge / 512);
            }
            listener.advanced(pages);
            listener.phaseEnded();
            progress.add("end");
            long modeled = s.costModel().modeledNanos(c);
            Histogram h = null;
            long faults = c.entrySet().stream().filter(e -> e.getKey().startsWith("fault.")).mapToLong(Map.Entry::getValue).sum();
            if (faults > 0) {
                h = new Histogram(3);
                for (int i = 1; i <= 100; i++) {
                    h.recordValue(i * 100L);
                }
            }
            long[] perVcpu = new long[vcpus];
            java.util.Arrays.fill(perVcpu, modeled / vcpus);
            out.add(new PhaseResult(step.name(), 1_000 + modeled / 100, perVcpu, modeled, c, h,
                    1 + huge / 512, 4096 * (1 + huge / 512)));
        }
        return new RunResult(s.name(), strategy, out, violations, timeline(s, out));
    }

    /**
     * Four samples per step, counts growing evenly inside it: accesses in the steps where vCPUs run
     * (and in disable with vcpusRunning), the step's faults.
     */
    private static Timeline timeline(Scenario s, List<PhaseResult> out) {
        int n = out.size();
        long[] start = new long[n];
        long[] end = new long[n];
        long[] time = new long[4 * n + 1];
        long[] acc = new long[4 * n + 1];
        long[] flt = new long[4 * n + 1];
        long t = 0;
        long a = 0;
        long f = 0;
        for (int i = 0; i < n; i++) {
            PhaseResult p = out.get(i);
            Step step = s.steps().get(i);
            boolean runs = switch (step.kind()) {
                case POPULATE, DIRTY_PASS, SECOND_PASS -> true;
                case DISABLE_DIRTY_LOGGING -> ((Phase.DisableDirtyLogging) step.phase()).vcpusRunning();
                default -> false;
            };
            long stepAccesses = runs ? s.vm().totalPages() : 0;
            start[i] = t;
            for (int k = 1; k <= 4; k++) {
                time[4 * i + k] = t + p.wallNanos() * k / 4;
                acc[4 * i + k] = a + stepAccesses * k / 4;
                flt[4 * i + k] = f + p.faults() * k / 4;
            }
            t += p.wallNanos();
            a += stepAccesses;
            f += p.faults();
            end[i] = t;
        }
        return new Timeline(1_000, time, acc, flt, start, end);
    }
}
