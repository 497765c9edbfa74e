package org.tdpmmu.scenarios.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.tdpmmu.scenarios.engine.PhaseResult;
import org.tdpmmu.scenarios.engine.RunResult;
import org.tdpmmu.scenarios.kvm.Kvm;
import org.tdpmmu.scenarios.kvm.KvmUnavailableException;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.report.Formats;
import org.tdpmmu.scenarios.report.ReportWriter;

/**
 * {@code tdpmmu perf --beside-kernel BINARY ...}: runs the kernel's dirty_log_perf_test with the
 * same flags on this host's /dev/kvm, then tdpmmu, and prints their timing lines side by side
 * (kernel, tdpmmu wall, tdpmmu modeled, the ratios of both to the kernel), headed by what the
 * host's KVM is, so a shadow-paging figure is never read as a TDP MMU one. With {@code --json},
 * one object {@code {"format": "tdpmmu-beside-kernel/1", ...}} instead.
 *
 * <p>The flags passed to the kernel test are the ones it knows ({@code -v -b -i -w -a -r -x -s -e
 * -g -o -p}); tdpmmu's own ({@code --strategy}, {@code --dbit}, ...) stay on our side.
 */
final class BesideKernel {
    /** Kernel flags that take a value, and those that do not. */
    private static final Set<String> VALUE_FLAGS = Set.of("-v", "-b", "-i", "-w", "-r", "-x", "-s", "-p");
    private static final Set<String> BOOLEAN_FLAGS = Set.of("-a", "-e", "-g", "-o");
    /** tdpmmu options that take a value, skipped with it. */
    private static final Set<String> OUR_VALUE_OPTIONS = Set.of("--beside-kernel", "--strategy", "--root-level",
            "--report", "--repeat", "--result-file");
    /** A kernel line "NAME time: S.NNNNNNNNNs" or "Get dirty log over N iterations took S.NNNs. (Avg ...)". */
    private static final Pattern TIME_LINE = Pattern.compile("^(.*? time): (\\d+)\\.(\\d{1,9})s\\s*$");
    private static final Pattern TOTAL_LINE = Pattern.compile("^((?:Get|Clear) dirty log over \\d+ iterations) "
            + "took (\\d+)\\.(\\d{1,9})s\\..*$");

    private final CliContext ctx;

    BesideKernel(CliContext ctx) {
        this.ctx = ctx;
    }

    /** The kernel test's flags among {@code args} (the perf command line as typed). */
    static List<String> kernelArgs(List<String> args) {
        final List<String> out = new ArrayList<>();
        for (int i = 0; i < args.size(); i++) {
            final String a = args.get(i);
            if (VALUE_FLAGS.contains(a) && i + 1 < args.size()) {
                out.add(a);
                out.add(args.get(++i));
            } else if (BOOLEAN_FLAGS.contains(a) || (a.length() > 2 && VALUE_FLAGS.contains(a.substring(0, 2)))) {
                out.add(a);
            } else if (OUR_VALUE_OPTIONS.contains(a)) {
                i++;
            }
        }
        return out;
    }

    /**
     * Runs both and prints them.
     *
     * @return the exit code: 0, 1 on tdpmmu safety violations, 2 for a binary that cannot run, 3
     *         when /dev/kvm is missing or refuses, 4 when the kernel test fails.
     */
    int run(Path binary, List<String> originalArgs, Scenario scenario, Runner runner, ReportWriter.Format format)
            throws Exception {
        try {
            Kvm.require();
        } catch (KvmUnavailableException e) {
            throw new CliException(ExitCodes.NO_ENGINE, "tdpmmu perf --beside-kernel: " + e.getMessage());
        }
        if (!Files.isRegularFile(binary) || !Files.isExecutable(binary)) {
            throw new CliException(ExitCodes.BAD_INPUT, "tdpmmu perf --beside-kernel: " + binary
                    + " is not an executable file (build it with scripts/kernel-selftests.sh)");
        }
        final List<String> args = kernelArgs(originalArgs);
        final List<String> command = new ArrayList<>();
        command.add(binary.toString());
        command.addAll(args);
        // --repeat N runs the kernel test N times too, one after the other (never beside tdpmmu's runs,
        // which would share the cores): each line is the median of its runs, as tdpmmu's merged phases are.
        final int repeats = Math.max(1, runner.repeats());
        final List<Map<String, Long>> kernelRuns = new ArrayList<>(repeats);
        long kernelWall = 0;
        for (int i = 0; i < repeats; i++) {
            final long t0 = System.nanoTime();
            final Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            final String kernelOut = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            final int exit = p.waitFor();
            kernelWall += System.nanoTime() - t0;
            if (exit != 0) {
                ctx.err.print(kernelOut);
                throw new CliException(ExitCodes.ENGINE_FAILED, "tdpmmu perf --beside-kernel: " + String.join(" ", command)
                        + " exited with " + exit + (repeats > 1 ? " on run " + (i + 1) + " of " + repeats : "")
                        + " (its output is above)");
            }
            kernelRuns.add(parse(kernelOut));
        }
        kernelWall /= repeats;
        final Map<String, Long> kernel = medians(kernelRuns);
        final RunResult r = runner.run(List.of(scenario)).get(0);
        final Map<String, long[]> ours = ours(r);
        final Map<String, String> host = Kvm.host();
        if (format == ReportWriter.Format.JSON) {
            printJson(host, command, kernelWall, kernel, kernelRuns, ours, r);
        } else {
            printText(host, command, kernelWall, kernel, kernelRuns, ours);
        }
        return runner.finish(List.of(r), runner.provenance(scenario, List.of(r)));
    }

    /** Kernel label to nanoseconds, in the order printed. */
    static Map<String, Long> parse(String output) {
        final Map<String, Long> m = new LinkedHashMap<>();
        for (String line : output.split("\n")) {
            Matcher t = TIME_LINE.matcher(line.strip());
            if (!t.matches()) {
                t = TOTAL_LINE.matcher(line.strip());
                if (!t.matches()) {
                    continue;
                }
            }
            final String frac = (t.group(3) + "000000000").substring(0, 9);
            m.put(t.group(1), Long.parseLong(t.group(2)) * 1_000_000_000L + Long.parseLong(frac));
        }
        return m;
    }

    /**
     * Each label's median over {@code runs} (the lower middle of an even count, as
     * {@link org.tdpmmu.scenarios.RunResult#merge} takes), in the first run's order; a label missing
     * from some runs is the median of the runs that have it.
     */
    static Map<String, Long> medians(List<Map<String, Long>> runs) {
        final Map<String, Long> m = new LinkedHashMap<>();
        for (Map<String, Long> run : runs) {
            for (String label : run.keySet()) {
                m.computeIfAbsent(label, l -> {
                    final List<Long> v = valuesOf(runs, l);
                    return v.get((v.size() - 1) / 2);
                });
            }
        }
        return m;
    }

    /** {@code label}'s values over the runs that have it, sorted. */
    private static List<Long> valuesOf(List<Map<String, Long>> runs, String label) {
        final List<Long> v = new ArrayList<>();
        for (Map<String, Long> run : runs) {
            final Long x = run.get(label);
            if (x != null) {
                v.add(x);
            }
        }
        v.sort(null);
        return v;
    }

    /** tdpmmu's steps under the kernel's labels: {wall, modeled} ns. */
    static Map<String, long[]> ours(RunResult r) {
        final Map<String, long[]> m = new LinkedHashMap<>();
        final long[] get = new long[2];
        final long[] clear = new long[2];
        int gets = 0;
        int clears = 0;
        for (PhaseResult p : r.phases()) {
            final String n = p.name();
            final String suffix = n.substring(n.lastIndexOf('-') + 1);
            final long[] v = {p.wallNanos(), p.modeledNanos()};
            if (n.equals("populate")) {
                m.put("Populate memory time", v);
            } else if (n.equals("enable-dirty-logging")) {
                m.put("Enabling dirty logging time", v);
            } else if (n.startsWith("dirty-pass-")) {
                m.put("Iteration " + suffix + " dirty memory time", v);
            } else if (n.startsWith("get-dirty-log-")) {
                m.put("Iteration " + suffix + " get dirty log time", v);
                get[0] += v[0];
                get[1] += v[1];
                gets++;
            } else if (n.startsWith("clear-dirty-log-")) {
                m.put("Iteration " + suffix + " clear dirty log time", v);
                clear[0] += v[0];
                clear[1] += v[1];
                clears++;
            } else if (n.equals("disable-dirty-logging")) {
                m.put("Disabling dirty logging time", v);
            }
        }
        if (gets > 0) {
            m.put("Get dirty log over " + gets + " iterations", get);
        }
        if (clears > 0) {
            m.put("Clear dirty log over " + clears + " iterations", clear);
        }
        return m;
    }

    private void printText(Map<String, String> host, List<String> command, long kernelWall, Map<String, Long> kernel,
            List<Map<String, Long>> kernelRuns, Map<String, long[]> ours) {
        ctx.out.println(Kvm.hostLine());
        if (!"Y".equals(host.get("tdp_mmu"))) {
            ctx.out.println("NOTE: the kernel figures below are from shadow paging, not the TDP MMU tdpmmu models");
        }
        final boolean spread = kernelRuns.size() > 1;
        ctx.out.printf(Locale.ROOT, "kernel: %s (%.2f s%s)%n", String.join(" ", command), kernelWall / 1e9,
                spread ? " a run, mean of " + kernelRuns.size() + "; each line the median, spread min-max" : "");
        ctx.out.printf(Locale.ROOT, "%-40s %15s %15s %15s %11s %11s%s%n", "line", "kernel", "tdpmmu wall",
                "tdpmmu modeled", "wall/kern", "model/kern", spread ? String.format(Locale.ROOT, " %25s", "kernel spread") : "");
        final Set<String> labels = new java.util.LinkedHashSet<>(kernel.keySet());
        labels.addAll(ours.keySet());
        for (String label : labels) {
            final Long k = kernel.get(label);
            final long[] o = ours.get(label);
            ctx.out.printf(Locale.ROOT, "%-40s %15s %15s %15s %11s %11s%s%n", label,
                    k == null ? "-" : Formats.kernelSeconds(k),
                    o == null ? "-" : Formats.kernelSeconds(o[0]),
                    o == null ? "-" : Formats.kernelSeconds(o[1]),
                    ratio(o == null ? -1 : o[0], k), ratio(o == null ? -1 : o[1], k),
                    spread ? String.format(Locale.ROOT, " %25s", spreadOf(kernelRuns, label)) : "");
        }
    }

    /** "min - max" of {@code label} over the kernel's runs, or "-". */
    static String spreadOf(List<Map<String, Long>> runs, String label) {
        final List<Long> v = valuesOf(runs, label);
        if (v.isEmpty()) {
            return "-";
        }
        return Formats.kernelSeconds(v.get(0)) + " - " + Formats.kernelSeconds(v.get(v.size() - 1));
    }

    private static String ratio(long ours, Long kernel) {
        if (ours < 0 || kernel == null || kernel == 0) {
            return "-";
        }
        return String.format(Locale.ROOT, "%.2fx", (double) ours / kernel);
    }

    private void printJson(Map<String, String> host, List<String> command, long kernelWall, Map<String, Long> kernel,
            List<Map<String, Long>> kernelRuns, Map<String, long[]> ours, RunResult r) throws IOException {
        final Map<String, Object> root = new LinkedHashMap<>();
        root.put("format", "tdpmmu-beside-kernel/1");
        root.put("host", host);
        final Map<String, Object> k = new LinkedHashMap<>();
        k.put("command", command);
        k.put("wallNs", kernelWall);
        k.put("linesNs", kernel);
        k.put("runs", kernelRuns.size());
        if (kernelRuns.size() > 1) {
            k.put("runsLinesNs", kernelRuns);
        }
        root.put("kernel", k);
        final Map<String, Object> t = new LinkedHashMap<>();
        final Map<String, Object> lines = new LinkedHashMap<>();
        ours.forEach((label, v) -> lines.put(label, Map.of("wallNs", v[0], "modeledNs", v[1])));
        t.put("linesNs", lines);
        t.put("violations", r.violations().size());
        root.put("tdpmmu", t);
        ctx.out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(root));
    }
}
