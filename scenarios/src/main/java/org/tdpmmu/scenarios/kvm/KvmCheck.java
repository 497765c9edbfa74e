package org.tdpmmu.scenarios.kvm;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.tdpmmu.scenarios.model.Phase;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.model.SlotConfig;
import org.tdpmmu.scenarios.model.Step;
import org.tdpmmu.scenarios.model.StepKind;
import org.tdpmmu.scenarios.sim.AccessScript;
import org.tdpmmu.scenarios.sim.ModelReplay;

/**
 * kvm-check: a scenario's access pattern run in a real KVM guest of our own ({@link KvmVm},
 * {@link GuestCode}) and through the model ({@link ModelReplay}) side by side, every dirty-log
 * harvest compared bit for bit, per harvest method the model has (KVM_GET_DIRTY_LOG alone; manual
 * protect with KVM_CLEAR_DIRTY_LOG; manual protect with the log initially set; the dirty ring,
 * whose harvests the model's get-alone harvests stand for) and per dirty-log mode of the model
 * (write-protect, D bits: one real log, two model logs), first with one vCPU running every
 * vCPU's pass in turn, then with the scenario's vCPUs at once.
 *
 * <p>Decisions: host events are not replayed (they are races inside the model; the real host's
 * own page migrations are not under our control), nor are vCPUs running during the disable
 * ({@code vcpusRunning}): no harvest follows it; the harvest steps follow the method being
 * checked, not the scenario's own method; the slots keep their offsets modulo 1 GiB but are moved
 * below 4 GiB, as the guest is 32-bit; 2 MiB and 1 GiB backings ask the host for transparent huge
 * pages (madvise), and how much the host really backed huge is printed.
 *
 * <p>A scenario with ring tracking harvests in ring steps (collect-dirty-ring-j, then
 * reset-dirty-rings-j): each collect step is a harvest point as a get step is, for every method;
 * its reset step is done with the collect by the ring method (KvmVm#harvestRing collects and runs
 * KVM_RESET_DIRTY_RINGS in one go, as the model's ring reset follows its collect) and by nothing
 * else. Where the host offers neither KVM_CAP_DIRTY_LOG_RING nor KVM_CAP_DIRTY_LOG_RING_ACQ_REL,
 * the ring method is skipped with that reason and the ring steps are compared through the bitmap
 * methods only.
 */
public final class KvmCheck {
    /** A harvest method kvm-check compares. */
    public enum Method {
        GET("get", false, false),
        CLEAR("clear", true, false),
        INITIALLY_SET("initially-set", true, true),
        RING("ring", false, false);

        final String label;
        final boolean manual;
        final boolean initiallySet;

        Method(String label, boolean manual, boolean initiallySet) {
            this.label = label;
            this.manual = manual;
            this.initiallySet = initiallySet;
        }
    }

    private static final long GIB = 1L << 30;
    /** The lowest a test slot may start: above the control slot, 1 GiB aligned so offsets are kept. */
    private static final long FIRST_TEST_GPA = GIB;
    private static final long RING_BYTES = 1L << 20;
    private static final int MAX_RANGES = 8;

    private final Scenario scenario;
    private final PrintStream out;
    private final AccessScript script;
    private final long shift;
    private int differences;

    /** Harvests that differed so far. */
    int differences() {
        return differences;
    }

    public KvmCheck(Scenario scenario, PrintStream out) {
        this.scenario = scenario;
        this.out = out;
        this.script = new AccessScript(scenario);
        this.shift = gpaShift(scenario);
    }

    /**
     * What to subtract from a scenario GPA to place it in the guest: a multiple of 1 GiB, so huge
     * page alignment is kept.
     *
     * @throws IllegalArgumentException naming the scenario's extent if it cannot fit below 4 GiB.
     */
    static long gpaShift(Scenario scenario) {
        long lo = Long.MAX_VALUE;
        long hi = 0;
        for (SlotConfig s : scenario.vm().slots()) {
            lo = Math.min(lo, s.baseGfn() << 12);
            hi = Math.max(hi, s.endGfn() << 12);
        }
        final long shift = (lo / GIB) * GIB - FIRST_TEST_GPA;
        if (hi - shift > 4 * GIB) {
            throw new IllegalArgumentException(scenario.source() + ": the slots span GPA 0x" + Long.toHexString(lo)
                    + "-0x" + Long.toHexString(hi) + "; kvm-check's 32-bit guest reaches at most 3 GiB of slots"
                    + " from a 1 GiB boundary");
        }
        return shift;
    }

    /**
     * Runs every method (the ring only if the host has one) with one vCPU and then the scenario's
     * vCPUs.
     *
     * @return the number of harvests that differed in some bit
     */
    public int run() throws KvmUnavailableException {
        Kvm.require();
        out.println(Kvm.hostLine());
        out.println("scenario " + scenario.name() + ": " + scenario.vm().vcpus() + " vCPUs x "
                + script.passLength() + " pages per pass, " + scenario.vm().slots().size() + " slot(s)"
                + (scenario.host().isEmpty() ? "" : "; host events are not replayed"));
        final List<Method> methods = new ArrayList<>(List.of(Method.GET, Method.CLEAR, Method.INITIALLY_SET));
        final long ringMax = Kvm.dirtyRingMaxBytes();
        if (ringMax > 0) {
            methods.add(Method.RING);
        } else {
            out.println(ringSkipped(hasRingSteps(scenario)));
        }
        final int n = scenario.vm().vcpus();
        // A ring scenario's own ring size, so the real rings fill (and exit) as the model's do.
        final long ringBytes = scenario.dirtyRingEntries() > 0 ? 16L * scenario.dirtyRingEntries() : RING_BYTES;
        for (int vcpus : n == 1 ? new int[] {1} : new int[] {1, n}) {
            for (Method m : methods) {
                runOne(m, vcpus, Math.min(ringMax, ringBytes));
            }
        }
        out.println(differences == 0 ? "kvm-check: every harvest identical, bit for bit"
                : "kvm-check: " + differences + " harvest(s) differ");
        return differences;
    }

    private void runOne(Method method, int vcpus, long ringBytes) throws KvmUnavailableException {
        final int n = scenario.vm().vcpus();
        final boolean eager = eagerSplit();
        final String title = "method " + method.label + ", " + vcpus + " vCPU" + (vcpus == 1 ? "" : "s");
        final long t0 = System.nanoTime();
        try (KvmVm real = KvmVm.create(method.manual, method.initiallySet, method == Method.RING ? ringBytes : 0);
                ModelReplay wrprot = new ModelReplay(scenario, vcpus);
                ModelReplay dbit = new ModelReplay(scenario, vcpus)) {
            final ModelReplay[] models = {wrprot, dbit};
            final String[] modeNames = {"wrprot", "dbit"};
            real.setUpControlSlot(vcpus, script.passLength() * (n / vcpus + (n % vcpus == 0 ? 0 : 1)));
            for (SlotConfig s : scenario.vm().slots()) {
                real.addSlot((s.baseGfn() << 12) - shift, s.pages(), s.backing().maxLevel() > 1);
            }
            for (int i = 0; i < vcpus; i++) {
                real.addVcpu();
            }
            final long[][] ring = method == Method.RING ? bitmaps(real) : null;
            int passNo = 0;
            String lastPass = "no pass";
            for (Step step : scenario.steps()) {
                switch (step.kind()) {
                    case POPULATE, DIRTY_PASS, SECOND_PASS -> {
                        passNo++;
                        lastPass = step.name();
                        runPass(real, models, step, vcpus, passNo, ring);
                    }
                    case ENABLE_DIRTY_LOGGING -> {
                        for (KvmVm.Slot s : real.slots()) {
                            real.setLogging(s, true);
                        }
                        wrprot.enable(false, eager, method.initiallySet);
                        dbit.enable(true, eager, method.initiallySet);
                    }
                    case GET_DIRTY_LOG, COLLECT_DIRTY_RING -> {
                        final long[][] got = harvestReal(real, method, ring);
                        for (int m = 0; m < models.length; m++) {
                            final long[][] modelGot = models[m].get(method.manual);
                            if (method.manual) {
                                models[m].clear(modelGot);
                            }
                            compare(title + ", model " + modeNames[m] + ", after " + lastPass, step, got, modelGot);
                        }
                    }
                    case DISABLE_DIRTY_LOGGING -> {
                        for (KvmVm.Slot s : real.slots()) {
                            real.setLogging(s, false);
                        }
                        final var strategy = ((Phase.DisableDirtyLogging) step.phase()).strategy();
                        wrprot.disable(strategy);
                        dbit.disable(strategy);
                    }
                    default -> {
                        // clear and reset steps: done with their get or collect, as the method says;
                        // teardown: by close
                    }
                }
            }
            out.printf("%s: %d harvests compared with both model modes, %.1f s%n", title,
                    scenario.steps().stream().filter(s -> harvestPoint(s.kind())).count(),
                    (System.nanoTime() - t0) / 1e9);
            if (method == Method.CLEAR) {
                printStats(real, wrprot, vcpus);
            }
        }
    }

    /** The step at which every method harvests: a bitmap get, or the collect of the rings. */
    static boolean harvestPoint(StepKind kind) {
        return kind == StepKind.GET_DIRTY_LOG || kind == StepKind.COLLECT_DIRTY_RING;
    }

    static boolean hasRingSteps(Scenario scenario) {
        return scenario.steps().stream().anyMatch(s -> s.kind() == StepKind.COLLECT_DIRTY_RING);
    }

    /** The line kvm-check prints where the host has no dirty ring. */
    static String ringSkipped(boolean ringSteps) {
        final String why = "this host's KVM offers neither KVM_CAP_DIRTY_LOG_RING nor KVM_CAP_DIRTY_LOG_RING_ACQ_REL";
        return ringSteps
                ? "dirty ring: the scenario's ring steps (collect-dirty-ring-j, reset-dirty-rings-j) are not run on "
                        + "the real KVM's rings, skipped: " + why + "; their harvests are compared through the bitmap "
                        + "methods only"
                : "dirty ring: method ring skipped: " + why;
    }

    private boolean eagerSplit() {
        for (Step s : scenario.steps()) {
            if (s.phase() instanceof Phase.EnableDirtyLogging e) {
                return e.eagerSplit();
            }
        }
        return false;
    }

    private static long[][] bitmaps(KvmVm real) {
        final long[][] b = new long[real.slots().size()][];
        for (int i = 0; i < b.length; i++) {
            b[i] = new long[(int) ((real.slots().get(i).pages() + 63) >>> 6)];
        }
        return b;
    }

    /** One pass of every scenario vCPU: on the real VM's vCPUs at once, then on each model. */
    private void runPass(KvmVm real, ModelReplay[] models, Step step, int vcpus, int passNo, long[][] ring) {
        final int n = scenario.vm().vcpus();
        final long[][] perVcpu = new long[vcpus][];
        for (int v = 0; v < vcpus; v++) {
            final List<long[]> parts = new ArrayList<>();
            for (int sv = v; sv < n; sv += vcpus) {
                parts.add(script.accesses(step, sv));
            }
            perVcpu[v] = concat(parts);
        }
        final Thread[] threads = new Thread[vcpus];
        final RuntimeException[] failure = new RuntimeException[1];
        for (int v = 0; v < vcpus; v++) {
            final int id = v;
            final int[] entries = entries(real, perVcpu[v]);
            threads[v] = new Thread(() -> {
                try {
                    real.runPass(id, entries, entries.length, ring);
                } catch (RuntimeException e) {
                    synchronized (failure) {
                        failure[0] = e;
                    }
                }
            }, "kvm-vcpu-" + v);
            threads[v].start();
        }
        for (Thread t : threads) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while the guest ran", e);
            }
        }
        synchronized (failure) {
            if (failure[0] != null) {
                throw failure[0];
            }
        }
        for (ModelReplay m : models) {
            for (int v = 0; v < vcpus; v++) {
                m.pass(v, perVcpu[v], passNo);
            }
        }
    }

    private static long[] concat(List<long[]> parts) {
        int len = 0;
        for (long[] p : parts) {
            len += p.length;
        }
        final long[] all = new long[len];
        int at = 0;
        for (long[] p : parts) {
            System.arraycopy(p, 0, all, at, p.length);
            at += p.length;
        }
        return all;
    }

    /** Index-space accesses as the guest's table entries: guest physical address | write bit. */
    private static int[] entries(KvmVm real, long[] accesses) {
        final List<KvmVm.Slot> slots = real.slots();
        final long[] starts = new long[slots.size() + 1];
        for (int i = 0; i < slots.size(); i++) {
            starts[i + 1] = starts[i] + slots.get(i).pages();
        }
        final int[] e = new int[accesses.length];
        for (int i = 0; i < accesses.length; i++) {
            final long index = AccessScript.index(accesses[i]);
            int s = 0;
            while (index >= starts[s + 1]) {
                s++;
            }
            final long gpa = slots.get(s).gpa() + ((index - starts[s]) << 12);
            e[i] = (int) (gpa | (AccessScript.isWrite(accesses[i]) ? GuestCode.WRITE : 0));
        }
        return e;
    }

    private static long[][] harvestReal(KvmVm real, Method method, long[][] ring) {
        if (method == Method.RING) {
            real.harvestRing(ring);
            final long[][] got = new long[ring.length][];
            for (int i = 0; i < ring.length; i++) {
                got[i] = ring[i].clone();
                java.util.Arrays.fill(ring[i], 0);
            }
            return got;
        }
        final long[][] got = new long[real.slots().size()][];
        for (int i = 0; i < got.length; i++) {
            final KvmVm.Slot s = real.slots().get(i);
            got[i] = real.getDirtyLog(s);
            if (method.manual) {
                real.clearDirtyLog(s, got[i]);
            }
        }
        return got;
    }

    /** Compares one harvest of every slot, printing each difference; counted in {@link #run}'s result. */
    void compare(String title, Step step, long[][] kvm, long[][] model) {
        for (int s = 0; s < kvm.length; s++) {
            final SlotConfig slot = scenario.vm().slots().get(s);
            final List<long[]> extra = new ArrayList<>();
            final List<long[]> missed = new ArrayList<>();
            long extraPages = 0;
            long missedPages = 0;
            long kvmPages = 0;
            for (long page = 0; page < slot.pages(); page++) {
                final boolean k = bit(kvm[s], page);
                final boolean m = bit(model[s], page);
                kvmPages += k ? 1 : 0;
                if (m && !k) {
                    extraPages++;
                    addRange(extra, slot.baseGfn() + page);
                } else if (k && !m) {
                    missedPages++;
                    addRange(missed, slot.baseGfn() + page);
                }
            }
            if (extraPages + missedPages == 0) {
                continue;
            }
            differences++;
            out.printf("DIFFERENT %s, %s, slot %d: KVM reports %d page(s); tdpmmu reports %d more (%s) and "
                    + "misses %d (%s)%n", title, step.name(), s, kvmPages, extraPages, ranges(extra),
                    missedPages, ranges(missed));
        }
    }

    private static boolean bit(long[] b, long page) {
        return (b[(int) (page >>> 6)] & (1L << (page & 63))) != 0;
    }

    private static void addRange(List<long[]> ranges, long gfn) {
        final long[] last = ranges.isEmpty() ? null : ranges.get(ranges.size() - 1);
        if (last != null && last[1] == gfn) {
            last[1] = gfn + 1;
        } else {
            ranges.add(new long[] {gfn, gfn + 1});
        }
    }

    private static String ranges(List<long[]> ranges) {
        if (ranges.isEmpty()) {
            return "none";
        }
        final StringBuilder sb = new StringBuilder("gfn ");
        for (int i = 0; i < ranges.size() && i < MAX_RANGES; i++) {
            final long[] r = ranges.get(i);
            sb.append(i == 0 ? "" : ", ").append("0x").append(Long.toHexString(r[0]));
            if (r[1] - r[0] > 1) {
                sb.append("-0x").append(Long.toHexString(r[1] - 1));
            }
        }
        if (ranges.size() > MAX_RANGES) {
            sb.append(", ... ").append(ranges.size() - MAX_RANGES).append(" more ranges");
        }
        return sb.toString();
    }

    /** KVM's binary statistics beside the model's counters, over the whole run. */
    private void printStats(KvmVm real, ModelReplay model, int vcpus) {
        KvmStats vcpu = KvmStats.empty();
        for (int i = 0; i < vcpus; i++) {
            vcpu = vcpu.plus(real.vcpuStats(i));
        }
        final KvmStats vm = real.vmStats();
        final Map<String, Long> c = model.counters();
        final long[] leaves = model.leafCounts();
        long faults = 0;
        for (Map.Entry<String, Long> e : c.entrySet()) {
            if (e.getKey().startsWith("fault.") && e.getKey().indexOf('.', 6) < 0) {
                faults += e.getValue();
            }
        }
        out.println("  KVM statistics (KVM_GET_STATS_FD) beside tdpmmu's counters, model in wrprot mode:");
        out.printf("  %-26s %14s   %-34s %14s%n", "KVM", "value", "tdpmmu", "value");
        row("pf_taken", vcpu, "faults (sum of fault.*)", faults);
        row("pf_fixed", vcpu, "fault.installed + fault.fast",
                c.getOrDefault("fault.installed", 0L) + c.getOrDefault("fault.fast", 0L));
        row("pf_fast", vcpu, "fault.fast", c.getOrDefault("fault.fast", 0L));
        row("pf_spurious", vcpu, "fault.spurious", c.getOrDefault("fault.spurious", 0L));
        row("remote_tlb_flush", vm, "tlb.flush.requests", c.getOrDefault("tlb.flush.requests", 0L));
        row("remote_tlb_flush_requests", vm, "", -1);
        row("pages_4k", vm, "4 KiB leaves mapped at the end", leaves[0]);
        row("pages_2m", vm, "2 MiB leaves mapped at the end", leaves[1]);
        row("pages_1g", vm, "1 GiB leaves mapped at the end", leaves[2]);
        row("exits", vcpu, "vmexit", c.getOrDefault("vmexit", 0L));
        row("insn_emulation", vcpu, "", -1);
        long huge = 0;
        for (KvmVm.Slot s : real.slots()) {
            huge += real.hugeBackedBytes(s);
        }
        out.printf("  host memory behind the slots backed by transparent huge pages: %d MiB%n", huge >> 20);
        if (vcpu.get("insn_emulation") > vcpu.get("pf_taken") && vcpu.get("pf_taken") == 0) {
            out.println("  note: this host emulated the guest's instructions (insn_emulation) and took no MMU "
                    + "page faults: its dirty log comes from the emulator's writes, its MMU counters stay 0");
        }
    }

    private void row(String kvmName, KvmStats stats, String ours, long value) {
        final long k = stats.get(kvmName);
        out.printf("  %-26s %14s   %-34s %14s%n", kvmName, k < 0 ? "not exposed" : Long.toString(k), ours,
                value < 0 ? "" : Long.toString(value));
    }
}
