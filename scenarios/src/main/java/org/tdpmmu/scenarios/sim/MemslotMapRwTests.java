package org.tdpmmu.scenarios.sim;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.tdpmmu.core.Backing;
import org.tdpmmu.core.HostMemory;
import org.tdpmmu.core.KvmSetMemoryRegion;
import org.tdpmmu.core.Memslot;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;

/**
 * memslot_perf_test's tests 0 (map), 1 (unmap), 2 (unmap chunked) and 5 (RW) on the model (6.12,
 * tools/testing/selftests/kvm/memslot_perf_test.c): the test memory at 256 MiB split into
 * {@code nslots} slots as the kernel test splits it, one vCPU and the host taking turns over it at
 * the test's sync points, the host's loop timed.
 *
 * <ul>
 * <li>map: 32 MiB + 64 KiB. The guest writes VAL_1 to each page of the first half of the test
 * area, syncs, VAL_2 to each page of the second half, syncs. The host unmaps the second half
 * (madvise MADV_DONTNEED), syncs, checks the first half's first and last page, unmaps it, syncs,
 * checks the second half's. Each unmap takes the guest's mappings, so each half is refaulted.</li>
 * <li>unmap, unmap chunked: 128 MiB + 64 KiB. The guest writes one page of each half per sync;
 * the host unmaps the other half 4 KiB at a time (unmap) or 2 MiB at a time (chunked).</li>
 * <li>RW: 512 MiB + 64 KiB. The guest writes every page, the host checks every page and writes
 * its own value, the guest reads it back and clears it.</li>
 * </ul>
 *
 * <p>MADV_DONTNEED on the slot's memory is an mmu_notifier invalidation of the range, the host
 * pages dropped (their content zero afterwards) while it is in progress, one call per slot piece
 * as the kernel test's loop over vm_gpa2hva makes them. The sync flag is an atomic here rather
 * than a word of guest memory, with the kernel test's protocol (the host sets it and spins until
 * the guest has cleared it by compare-and-swap); the guest leaves guest mode while it waits, so it
 * holds up no TLB flush of the host's unmaps. The host waits at most 60 s (the kernel test: 10 s).
 *
 * <p>Decision, RW: the model keeps one 64-bit word per 4 KiB page, so the two words the kernel test
 * puts in each page (the guest's at offset 0, the host's at half a page) are the page's one word at
 * two times: the host checks VAL_1 and stores VAL_2 once the guest has written the whole area, and
 * the guest reads VAL_2 back after the next sync. The guest and host passes alternate instead of
 * overlapping; each still touches every page once per iteration, and every value is checked.
 */
public final class MemslotMapRwTests {

    static final int MAP = 0;
    static final int UNMAP = 1;
    static final int UNMAP_CHUNKED = 2;
    static final int RW = 5;
    /** kernel: MEM_EXTRA_SIZE (the sync area, below the test area), MEM_SIZE_MAP, MEM_TEST_UNMAP_SIZE. */
    static final long EXTRA = 64L << 10;
    static final long MAP_TEST_SIZE = 32L << 20;
    static final long UNMAP_TEST_SIZE = 128L << 20;
    static final long UNMAP_CHUNK_PAGES = (2L << 20) / MemslotTests.PAGE;
    static final long MEM_TEST_VAL_2 = 0x99AABBCCDDEEFF00L;
    private static final long SYNC_TIMEOUT_NANOS = 60_000_000_000L;

    private MemslotMapRwTests() {
    }

    /** Whether test {@code n} is one of this class's. */
    public static boolean covers(int n) {
        return n == MAP || n == UNMAP || n == UNMAP_CHUNKED || n == RW;
    }

    /** The bytes of guest memory test {@code n} maps: the kernel's test_data.mem_size (0 is MEM_SIZE). */
    static long memSize(int n) {
        return switch (n) {
            case MAP -> MAP_TEST_SIZE + EXTRA;
            case UNMAP, UNMAP_CHUNKED -> UNMAP_TEST_SIZE + EXTRA;
            default -> MemslotTests.PERF_SIZE;
        };
    }

    /** Whether the kernel ranks test {@code n}'s slot setup time (only the tests on the whole MEM_SIZE). */
    public static boolean ranksSetup(int n) {
        return n == RW || n == MemslotTests.FIRST_MOVE_TEST || n == MemslotTests.LAST_MOVE_TEST;
    }

    /**
     * The kernel's get_max_slots for a page count the cap does not split into non-empty slots:
     * the largest slot count below the cap that does, plus the reserved slot 0.
     */
    static long maxSlots(long npages, int nslots) {
        for (long slots = nslots - 1; slots > 1; slots--) {
            if (npages / slots != 0) {
                return slots + 1;
            }
        }
        return 0;
    }

    /** The kernel test's sync_flag handshake. */
    private static final class Sync {
        final AtomicBoolean flag = new AtomicBoolean();
        volatile boolean exit;
        final AtomicReference<Throwable> failure = new AtomicReference<>();

        /** kernel: host_perform_sync. */
        void host() {
            flag.set(true);
            long deadline = System.nanoTime() + SYNC_TIMEOUT_NANOS;
            while (flag.get()) {
                if (failure.get() != null) {
                    throw new IllegalStateException("the guest stopped: " + failure.get());
                }
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("the guest did not sync within 60 s");
                }
                Thread.yield();
            }
        }

        /** kernel: guest_perform_sync; false when the host asked the guest to exit. */
        boolean guest(Vcpu vcpu) {
            vcpu.exitGuest();
            while (!exit) {
                if (flag.compareAndSet(true, false)) {
                    return true;
                }
                Thread.yield();
            }
            return false;
        }
    }

    /** The VM of a run and where its test area starts (above the kernel test's sync area). */
    private record Layout(Vm vm, long testGfn) {
        Memslot slotOf(long gfn) {
            return vm.memslots().find(gfn);
        }
    }

    /**
     * One run of test {@code test}.
     *
     * @param verify     {@code -d}: the host checks the guest's values in the map and unmap tests
     * @param maxSlots   set when the test memory does not split into {@code nslots} non-empty slots:
     *                   [0] the kernel's suggested cap; null is then returned
     */
    public static MemslotTests.PerfRun run(int test, int nslots, double seconds, boolean verify, boolean verbose,
            long[] maxSlots, PrintStream out) throws InterruptedException {
        long npages = memSize(test) / MemslotTests.PAGE;
        long perSlot = npages / nslots;
        long rem = npages % nslots;
        if (perSlot == 0) {
            maxSlots[0] = maxSlots(npages, nslots);
            return null;
        }
        List<String> violations = new ArrayList<>();
        try (Vm vm = new Vm(MemslotTests.config(1, npages))) {
            KvmSetMemoryRegion regions = vm.memoryRegions();
            long base = MemslotTests.PERF_GPA / MemslotTests.PAGE;
            if (verbose) {
                out.println("Adding slots 1.." + nslots + ", each slot with " + perSlot + " pages + " + rem
                        + " extra pages last");
            }
            long s0 = System.nanoTime();
            for (int i = 0; i < nslots; i++) {
                regions.create(i + 1, base + i * perSlot, i == nslots - 1 ? perSlot + rem : perSlot,
                        Backing.PAGE_4K);
            }
            long setup = System.nanoTime() - s0;
            Layout layout = new Layout(vm, base + EXTRA / MemslotTests.PAGE);
            Vcpu vcpu = vm.createVcpu();
            Sync sync = new Sync();
            long[] checked = new long[1];
            Thread guest = MemslotTests.launch(vcpu, () -> guest(test, layout, vcpu, sync), sync.failure, verbose, out);
            long loops = 0;
            long unmaps = 0;
            long l0 = System.nanoTime();
            long limit = (long) (seconds * 1e9);
            try {
                while (System.nanoTime() - l0 < limit && sync.failure.get() == null) {
                    unmaps += hostLoop(test, layout, sync, verify, violations, checked);
                    loops++;
                }
            } catch (IllegalStateException e) {
                violations.add("host: " + e.getMessage());
            }
            long loop = System.nanoTime() - l0;
            sync.exit = true;
            guest.join();
            if (sync.failure.get() != null) {
                violations.add("vcpu: " + sync.failure.get());
            }
            List<String> summary = new ArrayList<>();
            summary.add(test == RW
                    ? String.format("host pages checked: %d (%d slots)", checked[0], nslots)
                    : String.format("host unmaps: %d (MADV_DONTNEED calls, each an mmu_notifier invalidation; %d slots)"
                            + "%s", unmaps, nslots, verify ? String.format("; %d values checked", checked[0]) : ""));
            return new MemslotTests.PerfRun(setup, loop, loops, MemslotTests.finish(vm, violations, summary));
        }
    }

    /** The guest code of test {@code test} (kernel: guest_code_test_memslot_map / _unmap / _rw). */
    private static void guest(int test, Layout l, Vcpu vcpu, Sync sync) {
        long t = l.testGfn();
        switch (test) {
            case MAP -> {
                long half = MAP_TEST_SIZE / MemslotTests.PAGE / 2;
                while (true) {
                    write(vcpu, t, half, MemslotTests.MEM_TEST_VAL_1);
                    if (!sync.guest(vcpu)) {
                        return;
                    }
                    write(vcpu, t + half, half, MEM_TEST_VAL_2);
                    if (!sync.guest(vcpu)) {
                        return;
                    }
                }
            }
            case UNMAP, UNMAP_CHUNKED -> {
                long half = UNMAP_TEST_SIZE / MemslotTests.PAGE / 2;
                while (true) {
                    write(vcpu, t, 1, MemslotTests.MEM_TEST_VAL_1);
                    if (!sync.guest(vcpu)) {
                        return;
                    }
                    write(vcpu, t + half, 1, MEM_TEST_VAL_2);
                    if (!sync.guest(vcpu)) {
                        return;
                    }
                }
            }
            default -> {
                long pages = (MemslotTests.PERF_SIZE - EXTRA) / MemslotTests.PAGE;
                while (true) {
                    write(vcpu, t, pages, MemslotTests.MEM_TEST_VAL_1);
                    if (!sync.guest(vcpu) || !sync.guest(vcpu)) {
                        return;
                    }
                    for (long g = t; g < t + pages; g++) {
                        long v = vcpu.read(g);
                        if (v != MEM_TEST_VAL_2) {
                            throw new IllegalStateException(String.format("guest read 0x%x at gfn 0x%x, expected the "
                                    + "host's 0x%x", v, g, MEM_TEST_VAL_2));
                        }
                        vcpu.write(g, 0);
                    }
                }
            }
        }
    }

    private static void write(Vcpu vcpu, long first, long count, long value) {
        for (long g = first; g < first + count; g++) {
            if (!vcpu.write(g, value)) {
                throw new IllegalStateException("MMIO exit at gfn 0x" + Long.toHexString(g) + ": no slot changes here");
            }
        }
    }

    /**
     * One iteration of the host's loop (kernel: test_memslot_map_loop, test_memslot_unmap_loop(_chunked),
     * test_memslot_rw_loop).
     *
     * @return the MADV_DONTNEED calls it made
     */
    private static long hostLoop(int test, Layout l, Sync sync, boolean verify, List<String> violations,
            long[] checked) {
        long t = l.testGfn();
        HostMemory host = l.vm().host();
        switch (test) {
            case MAP -> {
                long pages = MAP_TEST_SIZE / MemslotTests.PAGE;
                long half = pages / 2;
                long calls = unmap(l, t + half, half);
                sync.host();
                check(l, t, MemslotTests.MEM_TEST_VAL_1, verify, violations, checked);
                check(l, t + half - 1, MemslotTests.MEM_TEST_VAL_1, verify, violations, checked);
                calls += unmap(l, t, half);
                sync.host();
                check(l, t + half, MEM_TEST_VAL_2, verify, violations, checked);
                check(l, t + pages - 1, MEM_TEST_VAL_2, verify, violations, checked);
                return calls;
            }
            case UNMAP, UNMAP_CHUNKED -> {
                long pages = UNMAP_TEST_SIZE / MemslotTests.PAGE;
                long chunk = test == UNMAP ? 1 : UNMAP_CHUNK_PAGES;
                long calls = 0;
                sync.host();
                check(l, t, MemslotTests.MEM_TEST_VAL_1, verify, violations, checked);
                for (long c = 0; c < pages / 2; c += chunk) {
                    calls += unmap(l, t + c, chunk);
                }
                sync.host();
                check(l, t + pages / 2, MEM_TEST_VAL_2, verify, violations, checked);
                for (long c = pages / 2; c < pages; c += chunk) {
                    calls += unmap(l, t + c, chunk);
                }
                return calls;
            }
            default -> {
                long pages = (MemslotTests.PERF_SIZE - EXTRA) / MemslotTests.PAGE;
                sync.host();
                for (long g = t; g < t + pages; g++) {
                    Memslot slot = l.slotOf(g);
                    long pfn = host.resolvePfn(slot, g);
                    long v = host.lvContent(pfn);
                    if (v != MemslotTests.MEM_TEST_VAL_1) {
                        // The kernel test asserts here: one report, then the run ends.
                        violations.add(String.format("lost write: gfn 0x%x holds 0x%x, not the guest's 0x%x", g, v,
                                MemslotTests.MEM_TEST_VAL_1));
                        throw new IllegalStateException("guest-written values should read back correctly");
                    }
                    host.soContent(pfn, MEM_TEST_VAL_2);
                }
                checked[0] += pages;
                sync.host();
                return 0;
            }
        }
    }

    /**
     * kernel: test_memslot_map_unmap_check (only with -d): the page holds {@code expected}; then the
     * host clears it.
     */
    private static void check(Layout l, long gfn, long expected, boolean verify, List<String> violations,
            long[] checked) {
        if (!verify) {
            return;
        }
        HostMemory host = l.vm().host();
        long pfn = host.resolvePfn(l.slotOf(gfn), gfn);
        long v = host.lvContent(pfn);
        checked[0]++;
        if (v != expected) {
            violations.add(String.format("lost write: gfn 0x%x holds 0x%x before its unmap, not the guest's 0x%x", gfn,
                    v, expected));
            throw new IllegalStateException("guest-written values should read back correctly before unmap");
        }
        host.soContent(pfn, 0);
    }

    /**
     * kernel: test_memslot_do_unmap: MADV_DONTNEED over {@code count} pages from {@code gfn}, one
     * call per slot piece. Each call is an mmu_notifier invalidation during which the pages are
     * dropped (zero when next faulted in).
     *
     * @return the calls made
     */
    private static long unmap(Layout l, long gfn, long count) {
        HostMemory host = l.vm().host();
        long calls = 0;
        for (long g = gfn, end = gfn + count; g < end; ) {
            Memslot slot = l.slotOf(g);
            long stop = Math.min(end, slot.endGfn());
            l.vm().mmu().invalidateRangeStart(g, stop);
            try {
                for (long p = g; p < stop; p++) {
                    host.soContent(host.resolvePfn(slot, p), 0);
                }
            } finally {
                l.vm().mmu().invalidateRangeEnd(g, stop);
            }
            calls++;
            g = stop;
        }
        return calls;
    }
}
