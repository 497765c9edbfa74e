package org.tdpmmu.scenarios.sim;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import org.tdpmmu.core.Backing;
import org.tdpmmu.core.DirtyLogging;
import org.tdpmmu.core.DirtyRing;
import org.tdpmmu.core.Memslot;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;
import org.tdpmmu.core.VmConfig;

/**
 * The analogue of the kernel's dirty_log_test (tools/testing/selftests/kvm/dirty_log_test.c,
 * 6.12) on the model: one vCPU first writes every page of a 1 GiB slot, then loops writing 1,024
 * random pages, each with the current iteration number; every interval the host collects the
 * dirty pages (mode dirty-log: KVM_GET_DIRTY_LOG; clear-log: get then KVM_CLEAR_DIRTY_LOG;
 * dirty-ring: collect the ring and KVM_RESET_DIRTY_RINGS), stops the vCPU, checks, advances the
 * iteration and lets the vCPU go on.
 *
 * <p>The kernel test's invariant: a page reported dirty holds this iteration's value or the
 * previous one (written after the previous collect); a page not reported holds at most this
 * iteration's value, and one that holds exactly it was written after this collect and must be
 * reported by the next. Beside it, one the kernel test lacks (its 2024 rework found that the old
 * test missed KVM dirtying an extra page): a page reported dirty was written since the harvest
 * that last reported it. The write in flight when a ring filled (pushed, not yet stored: the
 * kernel's dirty_ring_last_page) is exempt from the value check, and a write in flight when a
 * collect began counts as after it. Each failure names the page, its value and the iterations.
 *
 * <p>Decisions: the guest reads the iteration as it stores (after the translation), not before
 * the access as the kernel's guest may have cached it in a register, so the kernel's
 * "iteration - 2" allowance for the dirty ring is not needed and not made. The vCPU stops at the
 * end of a 1,024-page loop, or inside a KVM_EXIT_DIRTY_RING_FULL exit, as the kernel test's
 * vCPU stops at GUEST_SYNC or at a full ring.
 */
public final class DirtyLogTest
{
    /** The kernel test's log modes, in its order. */
    public enum Mode
    {
        DIRTY_LOG("dirty-log"), CLEAR_LOG("clear-log"), DIRTY_RING("dirty-ring");

        private final String name;

        Mode(final String name)
        {
            this.name = name;
        }

        public String kernelName()
        {
            return name;
        }
    }

    /** kernel: TEST_PAGES_PER_LOOP. */
    public static final int PAGES_PER_LOOP = 1024;
    /** kernel: DIRTY_MEM_BITS, 1 GiB of 4 KiB pages. */
    public static final long DEFAULT_PAGES = (1L << 30) >>> 12;
    /** kernel: TEST_DIRTY_RING_COUNT. */
    public static final int DEFAULT_RING_ENTRIES = 65536;
    /** Violations kept per mode; the rest are counted. */
    private static final int MAX_REPORTED = 20;

    private final Mode mode;
    private final long iterations;
    private final long intervalMs;
    private final int ringEntries;
    private final long baseGfn;
    private final long pages;
    private final long seed;
    private final PrintStream out;
    private final java.util.Set<org.tdpmmu.core.SeededBug> bugs;

    private final List<String> violations = new ArrayList<>();
    private long violationCount;

    // Shared between the vCPU thread and the host thread.
    private volatile long iteration;
    private volatile boolean quit;
    private volatile boolean stopRequested;
    private final Semaphore vcpuStopped = new Semaphore(0);
    private final Semaphore vcpuContinue = new Semaphore(0);
    /** Writes started so far; a write's number is taken before its translation. */
    private volatile long writeSeq;
    /** The page the vCPU is writing (translation to store), or -1. */
    private volatile long inFlight = -1;
    private volatile long inFlightSeq;
    /** Per page: the number of its last write (set before the translation). Written by the vCPU. */
    private final long[] lastWrite;
    /** Per page: a write numbered above this counts as after the harvest that last reported the page. */
    private final long[] reportedAt;
    /** kernel: host_bmap_track, pages that must be reported by the next harvest. */
    private final long[] trackNext;
    private long dirtyCount;
    private long clearCount;
    private long trackNextCount;
    private long dirtied;

    /**
     * @param pages the slot's pages (the kernel test: 1 GiB's worth); a power of two is not needed.
     */
    public DirtyLogTest(final Mode mode, final long iterations, final long intervalMs, final int ringEntries,
        final long baseGfn, final long pages, final long seed, final PrintStream out)
    {
        this(mode, iterations, intervalMs, ringEntries, baseGfn, pages, seed, out, java.util.Set.of());
    }

    /** As the public constructor, on a VM with {@code bugs} seeded (tests: the checks must catch them). */
    DirtyLogTest(final Mode mode, final long iterations, final long intervalMs, final int ringEntries,
        final long baseGfn, final long pages, final long seed, final PrintStream out,
        final java.util.Set<org.tdpmmu.core.SeededBug> bugs)
    {
        this.bugs = bugs;
        if (iterations <= 2)
        {
            throw new IllegalArgumentException("-i: iterations must be greater than two (" + iterations + ")");
        }
        if (intervalMs <= 0)
        {
            throw new IllegalArgumentException("-I: interval must be greater than zero (" + intervalMs + ")");
        }
        if (mode == Mode.DIRTY_RING)
        {
            DirtyRing.checkEntries(ringEntries, DirtyRing.PML_ENTRIES);
        }
        this.mode = mode;
        this.iterations = iterations;
        this.intervalMs = intervalMs;
        this.ringEntries = ringEntries;
        this.baseGfn = baseGfn;
        this.pages = pages;
        this.seed = seed;
        this.out = out;
        this.lastWrite = new long[(int)pages];
        this.reportedAt = new long[(int)pages];
        this.trackNext = new long[(int)((pages + 63) >>> 6)];
    }

    /** Violations found (at most {@value #MAX_REPORTED} kept, each naming the page and iterations). */
    public List<String> violations()
    {
        return violations;
    }

    public long violationCount()
    {
        return violationCount;
    }

    public long dirtyCount()
    {
        return dirtyCount;
    }

    public long clearCount()
    {
        return clearCount;
    }

    /** Runs the test; prints the kernel test's lines. @return violations found. */
    public long run() throws InterruptedException
    {
        final int tables = (int)Math.min(Integer.MAX_VALUE - 64, pages / 512 + 64);
        try (Vm vm = new Vm(VmConfig.small().withTableCapacity(tables).withHostFrameLimit(pages + 16)
            .withMaxVcpus(1).withRcuReclaimer(false).withSeededBugs(bugs)))
        {
            out.println("guest physical test memory offset: 0x" + Long.toHexString(baseGfn << 12));
            if (mode == Mode.DIRTY_RING)
            {
                out.println("dirty ring count: 0x" + Integer.toHexString(ringEntries));
                vm.enableDirtyRing(ringEntries);
            }
            final Memslot slot = vm.addMemslot(baseGfn, pages, Backing.PAGE_4K);
            final Vcpu vcpu = vm.createVcpu();
            final DirtyLogging log = new DirtyLogging(vm);
            // The kernel test creates the slot with KVM_MEM_LOG_DIRTY_PAGES; clear-log enables
            // manual protect (not initially set), so the bitmap starts clear in every mode.
            log.enable(slot, Memslot.LOG_WRPROT, false);
            vcpu.setDirtyRingFullHandler(this::onRingFull);
            iteration = 1;
            final Thread t = new Thread(() -> guest(vm, slot, vcpu), "dirty-log-test-vcpu");
            t.setDaemon(true);
            t.start();
            final long[] bitmap = new long[slot.dirtyBitmap().words()];
            while (iteration < iterations)
            {
                TimeUnit.MILLISECONDS.sleep(intervalMs);
                final long collectSeq = writeSeq;
                final long collectInFlight = inFlight;
                final long collectInFlightSeq = inFlightSeq;
                collect(vm, slot, vcpu, log, bitmap);
                stopRequested = true;
                vcpuStopped.acquire();
                verify(vm, slot, bitmap, collectSeq, collectInFlight, collectInFlightSeq);
                if (++iteration == iterations)
                {
                    quit = true;
                }
                stopRequested = false;
                vcpuContinue.release();
            }
            t.join();
            out.println("Dirtied " + dirtied + " pages");
            out.println("Total bits checked: dirty (" + dirtyCount + "), clear (" + clearCount + "), track_next (" +
                trackNextCount + ")");
        }
        return violationCount;
    }

    /** The guest: every page once, then loops of 1,024 random pages, with a stop point after each loop. */
    private void guest(final Vm vm, final Memslot slot, final Vcpu vcpu)
    {
        final SplittableRandom rng = new SplittableRandom(seed);
        try
        {
            for (long p = 0; p < pages; p++)
            {
                write(vm, vcpu, p);
            }
            while (!quit)
            {
                for (int i = 0; i < PAGES_PER_LOOP; i++)
                {
                    write(vm, vcpu, rng.nextLong(pages));
                }
                dirtied += PAGES_PER_LOOP;
                if (stopRequested)
                {
                    vcpu.exitGuest();
                    stopHere();
                }
            }
        }
        catch (final GuestQuit q)
        {
            // the host is done: the vCPU stays out
        }
        finally
        {
            vcpu.exitGuest();
        }
    }

    /** One guest store of the current iteration to page {@code p}, bookkept for the checks. */
    private void write(final Vm vm, final Vcpu vcpu, final long p)
    {
        final long seq = writeSeq + 1;
        lastWrite[(int)p] = seq;
        inFlightSeq = seq;
        inFlight = p;
        writeSeq = seq;
        final long pfn = vcpu.translate(baseGfn + p, true);
        vm.host().soContent(pfn, iteration);
        inFlight = -1;
    }

    /** Unwinds the guest at a full ring after the last iteration (kernel: host_quit, the vCPU is not resumed). */
    private static final class GuestQuit extends RuntimeException
    {
        private static final long serialVersionUID = 1L;

        GuestQuit()
        {
            super("quit", null, false, false);
        }
    }

    /** The vCPU thread at KVM_EXIT_DIRTY_RING_FULL: a stop point when the host asks, else wait. */
    private void onRingFull(final Vcpu vcpu)
    {
        if (quit)
        {
            throw new GuestQuit();
        }
        if (stopRequested)
        {
            stopHere();
        }
        else
        {
            LockSupport.parkNanos(50_000);
        }
    }

    private void stopHere()
    {
        vcpuStopped.release();
        vcpuContinue.acquireUninterruptibly();
    }

    private void collect(final Vm vm, final Memslot slot, final Vcpu vcpu, final DirtyLogging log, final long[] bitmap)
    {
        switch (mode)
        {
            case DIRTY_LOG -> log.getDirtyLog(slot, false, bitmap);
            case CLEAR_LOG ->
            {
                log.getDirtyLog(slot, true, bitmap);
                log.clearDirtyLog(slot, 0, bitmap);
            }
            case DIRTY_RING ->
            {
                java.util.Arrays.fill(bitmap, 0);
                final int[] count = {0};
                final int collected = vcpu.dirtyRing().collect((id, offset) ->
                {
                    if (id != slot.id() || offset < 0 || offset >= pages)
                    {
                        fail("ring entry of slot " + id + " offset " + offset + " is not a page of slot " + slot.id() +
                            " (iteration " + iteration + ")");
                        return;
                    }
                    if ((bitmap[(int)(offset >>> 6)] & 1L << (offset & 63)) == 0)
                    {
                        count[0]++;
                    }
                    bitmap[(int)(offset >>> 6)] |= 1L << (offset & 63);
                });
                final int reset = log.resetDirtyRings(vm.vcpus());
                if (reset != collected)
                {
                    fail("KVM_RESET_DIRTY_RINGS reset " + reset + " entries, " + collected + " were collected (iteration " +
                        iteration + ")");
                }
                out.println("Iteration " + iteration + " collected " + count[0] + " pages");
            }
        }
    }

    private void verify(final Vm vm, final Memslot slot, final long[] bitmap, final long collectSeq,
        final long collectInFlight, final long collectInFlightSeq)
    {
        final long iter = iteration;
        final long pending = inFlight;
        for (long p = 0; p < pages; p++)
        {
            final int w = (int)(p >>> 6);
            final long bit = 1L << (p & 63);
            final long value = vm.host().contentOf(slot, baseGfn + p);
            final boolean reported = (bitmap[w] & bit) != 0;
            if ((trackNext[w] & bit) != 0)
            {
                trackNext[w] &= ~bit;
                trackNextCount++;
                if (!reported)
                {
                    fail("page " + p + " should have its dirty bit set in iteration " + iter + " but it is missing " +
                        "(value " + value + ", written in iteration " + value + " after the previous collect)");
                }
            }
            if (reported)
            {
                dirtyCount++;
                if (lastWrite[(int)p] <= reportedAt[(int)p])
                {
                    fail("no-extra-dirty-page: page " + p + " reported dirty in iteration " + iter + " but not " +
                        "written since the harvest that last reported it (value " + value + ")");
                }
                // The write in flight as the collect began may have dirtied the page after it: it counts as after.
                reportedAt[(int)p] = p == collectInFlight ? collectInFlightSeq - 1 : collectSeq;
                if (p != pending && value != iter && value != iter - 1)
                {
                    fail("set page " + p + " value " + value + " incorrect (iteration " + iter + "): a page reported " +
                        "dirty must hold iteration " + iter + " or " + (iter - 1));
                }
            }
            else
            {
                clearCount++;
                if (value > iter)
                {
                    fail("clear page " + p + " value " + value + " incorrect (iteration " + iter + ")");
                }
                if (value == iter)
                {
                    // Written after this collect: the next one must report it.
                    trackNext[w] |= bit;
                }
            }
        }
    }

    private void fail(final String message)
    {
        violationCount++;
        if (violations.size() < MAX_REPORTED)
        {
            violations.add("[" + mode.kernelName() + "] " + message);
        }
    }
}
