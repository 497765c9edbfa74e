package org.tdpmmu.scenarios.sim;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.tdpmmu.core.Backing;
import org.tdpmmu.core.KvmSetMemoryRegion;
import org.tdpmmu.core.Memslot;
import org.tdpmmu.core.Memslots;
import org.tdpmmu.core.MmuCounters;
import org.tdpmmu.core.SafetyChecks;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;
import org.tdpmmu.core.VmConfig;

/**
 * The kernel's two memslot selftests (6.12, tools/testing/selftests/kvm) on the model: vCPU threads
 * run while the host changes memslots through {@link KvmSetMemoryRegion}, and every safety check
 * runs at the end.
 *
 * <ul>
 * <li>{@link #modificationStress}: memslot_modification_stress_test. Each vCPU writes its share of
 * the test memory (at the top of the guest-physical space) page by page, over and over; the host
 * creates and deletes a one-page slot (id 7) just below it, {@code iterations} times, with
 * {@code delayMicros} between. With the zap-all quirk every delete zaps the whole VM, so the vCPUs
 * refault their memory: the cost the quirk's removal (6.12) avoids.</li>
 * <li>{@link #perfMove}: memslot_perf_test's "move active area" and "move inactive area". 512 MiB
 * plus 64 KiB at 256 MiB split into {@code nslots} slots; one vCPU writes each page of a 192 KiB
 * area, half of it in the last slot (active) or all of it just below (inactive), while the host
 * moves the last slot to the end of the test memory and back for {@code seconds}.</li>
 * </ul>
 */
public final class MemslotTests {

    /** kernel: DUMMY_MEMSLOT_INDEX. */
    static final int DUMMY_SLOT = 7;
    /** The test memory's slot (memstress's slot 1; the kernel keeps slot 0 for the test code). */
    static final int TEST_SLOT = 1;
    static final long PAGE = 4096;
    /** kernel memslot_perf_test: MEM_GPA, MEM_SIZE (512 MiB + MEM_EXTRA_SIZE 64 KiB), MEM_TEST_MOVE_SIZE. */
    static final long PERF_GPA = 256L << 20;
    static final long PERF_SIZE = (512L << 20) + (64L << 10);
    static final long PERF_MOVE_SIZE = 3 * (64L << 10);
    static final long MEM_TEST_VAL_1 = 0x1122334455667788L;

    private MemslotTests() {
    }

    /** What a run found: violations (empty: every check held) and the lines of the tdpmmu section. */
    public record Result(List<String> violations, List<String> summary) {
    }

    static VmConfig config(int vcpus, long pages) {
        int tables = (int) Math.min(Integer.MAX_VALUE, pages / 256 + 1024L + 16L * vcpus);
        return VmConfig.small().withMaxVcpus(Math.max(vcpus, 1)).withTableCapacity(tables)
                .withHostFrameLimit(pages + 4096).withRcuReclaimer(true);
    }

    /**
     * memslot_modification_stress_test.
     *
     * @param bytesPerVcpu multiple of 4 KiB; the caller has checked the total fits
     */
    public static Result modificationStress(int vcpus, long bytesPerVcpu, long iterations, long delayMicros,
            boolean disableZapQuirk, boolean overlap, PrintStream out) throws InterruptedException {
        long pagesPerVcpu = bytesPerVcpu / PAGE;
        long pages = overlap ? pagesPerVcpu : pagesPerVcpu * vcpus;
        List<String> violations = new ArrayList<>();
        try (Vm vm = new Vm(config(vcpus, pages + 1))) {
            KvmSetMemoryRegion regions = vm.memoryRegions();
            // memstress places its memory at the top of the guest-physical space, 2 MiB aligned.
            long top = vm.memslots().gfnLimit();
            long base = (top - pages) & -512L;
            regions.create(TEST_SLOT, base, pages, Backing.PAGE_4K);
            if (disableZapQuirk) {
                regions.setSlotZapAll(false);
            }
            out.println("Testing guest mode: tdpmmu, 4-level TDP, 4K pages");
            out.println("Memslot zap quirk " + (disableZapQuirk ? "disabled" : "enabled"));
            List<Vcpu> cpus = new ArrayList<>();
            for (int i = 0; i < vcpus; i++) {
                cpus.add(vm.createVcpu());
            }
            out.println("Finished creating vCPUs");
            AtomicBoolean stop = new AtomicBoolean();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            List<Thread> threads = new ArrayList<>();
            for (int i = 0; i < vcpus; i++) {
                Vcpu vcpu = cpus.get(i);
                long first = base + (overlap ? 0 : i * pagesPerVcpu);
                threads.add(new Thread(() -> {
                    try {
                        for (long pass = 1; !stop.get(); pass++) {
                            for (long g = first; g < first + pagesPerVcpu && !stop.get(); g++) {
                                vcpu.write(g, pass);
                            }
                        }
                    } catch (Throwable t) {
                        failure.compareAndSet(null, t);
                    } finally {
                        vcpu.exitGuest();
                    }
                }, "vcpu" + i));
            }
            threads.forEach(Thread::start);
            out.println("Started all vCPUs");
            long dummyGfn = base - 1;
            SafetyChecks.DeletedSlotCheck lastDeleted = null;
            long t0 = System.nanoTime();
            for (long i = 0; i < iterations && failure.get() == null; i++) {
                if (delayMicros > 0) {
                    Thread.sleep(delayMicros / 1000, (int) (delayMicros % 1000) * 1000);
                }
                Memslot dummy = regions.create(DUMMY_SLOT, dummyGfn, 1, Backing.PAGE_4K);
                lastDeleted = new SafetyChecks.DeletedSlotCheck(vm, dummy);
                regions.delete(DUMMY_SLOT);
            }
            long changesNanos = System.nanoTime() - t0;
            stop.set(true);
            for (Thread t : threads) {
                t.join();
            }
            out.println("All vCPU threads joined");
            if (failure.get() != null) {
                violations.add("vcpu: " + failure.get());
            }
            if (lastDeleted != null) {
                violations.addAll(lastDeleted.check(vm));
            }
            List<String> summary = new ArrayList<>();
            summary.add(String.format("memslot changes: %d (%d create + delete pairs) in %s", 2 * iterations, iterations,
                    seconds(changesNanos)));
            return finish(vm, violations, summary);
        }
    }

    /** memslot_perf_test's move tests, 3 and 4 (the others: {@link MemslotMapRwTests}). */
    public static final int FIRST_MOVE_TEST = 3;
    public static final int LAST_MOVE_TEST = 4;

    /** memslot_perf_test's name of test {@code n} (0..5). */
    public static String perfTestName(int n) {
        return switch (n) {
            case 0 -> "map";
            case 1 -> "unmap";
            case 2 -> "unmap chunked";
            case 3 -> "move active area";
            case 4 -> "move inactive area";
            case 5 -> "RW";
            default -> throw new IllegalArgumentException("test " + n + " is not 0..5");
        };
    }

    /** The kernel's per-run result: slot setup, the timed loop, and its iterations. */
    public record PerfRun(long setupNanos, long loopNanos, long loops, Result result) {
    }

    /**
     * One run of memslot_perf_test's move test ({@code active}: test 3, else 4).
     *
     * @param nslots test slots, 2 .. {@link Memslots#USER_MEM_SLOTS} - 1
     * @return the run, or null with {@code maxSlots[0]} set when the last slot is too small for
     *         the active test (the kernel's "Memslot count too high" case)
     */
    public static PerfRun perfMove(boolean active, int nslots, double seconds, boolean disableZapQuirk, boolean verbose,
            long[] maxSlots, PrintStream out) throws InterruptedException {
        long npages = PERF_SIZE / PAGE;
        long perSlot = npages / nslots;
        long lastPages = perSlot + npages % nslots;
        if (active && lastPages * PAGE < PERF_MOVE_SIZE / 2) {
            maxSlots[0] = 0;
            return null;
        }
        List<String> violations = new ArrayList<>();
        try (Vm vm = new Vm(config(1, npages))) {
            KvmSetMemoryRegion regions = vm.memoryRegions();
            if (disableZapQuirk) {
                regions.setSlotZapAll(false);
            }
            long base = PERF_GPA / PAGE;
            if (verbose) {
                out.println("Adding slots 1.." + nslots + ", each slot with " + perSlot + " pages + "
                        + (lastPages - perSlot) + " extra pages last");
            }
            long s0 = System.nanoTime();
            for (int i = 0; i < nslots; i++) {
                regions.create(i + 1, base + i * perSlot, i == nslots - 1 ? lastPages : perSlot, Backing.PAGE_4K);
            }
            long setup = System.nanoTime() - s0;
            long srcGfn = base + (nslots - 1) * perSlot;
            long destGfn = (PERF_GPA + PERF_SIZE) / PAGE;
            long areaGfn = srcGfn - PERF_MOVE_SIZE / PAGE / (active ? 2 : 1);
            long areaPages = PERF_MOVE_SIZE / PAGE;
            Vcpu vcpu = vm.createVcpu();
            AtomicBoolean stop = new AtomicBoolean();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            boolean[] landed = new boolean[(int) areaPages];
            Thread guest = launch(vcpu, () -> {
                while (!stop.get()) {
                    for (long g = areaGfn; g < areaGfn + areaPages; g++) {
                        boolean ok = vcpu.write(g, MEM_TEST_VAL_1);
                        landed[(int) (g - areaGfn)] |= ok;
                        // A write to the moved-away half is an MMIO exit, as the kernel test allows.
                        if (!ok && (!active || g < srcGfn)) {
                            throw new IllegalStateException("MMIO exit at gfn 0x" + Long.toHexString(g)
                                    + ", outside the moving slot");
                        }
                    }
                }
            }, failure, verbose, out);
            long loops = 0;
            long deadline = System.nanoTime() + (long) (seconds * 1e9);
            long l0 = System.nanoTime();
            while (System.nanoTime() < deadline && failure.get() == null) {
                regions.move(nslots, destGfn);
                regions.move(nslots, srcGfn);
                loops++;
            }
            long loop = System.nanoTime() - l0;
            stop.set(true);
            guest.join();
            if (failure.get() != null) {
                violations.add("vcpu: " + failure.get());
            }
            for (long g = areaGfn; g < areaGfn + areaPages; g++) {
                Memslot slot = vm.memslots().find(g);
                // Joined: the guest thread's plain stores to landed are visible here.
                if (landed[(int) (g - areaGfn)] && vm.host().contentOf(slot, g) != MEM_TEST_VAL_1) {
                    violations.add("lost write: gfn 0x" + Long.toHexString(g) + " does not hold the guest's value");
                    break;
                }
            }
            List<String> summary = new ArrayList<>();
            summary.add(String.format("memslot moves: %d (%d slots, last of %d pages)", 2 * loops, nslots, lastPages));
            return new PerfRun(setup, loop, loops, finish(vm, violations, summary));
        }
    }

    /**
     * kernel: launch_vm: the vCPU thread running {@code guest} until it returns or throws (the
     * first failure kept in {@code failure}), out of guest mode when it ends.
     */
    static Thread launch(Vcpu vcpu, Runnable guest, AtomicReference<Throwable> failure, boolean verbose, PrintStream out) {
        Thread t = new Thread(() -> {
            try {
                guest.run();
            } catch (Throwable e) {
                failure.compareAndSet(null, e);
            } finally {
                vcpu.exitGuest();
            }
        }, "vcpu0");
        if (verbose) {
            out.println("Launching the test VM");
        }
        t.start();
        return t;
    }

    /** The checks every run ends with, then teardown and the leak check; the counts for the summary. */
    static Result finish(Vm vm, List<String> violations, List<String> summary) {
        violations.addAll(SafetyChecks.noStaleTranslation(vm));
        violations.addAll(SafetyChecks.noOversizedMapping(vm));
        violations.addAll(SafetyChecks.noFrozenOrDanglingEntry(vm));
        MmuCounters c = vm.counters();
        summary.add(String.format("vCPU exits: %d (faults installed %d, retried %d, emulated as MMIO %d); TLB flushes %d",
                c.vmExits.sum(), c.faultInstalled.sum(), c.faultRetry.sum(), c.faultEmulate.sum(),
                c.tlbFlushRequests.sum()));
        vm.destroy();
        violations.addAll(SafetyChecks.noLeak(vm));
        summary.add(violations.isEmpty() ? "safety: every check held" : "safety: " + violations.size() + " violations");
        return new Result(violations, summary);
    }

    /** The kernel tests' {@code %ld.%.9lds}. */
    public static String seconds(long nanos) {
        return String.format("%d.%09ds", nanos / 1_000_000_000L, nanos % 1_000_000_000L);
    }
}
