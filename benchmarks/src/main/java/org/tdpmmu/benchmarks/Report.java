package org.tdpmmu.benchmarks;

import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * Writes BENCHMARKS.md from the results {@code scripts/bench.sh} leaves in one directory: JMH's
 * JSON ({@code jmh.json}, {@code parallel-t1.json}, {@code parallel-t2.json}), the kernel-sized
 * scenario runs ({@code kernel-sized-S.json} from {@code ./tdpmmu --json} and
 * {@code kernel-sized-S.properties} with wall time and peak RSS), {@code machine.properties} and
 * {@code commands.txt}. The hand-written method and analysis come from {@code notes.md} beside this
 * class.
 *
 * <p>Usage: {@code java -cp benchmarks.jar org.tdpmmu.benchmarks.Report RESULT_DIR OUT.md}
 */
public final class Report
{
    private static final String PKG = "org.tdpmmu.benchmarks.";
    private static final String[] STRATEGIES = {"zap_leafs", "zap_huge", "promote_in_place"};
    private static final double ALLOC_ZERO = 1.0;
    private static final double HIT_RATIO_TARGET = 3.0;
    private static final double SWEEP_TARGET = 0.25;
    private static final double SPEEDUP_TARGET = 1.6;
    private static final String PARALLEL_FAULTS = "faultDisjointRanges";
    private static final String PARALLEL_LIMIT = "limitReadLockAroundWork";
    private static final String PARALLEL_NO_LOCK = "limitPrivateWorkNoLock";
    private static final List<String> PARALLEL_METHODS = List.of(PARALLEL_FAULTS, PARALLEL_LIMIT, PARALLEL_NO_LOCK);
    private static final double KERNEL_WALL_TARGET = 60.0;
    private static final double KERNEL_RSS_TARGET_GIB = 3.0;

    /** How a figure relates to its limit. */
    private enum Kind
    {
        /** ratio = figure / limit (times slower than the limit). */
        RATIO,
        /** share = limit / figure (fraction of the limit's speed). */
        SWEEP
    }

    /** One figure: a benchmark, what it measures, and its limit. */
    private record Row(String bench, String what, String limit, Kind kind)
    {
    }

    private static final List<Row> ROWS = List.of(
        new Row("AccessBench.tlbHitTranslate", "TLB-hit access (`vcpu.translate`)", "AccessBench.limitArrayRead", Kind.RATIO),
        new Row("AccessBench.tlbHitRead", "TLB-hit guest read (`vcpu.read`: translate + frame word)", "AccessBench.limitArrayRead",
            Kind.RATIO),
        new Row("AccessBench.tlbMissWalk", "TLB-miss access, 4-level walk (A already set)", "AccessBench.limitArrayRead", Kind.RATIO),
        new Row("AccessBench.tlbMissWalkSetA", "TLB-miss access, 4-level walk setting A (incl. the aging cmpxchg that cleared it)",
            "AccessBench.limitArrayRead", Kind.RATIO),
        new Row("Fault4kBench.fault4kExistingTable", "4 KiB fault into an existing table (`TdpMmu.pageFault`)",
            "SpteBench.limitCas1Thread", Kind.RATIO),
        new Row("FaultLinkBench.faultLinksTable", "fault that links a 4 KiB table", "SpteBench.limitCas1Thread", Kind.RATIO),
        new Row("SpteBench.setSpteAtomic1Thread", "`TdpMmu.setSpteAtomic`, uncontended", "SpteBench.limitCas1Thread", Kind.RATIO),
        new Row("SpteBench.setSpteAtomic2ThreadsOneLine", "`TdpMmu.setSpteAtomic`, 2 threads, one cache line",
            "SpteBench.limitCas2ThreadsOneLine", Kind.RATIO),
        new Row("SpteBench.cmpxchgSpte1Thread", "`PageTableStore.cmpxchgSpte` (+ `lvSpte`), uncontended", "SpteBench.limitCas1Thread",
            Kind.RATIO),
        new Row("SpteBench.cmpxchgSpte2ThreadsOneLine", "`PageTableStore.cmpxchgSpte` (+ `lvSpte`), 2 threads, one line",
            "SpteBench.limitCas2ThreadsOneLine", Kind.RATIO),
        new Row("RcuBench.readLockUnlock", "RCU read-side enter + exit", "RcuBench.limitFullFence", Kind.RATIO),
        new Row("SplitBench.split2MiB", "eager split of a 2 MiB page", "LimitBench.sweepWrite4KiB", Kind.SWEEP),
        new Row("RecoverBench.promote2MiB", "in-place promotion of a 2 MiB page (disable, `PROMOTE_IN_PLACE`)",
            "LimitBench.sweepRead4KiB", Kind.SWEEP),
        new Row("RecoverBench.zapHuge2MiB", "zap of a 2 MiB page's table (disable, `ZAP_HUGE`)", "LimitBench.sweepRead4KiB",
            Kind.SWEEP),
        new Row("HarvestBench.harvest1GiBManualProtect", "harvest of a 1 GiB dirty bitmap (manual protect: copy)",
            "LimitBench.sweepRead32KiB", Kind.SWEEP),
        new Row("HarvestReprotectBench.harvest1GiBReprotect", "harvest of 1 GiB, every page dirty, re-protecting each page",
            "LimitBench.sweepRead2MiBPlus32KiB", Kind.SWEEP));

    private static final Map<String, String> LIMITS = new LinkedHashMap<>();

    static
    {
        LIMITS.put("AccessBench.limitArrayRead", "one long-array element read");
        LIMITS.put("SpteBench.limitCas1Thread", "one compare-and-exchange of an aligned off-heap long, 1 thread");
        LIMITS.put("SpteBench.limitCas2ThreadsOneLine", "the same, 2 threads, each on its own word of one cache line");
        LIMITS.put("RcuBench.limitFullFence", "one `VarHandle.fullFence()`");
        LIMITS.put("LimitBench.sweepRead4KiB", "sequential read of 4 KiB (512 longs, one page table)");
        LIMITS.put("LimitBench.sweepWrite4KiB", "sequential write of 4 KiB (512 longs)");
        LIMITS.put("LimitBench.sweepRead32KiB", "sequential read of 32 KiB (the bitmap of 1 GiB)");
        LIMITS.put("LimitBench.sweepRead2MiBPlus32KiB", "sequential read of 2 MiB + 32 KiB (leaf SPTEs of 1 GiB + bitmap)");
        LIMITS.put("LimitBench.sweepTestStore2MiB", "read, test and store of each of 2 MiB of longs: the re-protecting " +
            "harvest's per-entry work alone, on a heap array (a reference, not a target's limit)");
    }

    private final Path dir;
    private final ObjectMapper json = new ObjectMapper();
    private final Map<String, JsonNode> results = new LinkedHashMap<>();
    private final Properties machine = new Properties();
    private final StringBuilder out = new StringBuilder(32 * 1024);

    private Report(final Path dir)
    {
        this.dir = dir;
    }

    public static void main(final String[] args) throws IOException
    {
        if (args.length != 2)
        {
            System.err.println("usage: Report RESULT_DIR OUT.md");
            System.exit(2);
        }
        final Report r = new Report(Path.of(args[0]));
        r.load();
        Files.writeString(Path.of(args[1]), r.render(), StandardCharsets.UTF_8);
    }

    private void load() throws IOException
    {
        try (Reader in = Files.newBufferedReader(dir.resolve("machine.properties")))
        {
            machine.load(in);
        }
        for (final JsonNode b : json.readTree(dir.resolve("jmh.json").toFile()))
        {
            results.put(shortName(b), b);
        }
    }

    private static String shortName(final JsonNode b)
    {
        return b.get("benchmark").asText().replace(PKG, "");
    }

    private String render() throws IOException
    {
        final String notes = resource("notes.md");
        out.append("# Benchmarks\n\n");
        out.append("Generated by `scripts/bench.sh` on ").append(machine.getProperty("date")).append(" in ")
            .append(minutes(Long.parseLong(machine.getProperty("elapsed", "0"))))
            .append(" (build, JMH, parallel faults")
            .append("1".equals(machine.getProperty("kernel_sized")) ? ", kernel-sized scenario x 3" : "")
            .append("). Do not edit by hand: the text comes from ")
            .append("`benchmarks/src/main/resources/org/tdpmmu/benchmarks/notes.md` and the tables from ")
            .append("`org.tdpmmu.benchmarks.Report`; run the script again.\n\n");
        out.append("```sh\nscripts/bench.sh                     # everything: about 6 minutes on an idle 2-core machine\n")
            .append("scripts/bench.sh --no-kernel-sized  # without the three kernel-sized scenario runs\n```\n\n");
        machineSection();
        targets();
        hotPaths();
        limits();
        parallel();
        kernelSized();
        figuresPointer();
        out.append(notes.replace("\r", ""));
        commands();
        return out.toString();
    }

    private void machineSection()
    {
        out.append("## Machine and settings\n\n| | |\n|---|---|\n");
        row2("CPU", machine.getProperty("cpu") + ", `nproc` = " + machine.getProperty("nproc"));
        row2("memory", machine.getProperty("mem"));
        row2("OS", machine.getProperty("kernel"));
        row2("Java", machine.getProperty("java"));
        row2("JMH", "1.37, " + machine.getProperty("jmh_args") + ", `-prof gc`, JVM flag " +
            "`--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED` (Agrona); assertions off in the forks; the " +
            "parallel faults with 3 forks instead of 1 and without `-prof gc` (*Hot spots* 2)");
        row2("JMH modes", "average time (`avgt`, ns/op) for every figure except the parallel faults " +
            "(throughput, `thrpt`, ops/us summed over threads)");
        final int n = measurementIterations();
        row2("error", "JMH's 99.9% confidence half-width over the " + n + " measurement iterations (Student's t: " +
            tFactor(n) + " standard errors, wide by construction with so few iterations)");
        row2("load average at start / end", machine.getProperty("load_start") + " / " + machine.getProperty("load_end"));
        row2("other processes above 20% CPU", "start: " + orNone(machine.getProperty("others_start")) + "; end: " +
            orNone(machine.getProperty("others_end")));
        out.append('\n');
        out.append("The machine is shared with other sessions (builds, test and jcstress runs). Where the load average " +
            "above is over 2 or other processes are listed, they competed for the two cores during this run, and " +
            "every figure, above all the two-thread ones, is slower and noisier than on an idle machine.\n\n");
    }

    private int measurementIterations()
    {
        for (final JsonNode b : results.values())
        {
            return b.get("measurementIterations").asInt();
        }
        return 0;
    }

    /** Two-sided 99.9% Student's t for n - 1 degrees of freedom, as JMH uses. */
    private static String tFactor(final int n)
    {
        final double[] t = {Double.NaN, 636.6, 31.60, 12.92, 8.610, 6.869, 5.959, 5.408, 5.041, 4.781, 4.587};
        return n - 1 >= 1 && n - 1 < t.length ? fmt(t[n - 1]) : "n/a";
    }

    private static String orNone(final String s)
    {
        return s == null || s.isBlank() ? "none" : "`" + s.trim() + "`";
    }

    private void row2(final String k, final String v)
    {
        out.append("| ").append(k).append(" | ").append(v).append(" |\n");
    }

    // ---- targets ------------------------------------------------------------------------------

    private void targets() throws IOException
    {
        out.append("## Targets\n\n| target | figure | measured | met | why not / note |\n|---|---|---|---|---|\n");
        final Double hit = ratio("AccessBench.tlbHitTranslate", "AccessBench.limitArrayRead");
        target("TLB-hit access within 3x of a plain array read", "`tlbHitTranslate` / `limitArrayRead`",
            hit == null ? null : fmt(hit) + "x", hit != null && hit <= HIT_RATIO_TARGET,
            "*Hot spots* 1: per-vCPU counts, one interleaved array per page size, a 4 KiB fast path small enough " +
                "for C2 to inline (was 8.6x)");
        for (final Row r : ROWS)
        {
            if (r.kind() != Kind.SWEEP)
            {
                continue;
            }
            final Double share = share(r.bench(), r.limit());
            target("sweep at >= 25% of the sweep limit", "`" + method(r.bench()) + "` vs `" + method(r.limit()) + "`",
                share == null ? null : pct(share), share != null && share >= SWEEP_TARGET, sweepWhy(r.bench()));
        }
        for (final String b : List.of("AccessBench.tlbHitTranslate", "AccessBench.tlbHitRead", "AccessBench.tlbMissWalk",
            "AccessBench.tlbMissWalkSetA", "Fault4kBench.fault4kExistingTable", "FaultLinkBench.faultLinksTable",
            "SpteBench.setSpteAtomic1Thread", "RcuBench.readLockUnlock"))
        {
            final Double a = allocPerOp(b);
            target("no allocation per access / fault (fast paths)", "`" + method(b) + "` " + allocSource(b),
                a == null ? null : fmt(a) + " B/op", a != null && a < ALLOC_ZERO, "");
        }
        final JsonNode par2 = parallelNode(2);
        final Double a2 = loopAlloc(par2);
        target("no allocation per access / fault (fast paths)", "`faultDisjointRanges` -t 2 (loop B/op)",
            a2 == null ? null : fmt(a2) + " B/op", a2 != null && a2 < ALLOC_ZERO,
            "*Hot spots* 2: the queued rwlock keeps no per-acquisition hold counter (was 43 B/op)");
        final Double speedup = parallelSpeedup(PARALLEL_FAULTS);
        target("parallel faults on disjoint ranges >= 1.6x with 2 threads", "`faultDisjointRanges` -t 2 / -t 1",
            speedup == null ? null : fmt(speedup) + "x", speedup != null && speedup >= SPEEDUP_TARGET,
            parallelWhy(speedup, parallelSpeedup(PARALLEL_LIMIT), parallelSpeedup(PARALLEL_NO_LOCK)));
        for (final String s : STRATEGIES)
        {
            final Properties k = kernelProps(s);
            if (k == null)
            {
                target("kernel-sized scenario <= 60 s and <= 3 GiB RSS", "`" + s + "`", null, false,
                    "not run (`--no-kernel-sized`)");
                continue;
            }
            final double wall = Double.parseDouble(k.getProperty("wall", "NaN"));
            final double rssGib = Long.parseLong(k.getProperty("rss_kb", "0")) / 1048576.0;
            final boolean ok = "0".equals(k.getProperty("rc"));
            target("kernel-sized scenario <= 60 s and <= 3 GiB RSS", "`" + s + "`",
                fmt(wall) + " s, " + fmt(rssGib) + " GiB", ok && wall <= KERNEL_WALL_TARGET && rssGib <= KERNEL_RSS_TARGET_GIB,
                ok ? "" : "exit code " + k.getProperty("rc"));
        }
        out.append('\n');
    }

    private static String sweepWhy(final String bench)
    {
        switch (bench)
        {
            case "SplitBench.split2MiB":
                return "*Hot spots* 3: bulk child fill, `PageTableStore.fillSplitChildren` (was 5.9%)";
            case "RecoverBench.promote2MiB":
            case "RecoverBench.zapHuge2MiB":
                return "the model forbids it: handle_removed_pt freezes each of the 512 old entries with an atomic " +
                    "exchange, ~2.7 µs of it (*Hot spots* 4); its allocation is gone (was 70-110 B/op)";
            case "HarvestReprotectBench.harvest1GiBReprotect":
                return "*Hot spots* 5b: one masked clear per leaf table, atomic only where the kernel is, the leaf " +
                    "table reused through the lock hold, a word of written leaves tested in one pass and cleared in " +
                    "a second (was 12%); `sweepTestStore2MiB` in *Limits* is the per-entry work alone";
            default:
                return "*Hot spots* 5a: bulk copy into the caller's array, `DirtyBitmap.copyTo` (was 23%); faster " +
                    "than the limit, a scalar summing loop";
        }
    }

    /** Why the parallel target is met or not, with the same run's two references beside it. */
    private static String parallelWhy(final Double faults, final Double lockOnly, final Double noLock)
    {
        final String refs = lockOnly == null || noLock == null ? "" : "; in this run the MMU read lock alone, around " +
            "fixed private work, scaled " + fmt(lockOnly) + "x and the work without it " + fmt(noLock) + "x";
        final String history = "*Hot spots* 2: queued rwlock (was 0.23x); bimodal here, see the per-fork listing";
        if (faults == null || faults >= SPEEDUP_TARGET)
        {
            return history + refs;
        }
        return "what two threads lose is the model's lock, the kernel's qrwlock reader pattern (two atomic adds on " +
            "one line per fault)" + refs + "; " + history;
    }

    private void target(final String target, final String figure, final String measured, final boolean met,
        final String why)
    {
        out.append("| ").append(target).append(" | ").append(figure).append(" | ")
            .append(measured == null ? "n/a" : measured).append(" | ").append(measured == null ? "—" : met ? "met" : "**not met**")
            .append(" | ").append(why).append(" |\n");
    }

    // ---- tables -------------------------------------------------------------------------------

    private void hotPaths()
    {
        out.append("## Hot paths beside their limits\n\n")
            .append("Ratio: the figure divided by its limit's (times slower). Share: the limit's time divided by ")
            .append("the figure's (fraction of the limit's speed; the sweep target is 25%). `gc B/op` is JMH's ")
            .append("`gc.alloc.rate.norm`, which for benchmarks with a per-invocation set-up also counts the set-up's ")
            .append("allocations; `loop B/op` counts only the timed invocations (see *Method*).\n\n")
            .append("| figure | benchmark | score ± error | limit | limit score | vs limit | gc B/op | loop B/op |\n")
            .append("|---|---|---|---|---|---|---|---|\n");
        for (final Row r : ROWS)
        {
            final JsonNode b = results.get(r.bench());
            final JsonNode l = results.get(r.limit());
            out.append("| ").append(r.what()).append(" | `").append(r.bench()).append("` | ").append(score(b)).append(" | `")
                .append(method(r.limit())).append("` | ").append(score(l)).append(" | ");
            if (r.kind() == Kind.RATIO)
            {
                final Double x = ratio(r.bench(), r.limit());
                out.append(x == null ? "n/a" : fmt(x) + "x");
            }
            else
            {
                final Double x = share(r.bench(), r.limit());
                out.append(x == null ? "n/a" : pct(x) + " of limit");
            }
            out.append(" | ").append(fmtOrNa(secondary(b, "gc.alloc.rate.norm"))).append(" | ")
                .append(fmtOrNa(loopAlloc(b))).append(" |\n");
        }
        out.append('\n');
    }

    private void limits()
    {
        out.append("## Limits, measured in the same run\n\n| limit | benchmark | score ± error |\n|---|---|---|\n");
        LIMITS.forEach((bench, what) -> out.append("| ").append(what).append(" | `").append(bench).append("` | ")
            .append(score(results.get(bench))).append(" |\n"));
        out.append('\n');
    }

    private void parallel() throws IOException
    {
        out.append("## Parallel faults on disjoint ranges\n\n")
            .append("`ParallelFaultBench.faultDisjointRanges`: each thread faults its own 8192 gfns (4 KiB write faults ")
            .append("into existing tables) into one shared VM; the throughput is JMH's sum over threads. Two references, ")
            .append("run the same way: `limitPrivateWorkNoLock`, private work about as long as a fault (loads, arithmetic ")
            .append("and stores on the thread's own 64 longs), the machine's limit for two threads; ")
            .append("`limitReadLockAroundWork`, the same work with the VM's MMU read lock taken and dropped around each ")
            .append("operation, as each fault does, and nothing else shared: what the model's lock alone costs.\n\n")
            .append("| benchmark | threads | throughput ± error | per-thread ns/op | gc B/op | loop B/op |\n")
            .append("|---|---|---|---|---|---|\n");
        for (final String method : PARALLEL_METHODS)
        {
            for (int t = 1; t <= 2; t++)
            {
                final JsonNode b = parallelNode(t, method);
                out.append("| `").append(method).append("` | ").append(t).append(" | ");
                if (b == null)
                {
                    out.append("n/a | | | |\n");
                    continue;
                }
                final double thr = b.get("primaryMetric").get("score").asDouble();
                out.append(score(b)).append(" | ").append(fmt(1000.0 * t / thr)).append(" | ")
                    .append(fmtOrNa(secondary(b, "gc.alloc.rate.norm"))).append(" | ").append(fmtOrNa(loopAlloc(b)))
                    .append(" |\n");
            }
        }
        final Double faults = parallelSpeedup(PARALLEL_FAULTS);
        final Double limit = parallelSpeedup(PARALLEL_LIMIT);
        if (faults == null)
        {
            out.append('\n');
            return;
        }
        out.append("\nSpeed-up with 2 threads: faults **").append(fmt(faults)).append("x** (target 1.6x)");
        if (limit != null)
        {
            out.append(", the lock alone around fixed work ").append(fmt(limit)).append('x');
        }
        final Double noLock = parallelSpeedup(PARALLEL_NO_LOCK);
        if (noLock != null)
        {
            out.append(", the work without the lock ").append(fmt(noLock)).append('x');
        }
        out.append(", from the means over every measured iteration of every fork, which decide the target.\n")
            .append("\nEach iteration (ops/us), one line per fork (the 2-thread figures have been bimodal on this ")
            .append("machine, *Hot spots* 2); the speed-up of the medians, ")
            .append(fmt(medianIteration(parallelNode(2)) / medianIteration(parallelNode(1))))
            .append("x for the faults, is given for reference only:\n\n");
        for (final String method : PARALLEL_METHODS)
        {
            for (int t = 1; t <= 2; t++)
            {
                final JsonNode b = parallelNode(t, method);
                if (b == null)
                {
                    continue;
                }
                final JsonNode raw = b.get("primaryMetric").get("rawData");
                for (int f = 0; f < raw.size(); f++)
                {
                    out.append("- `").append(method).append("` `-t ").append(t).append("` fork ").append(f + 1).append(':');
                    for (final JsonNode v : raw.get(f))
                    {
                        out.append(' ').append(fmt(v.asDouble()));
                    }
                    out.append('\n');
                }
            }
        }
        out.append('\n');
    }

    /** The median of every measured iteration of every fork. */
    private static double medianIteration(final JsonNode b)
    {
        final List<Double> all = new ArrayList<>();
        for (final JsonNode fork : b.get("primaryMetric").get("rawData"))
        {
            for (final JsonNode v : fork)
            {
                all.add(v.asDouble());
            }
        }
        Collections.sort(all);
        final int n = all.size();
        return n % 2 == 1 ? all.get(n / 2) : (all.get(n / 2 - 1) + all.get(n / 2)) / 2;
    }

    /**
     * Full-size runs beside the kernel's figures live in FIGURES.md, written by scripts/figures.sh: this
     * report only points there, so a rerun of bench.sh neither drops them nor keeps a stale copy.
     */
    private void figuresPointer()
    {
        out.append("## Aging and dirty ring figures\n\n")
            .append("Aging (mmu_lock vs lockless, `tdpmmu access` at 16, 64 and 112 vCPUs) and dirty ring vs bitmap ")
            .append("(1 GiB and 64 GiB, dense and sparse) are in [FIGURES.md](FIGURES.md), beside the kernel's figures ")
            .append("(`scripts/figures.sh aging-2025 ring-vs-bitmap`).\n\n");
    }

    private void kernelSized() throws IOException
    {
        out.append("## Kernel-sized scenario\n\n");
        if (!"1".equals(machine.getProperty("kernel_sized")))
        {
            out.append("Not run this time (`--no-kernel-sized`).\n\n");
            return;
        }
        out.append("`scenarios/kernel-sized.yaml`: 96 vCPUs x 1 GiB on 2 MiB pages, eager split at enable, two dirty ")
            .append("passes harvested with manual protect, then dirty logging disabled with the strategy, a read pass, ")
            .append("teardown. One `./tdpmmu run ... --strategy S --json` per strategy (the launcher runs the JVM with ")
            .append("`-ea`, as users get it; default heap). Wall time and peak resident set from ");
        final Properties first = kernelProps(STRATEGIES[0]);
        out.append(first == null ? "n/a" : "`" + first.getProperty("method") + "`").append(".\n\n");
        out.append("A speed and memory target of the simulator, not a kernel comparison: this scenario's flow is its own ")
            .append("(2 MiB backing, eager split, vCPUs idle at disable). The kernel test's own flags at full size, beside ")
            .append("the kernel's published figures, are in [FIGURES.md](FIGURES.md) (`scripts/figures.sh`).\n\n");
        out.append("| strategy | exit | wall (s) | peak RSS (MiB) | CPU | scenario wall (s) | verdict | disable (ms) | ")
            .append("second pass (ms) | faults after disable |\n|---|---|---|---|---|---|---|---|---|---|\n");
        for (final String s : STRATEGIES)
        {
            final Properties k = kernelProps(s);
            if (k == null)
            {
                continue;
            }
            final JsonNode run = kernelRun(s);
            out.append("| `").append(s).append("` | ").append(k.getProperty("rc")).append(" | ")
                .append(fmt(Double.parseDouble(k.getProperty("wall", "NaN")))).append(" | ")
                .append(fmt(Long.parseLong(k.getProperty("rss_kb", "0")) / 1024.0)).append(" | ")
                .append(k.getProperty("cpu_percent", "n/a")).append(" | ");
            if (run == null)
            {
                out.append("n/a | n/a | n/a | n/a | n/a |\n");
                continue;
            }
            final JsonNode summary = run.get("summary");
            out.append(fmt(summary.get("wallNanos").asDouble() / 1e9)).append(" | ")
                .append(run.get("ok").asBoolean() ? "ok" : "**violations: " + run.get("violations").size() + "**")
                .append(" | ").append(phaseMillis(run, "disable")).append(" | ").append(phaseMillis(run, "second"))
                .append(" | ").append(summary.has("faultsAfterDisable") ? summary.get("faultsAfterDisable").asText() : "n/a")
                .append(" |\n");
        }
        out.append("\nPhase wall times (s):\n\n| phase |");
        final List<String> phases = new ArrayList<>();
        final JsonNode any = kernelRun(STRATEGIES[STRATEGIES.length - 1]);
        if (any != null)
        {
            any.get("phases").forEach(p -> phases.add(p.get("name").asText()));
        }
        for (final String s : STRATEGIES)
        {
            out.append(" `").append(s).append("` |");
        }
        out.append("\n|---|---|---|---|\n");
        for (final String phase : phases)
        {
            out.append("| ").append(phase).append(" |");
            for (final String s : STRATEGIES)
            {
                final JsonNode run = kernelRun(s);
                String v = "n/a";
                if (run != null)
                {
                    for (final JsonNode p : run.get("phases"))
                    {
                        if (p.get("name").asText().equals(phase))
                        {
                            v = fmt(p.get("wallNanos").asDouble() / 1e9);
                        }
                    }
                }
                out.append(' ').append(v).append(" |");
            }
            out.append('\n');
        }
        out.append('\n');
    }

    private static String phaseMillis(final JsonNode run, final String prefix)
    {
        double nanos = 0;
        boolean found = false;
        for (final JsonNode p : run.get("phases"))
        {
            if (p.get("name").asText().startsWith(prefix))
            {
                nanos += p.get("wallNanos").asDouble();
                found = true;
            }
        }
        return found ? fmt(nanos / 1e6) : "n/a";
    }

    private void commands() throws IOException
    {
        out.append("\n## Command lines of this run\n\n```sh\n");
        final Path cmds = dir.resolve("commands.txt");
        if (Files.exists(cmds))
        {
            out.append(Files.readString(cmds).replace(dir.toAbsolutePath().toString(), "benchmarks/target/bench")
                .replace(dir.toAbsolutePath().getParent().getParent().getParent().toString() + "/", ""));
        }
        out.append("```\n");
    }

    // ---- numbers ------------------------------------------------------------------------------

    private Double ratio(final String bench, final String limit)
    {
        final Double b = primary(results.get(bench));
        final Double l = primary(results.get(limit));
        return b == null || l == null ? null : b / l;
    }

    private Double share(final String bench, final String limit)
    {
        final Double r = ratio(bench, limit);
        return r == null ? null : 1.0 / r;
    }

    private static Double primary(final JsonNode b)
    {
        return b == null ? null : b.get("primaryMetric").get("score").asDouble();
    }

    private static Double secondary(final JsonNode b, final String name)
    {
        if (b == null || !b.get("secondaryMetrics").has(name))
        {
            return null;
        }
        return b.get("secondaryMetrics").get(name).get("score").asDouble();
    }

    /** loopAllocBytes / loopOps over every measurement iteration, or null without those counters. */
    private static Double loopAlloc(final JsonNode b)
    {
        if (b == null || !b.get("secondaryMetrics").has("loopAllocBytes"))
        {
            return null;
        }
        final double bytes = sumRaw(b.get("secondaryMetrics").get("loopAllocBytes"));
        final double ops = sumRaw(b.get("secondaryMetrics").get("loopOps"));
        return ops == 0 ? null : bytes / ops;
    }

    private static double sumRaw(final JsonNode metric)
    {
        double s = 0;
        for (final JsonNode fork : metric.get("rawData"))
        {
            for (final JsonNode v : fork)
            {
                s += v.asDouble();
            }
        }
        return s;
    }

    /** The allocation figure a target uses: the loop's own when there is a per-invocation set-up. */
    private Double allocPerOp(final String bench)
    {
        final JsonNode b = results.get(bench);
        final Double loop = loopAlloc(b);
        return loop != null ? loop : secondary(b, "gc.alloc.rate.norm");
    }

    private String allocSource(final String bench)
    {
        return loopAlloc(results.get(bench)) != null ? "(loop B/op)" : "(gc.alloc.rate.norm)";
    }

    private JsonNode parallelNode(final int threads) throws IOException
    {
        return parallelNode(threads, PARALLEL_FAULTS);
    }

    /** {@code method} of ParallelFaultBench run with {@code threads} threads, or null if not run. */
    private JsonNode parallelNode(final int threads, final String method) throws IOException
    {
        final Path p = dir.resolve("parallel-t" + threads + ".json");
        if (!Files.exists(p))
        {
            return null;
        }
        for (final JsonNode b : json.readTree(p.toFile()))
        {
            if (b.get("benchmark").asText().endsWith(".ParallelFaultBench." + method))
            {
                return b;
            }
        }
        return null;
    }

    /** The 2-thread / 1-thread throughput of {@code method}, or null. */
    private Double parallelSpeedup(final String method) throws IOException
    {
        final Double p1 = primary(parallelNode(1, method));
        final Double p2 = primary(parallelNode(2, method));
        return p1 == null || p2 == null ? null : p2 / p1;
    }

    private Properties kernelProps(final String strategy) throws IOException
    {
        final Path p = dir.resolve("kernel-sized-" + strategy + ".properties");
        if (!Files.exists(p))
        {
            return null;
        }
        final Properties props = new Properties();
        try (Reader in = Files.newBufferedReader(p))
        {
            props.load(in);
        }
        return props;
    }

    private JsonNode kernelRun(final String strategy) throws IOException
    {
        final Path p = dir.resolve("kernel-sized-" + strategy + ".json");
        if (!Files.exists(p) || Files.size(p) == 0)
        {
            return null;
        }
        try
        {
            final JsonNode runs = json.readTree(p.toFile()).get("runs");
            return runs == null || runs.size() == 0 ? null : runs.get(0);
        }
        catch (final IOException ex)
        {
            return null;
        }
    }

    private static String score(final JsonNode b)
    {
        if (b == null)
        {
            return "n/a";
        }
        final JsonNode m = b.get("primaryMetric");
        final double s = m.get("score").asDouble();
        final double e = m.get("scoreError").asDouble(Double.NaN);
        final String unit = m.get("scoreUnit").asText();
        return fmt(s) + (Double.isNaN(e) ? "" : " ± " + fmt(e)) + " " + unit;
    }

    private static String method(final String bench)
    {
        return bench.substring(bench.indexOf('.') + 1);
    }

    private static String fmtOrNa(final Double d)
    {
        return d == null ? "n/a" : fmt(d);
    }

    /** Three significant digits, no exponent. */
    static String fmt(final double d)
    {
        if (Double.isNaN(d))
        {
            return "n/a";
        }
        final double a = Math.abs(d);
        if (a == 0)
        {
            return "0";
        }
        if (a >= 1000)
        {
            return String.format(Locale.ROOT, "%,.0f", d);
        }
        if (a >= 100)
        {
            return String.format(Locale.ROOT, "%.0f", d);
        }
        if (a >= 10)
        {
            return String.format(Locale.ROOT, "%.1f", d);
        }
        if (a >= 1)
        {
            return String.format(Locale.ROOT, "%.2f", d);
        }
        if (a >= 0.01)
        {
            return String.format(Locale.ROOT, "%.3f", d);
        }
        return "< 0.01";
    }

    private static String pct(final double share)
    {
        return String.format(Locale.ROOT, share >= 0.1 ? "%.0f%%" : "%.1f%%", share * 100);
    }

    private static String minutes(final long seconds)
    {
        return String.format(Locale.ROOT, "%d min %02d s", seconds / 60, seconds % 60);
    }

    private static String resource(final String name) throws IOException
    {
        try (InputStream in = Report.class.getResourceAsStream(name))
        {
            if (in == null)
            {
                throw new IOException("resource " + name + " is missing from the benchmarks jar");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
