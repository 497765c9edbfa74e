package org.tdpmmu.scenarios.sim;

import java.io.PrintStream;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.function.IntConsumer;
import java.util.function.LongBinaryOperator;
import org.tdpmmu.core.Memslot;
import org.tdpmmu.core.TdpIter;
import org.tdpmmu.core.TdpMmuAge;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;
import org.tdpmmu.scenarios.model.CostModel;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.model.SlotConfig;

/**
 * The steps of the kernel's access_tracking_perf_test on the model (6.12 source): every vCPU thread
 * writes its memory (populating it), writes and reads it again, marks it idle page by page (kernel:
 * mark_vcpu_memory_idle: reading a page's bit in /sys/kernel/mm/page_idle/bitmap and writing it each
 * reach clear_young for that one page; here one clear_young per page, from each vCPU's own thread),
 * writes it, marks it idle again, and reads it. Each step prints its wall time as the kernel test
 * does ({@code %-30s: %ld.%09lds}); the second marking counts, per vCPU, the pages still idle
 * (flagged idle and not young: aging did not see their write), which must stay under 10%.
 *
 * <p>The scenario gives the VM's shape only (one slot; {@code overlapVcpuMemory}: every vCPU touches
 * all of it and vCPU 0 alone marks it idle, as the kernel test does with {@code -o};
 * {@code locklessAging}: the locking mode).
 *
 * <p>{@link Options#lruGen} (the kernel test's {@code -l}: in James Houghton's MGLRU and
 * lockless-aging series from v4 of 2024-05-29, merged on its own for 6.16): memory is marked idle
 * not by every vCPU thread through page_idle but by one aging pass of the host's multi-gen LRU
 * over all of it (kernel: lru_gen_do_aging writing the lru_gen debugfs file; mm/vmscan.c
 * walk_pte_range with the secondary-MMU walk). Per present host PTE, the pass asks KVM once: clear_young on the page if
 * the host PTE is young (the host fault that populated it left it young), else test_young, and
 * clear_young too if KVM found it young. {@link Options#benchmark} (the test's {@code -p}): the
 * vCPUs populate their memory while the test's main thread runs such passes back to back until
 * every vCPU is done; it prints the slowest vCPU's wall time and the average pass, the figures of
 * the series' v4 cover letter (2024-05-29) for the TDP MMU. {@code -p} was in the series' test patch
 * from v4 to v8 and never merged; the lockless aging itself was, for 6.15.
 */
public final class AccessTracking
{
    /** Whether a vCPU found too many pages still idle, and the kernel test's words for the first. */
    public record Result(boolean tooManyIdle, String idleMessage, long youngPages, long idlePages,
        Benchmark benchmark)
    {
    }

    /**
     * How memory is marked idle: {@code lruGen} the test's {@code -l} (one MGLRU aging pass over all
     * of it, instead of page_idle from every vCPU thread), {@code benchmark} its {@code -p} (aging
     * passes while the vCPUs populate; needs {@code lruGen}, as the kernel test asserts).
     */
    public record Options(boolean lruGen, boolean benchmark)
    {
        public static final Options PAGE_IDLE = new Options(false, false);

        public Options
        {
            if (benchmark && !lruGen)
            {
                throw new IllegalArgumentException("-p specified without -l");
            }
        }
    }

    /**
     * What {@code -p} measured and what the cost model charges for it.
     *
     * <p>Modeled, each thread has a CPU of its own, as on the kernel's host (here 2 cores run every
     * thread, so the aging thread's wall-clock share says nothing about the kernel's). The aging
     * thread's calls cost {@code age.gfn} each, and with mmu_lock for write {@code age.lock.wait}
     * more: every locked call of the benchmark is charged the wait, since its passes run while the
     * vCPUs fault (the loop stops when they are done). Each such call holds every populating vCPU
     * back {@code age.lock.stall}; the aging thread makes one every {@code age.gfn + age.lock.wait},
     * so a vCPU whose own populate costs T0 takes T = T0 + T x stall / (gfn + wait).
     *
     * @param vcpuWallNanos the slowest vCPU's populate, from the start of the benchmark
     * @param agingNanos every pass together
     * @param pagesMet present host pages the passes met (a notifier call or two each)
     * @param callsWhilePopulating calls the aging thread made (wall clock) before every vCPU was done
     * @param vcpuModeledNanos T: a vCPU's modeled populate (the vCPUs' charged counters over the step,
     *     divided by the vCPUs: T0) with the stall
     * @param vcpuStallNanos T - T0 (0 lockless)
     * @param agingModeledNanos the passes' modeled cost
     */
    public record Benchmark(long vcpuWallNanos, long agingNanos, int passes, long pagesMet, long calls,
        long callsWhilePopulating, long vcpuModeledNanos, long vcpuStallNanos, long agingModeledNanos)
    {
    }

    /** Test seam for {@code -p}: where the vCPUs stand when the aging thread starts and ends passes. */
    interface BenchmarkHook
    {
        BenchmarkHook NONE = new BenchmarkHook()
        {
        };

        /** On a vCPU thread, after it populated the first half of its pages. */
        default void vcpuHalfway(final int vcpu) throws InterruptedException
        {
        }

        /** On the aging thread, before pass {@code pass} (0-based). */
        default void beforePass(final int pass) throws InterruptedException
        {
        }

        /** On the aging thread, after pass {@code pass} met {@code pagesMet} present pages. */
        default void afterPass(final int pass, final long pagesMet)
        {
        }
    }

    /** Word updates of the host bitmaps (volatile read-modify-write; no allocation: stateless). */
    private static final LongBinaryOperator OR = (a, b) -> a | b;
    private static final LongBinaryOperator ANDNOT = (a, b) -> a & ~b;

    private final Vcpu[] vcpu;
    private final long[] first;
    private final long pages;
    private final int vcpus;
    private final boolean overlap;
    private final boolean warnOnly;
    private final TdpMmuAge age;
    private final PrintStream out;
    /** page_idle's flag of each page of the slot; each page is marked by one thread only. */
    private final boolean[] idle;
    private volatile String tooManyIdle;
    private final Options options;
    private final Vm vm;
    private final Memslot slot;
    /**
     * The host's page table as MGLRU sees it, a bit a page: present (the host fault that populated
     * the page ran) and young (its host PTE's Accessed bit). The vCPUs set both when they populate,
     * gathered per 64-page word (a volatile OR); the aging thread reads them (acquire)
     * and clears young. Guest accesses through the EPT never set the host bit: only KVM knows them.
     */
    private final AtomicLongArray hostPresent;
    private final AtomicLongArray hostYoung;
    /** vCPUs still populating during {@code -p}; the aging thread reads it before every call. */
    private final AtomicInteger populating = new AtomicInteger();
    private final long[] vcpuDoneNanos;
    private long calls;
    /** Calls made while a vCPU still populated (wall clock: how the 2 cores shared the threads). */
    private long callsWhilePopulating;

    private AccessTracking(final Scenario s, final Vm vm, final Memslot slot, final boolean warnOnly,
        final PrintStream out, final Options options)
    {
        this.options = options;
        this.vm = vm;
        this.slot = slot;
        final int words = (int)((slot.npages() + 63) >>> 6);
        this.hostPresent = new AtomicLongArray(options.lruGen() ? words : 0);
        this.hostYoung = new AtomicLongArray(options.lruGen() ? words : 0);
        this.vcpus = s.vm().vcpus();
        this.overlap = s.vm().overlapVcpuMemory();
        this.pages = s.vm().pagesPerVcpu();
        this.warnOnly = warnOnly;
        this.out = out;
        this.vcpu = new Vcpu[vcpus];
        this.first = new long[vcpus];
        this.age = new TdpMmuAge(vm);
        this.idle = new boolean[options.lruGen() ? 0 : (int)slot.npages()];
        this.vcpuDoneNanos = new long[vcpus];
        for (int i = 0; i < vcpus; i++)
        {
            vcpu[i] = vm.createVcpu();
            first[i] = slot.baseGfn() + (overlap ? 0 : i * pages);
        }
    }

    /**
     * Runs the steps on a VM of {@code s}'s shape (the caller checked its memory estimate), EPT
     * A/D bits on or off, printing the kernel test's lines on {@code out}.
     */
    public static Result run(final Scenario s, final boolean eptAdBits, final boolean warnOnly, final PrintStream out)
        throws InterruptedException
    {
        return run(s, eptAdBits, warnOnly, out, Options.PAGE_IDLE);
    }

    /** As {@link #run(Scenario, boolean, boolean, PrintStream)}, marking memory idle as {@code options} say. */
    public static Result run(final Scenario s, final boolean eptAdBits, final boolean warnOnly, final PrintStream out,
        final Options options) throws InterruptedException
    {
        return run(s, eptAdBits, warnOnly, out, options, BenchmarkHook.NONE);
    }

    static Result run(final Scenario s, final boolean eptAdBits, final boolean warnOnly, final PrintStream out,
        final Options options, final BenchmarkHook hook) throws InterruptedException
    {
        if (s.vm().slots().size() != 1)
        {
            throw new IllegalArgumentException("access tracking runs on one memslot, not " + s.vm().slots().size());
        }
        try (Vm vm = new Vm(ScenarioRun.coreConfig(s).withEptAdBits(eptAdBits)))
        {
            final SlotConfig slot = s.vm().slots().get(0);
            final Memslot memslot = vm.addMemslot(slot.baseGfn(), slot.pages(), ScenarioRun.coreBacking(slot));
            final AccessTracking t = new AccessTracking(s, vm, memslot, warnOnly, out, options);
            final Benchmark b = options.benchmark() ? t.benchmark(s.costModel(), hook) : null;
            if (b == null)
            {
                t.steps();
            }
            final String idleMessage = t.tooManyIdle;
            return new Result(idleMessage != null, idleMessage, vm.counters().ageYoung.sum(),
                vm.counters().ageIdle.sum(), b);
        }
    }

    private void steps() throws InterruptedException
    {
        out.println();
        step("Populating memory", this::populate);
        // As a control, write and read the populated memory first.
        step("Writing to populated memory", i -> access(i, true));
        step("Reading from populated memory", i -> access(i, false));
        // Repeat on memory marked idle.
        markMemoryIdle();
        step("Writing to idle memory", i -> access(i, true));
        markMemoryIdle();
        step("Reading from idle memory", i -> access(i, false));
        out.flush();
    }

    /** kernel: mark_memory_idle: page_idle from every vCPU thread, or one lru_gen pass ({@code -l}). */
    private void markMemoryIdle() throws InterruptedException
    {
        if (!options.lruGen())
        {
            step("Mark memory idle", this::markIdle);
            return;
        }
        final long t0 = System.nanoTime();
        final long total = agingPass(new TdpIter(vm.store()));
        final long ns = System.nanoTime() - t0;
        // The kernel test's check for this mode: the pages used since the last pass must be found
        // young again (it looks for 90% of them in a newer generation): fewer than 10% old.
        if (lastPassOld >= total / 10 && tooManyIdle == null)
        {
            final String what = "Too many pages still idle (" + lastPassOld + " out of " + total + ")";
            tooManyIdle = what;
            if (warnOnly)
            {
                out.println("WARNING: " + what + ", this will affect performance results.");
            }
        }
        printTime("Mark memory idle (lru_gen)", ns);
    }

    /** Old pages the last lru_gen pass met: neither the host PTE nor KVM had seen them used. */
    private long lastPassOld;

    /**
     * kernel: run_benchmark of access_tracking_perf_test {@code -p}: the vCPUs populate their
     * memory (write, first touch) while this thread runs aging passes until every vCPU is done;
     * then the slowest vCPU's wall time and the average pass.
     */
    private Benchmark benchmark(final CostModel units, final BenchmarkHook hook) throws InterruptedException
    {
        out.println("Running lru_gen benchmark...");
        final Map<String, Long> before = vm.counters().snapshot();
        final Thread[] threads = new Thread[vcpus];
        final Throwable[] failure = new Throwable[1];
        populating.set(vcpus);
        final long t0 = System.nanoTime();
        for (int i = 0; i < vcpus; i++)
        {
            final int id = i;
            threads[i] = new Thread(() ->
            {
                try
                {
                    populate(id, hook);
                }
                catch (final RuntimeException | Error | InterruptedException e)
                {
                    synchronized (failure)
                    {
                        failure[0] = failure[0] == null ? e : failure[0];
                    }
                }
                finally
                {
                    vcpuDoneNanos[id] = System.nanoTime();
                    // Release: the aging thread's acquire read of the count sees this vCPU's
                    // host bits and done time.
                    populating.decrementAndGet();
                }
            }, "vcpu-" + i);
            threads[i].start();
        }
        // kernel: access_memory_async prints the step without a time.
        out.printf("%-30s%n", "Populating memory (async)");
        final TdpIter iter = new TdpIter(vm.store());
        int passes = 0;
        long met = 0;
        while (populating.get() > 0)
        {
            hook.beforePass(passes);
            final long p = agingPass(iter);
            hook.afterPass(passes, p);
            met += p;
            passes++;
        }
        final long agingNs = System.nanoTime() - t0;
        for (final Thread t : threads)
        {
            t.join();
        }
        rethrow(failure);
        long last = t0;
        for (final long done : vcpuDoneNanos)
        {
            last = Math.max(last, done);
        }
        final long vcpuWall = last - t0;
        final Map<String, Long> after = vm.counters().snapshot();
        // The vCPUs' side: every charged counter of the step but the aging thread's own.
        final Map<String, Long> delta = new java.util.LinkedHashMap<>();
        after.forEach((k, v) -> delta.put(k, v - before.getOrDefault(k, 0L)));
        final long agingGfns = delta.remove("age.gfn");
        final boolean locked = !age.lockless();
        final long waits = locked ? agingGfns : 0;
        final long agingModeled = units.modeledNanos(Map.of("age.gfn", agingGfns, "age.lock.wait", waits));
        final long vcpuOwn = units.modeledNanos(delta) / vcpus;
        final long stall;
        if (locked)
        {
            final double perCall = units.unit("age.gfn") + units.unit("age.lock.wait");
            final double share = units.unit("age.lock.stall") / perCall;
            stall = share >= 1 ? Long.MAX_VALUE / 2 : Math.round(vcpuOwn * share / (1 - share));
        }
        else
        {
            stall = 0;
        }
        final long vcpuModeled = vcpuOwn + stall;
        printTime("vcpu wall time", vcpuWall);
        final long avg = passes == 0 ? 0 : agingNs / passes;
        out.printf("%-30s: %d.%09ds, (passes:%d, total:%d.%09ds)%n", "lru_gen avg pass duration",
            avg / 1_000_000_000L, avg % 1_000_000_000L, passes, agingNs / 1_000_000_000L, agingNs % 1_000_000_000L);
        // tdpmmu's own lines: what the cost model charges (FIGURES.md, "Aging").
        out.printf("%-30s: %d, (calls:%d, while populating:%d)%n", "tdpmmu pages met", met, calls, callsWhilePopulating);
        final long modeledAvg = passes == 0 ? 0 : agingModeled / passes;
        printTime("tdpmmu modeled vcpu time", vcpuModeled);
        printTime("tdpmmu modeled avg pass", modeledAvg);
        out.flush();
        return new Benchmark(vcpuWall, agingNs, passes, met, calls, callsWhilePopulating, vcpuModeled, stall, agingModeled);
    }

    /**
     * One MGLRU aging pass over the slot (kernel: walk_pte_range with the secondary-MMU walk, one
     * notifier call per page, two when the host PTE is old and KVM says young).
     *
     * @return the present host pages it met
     */
    private long agingPass(final TdpIter iter)
    {
        final long base = slot.baseGfn();
        final long npages = slot.npages();
        long met = 0;
        long old = 0;
        for (int w = 0; (long)w << 6 < npages; w++)
        {
            final long present = hostPresent.get(w);
            if (present == 0)
            {
                continue;
            }
            // The host's ptep_test_and_clear_young, a word at a time: the bits taken are this
            // pass's young host PTEs (a vCPU may publish more meanwhile: next pass's).
            final long young = hostYoung.getAndAccumulate(w, present, ANDNOT) & present;
            for (long bits = present; bits != 0; bits &= bits - 1)
            {
                final int b = Long.numberOfTrailingZeros(bits);
                final long gfn = base + ((long)w << 6) + b;
                met++;
                final boolean whilePopulating = populating.get() > 0;
                boolean used = (young & (1L << b)) != 0;
                if (!used)
                {
                    count(whilePopulating);
                    used = age.testYoung(iter, gfn, gfn + 1);
                    if (!used)
                    {
                        old++;
                        continue;
                    }
                }
                count(whilePopulating);
                age.clearYoung(iter, gfn, gfn + 1);
            }
        }
        lastPassOld = old;
        return met;
    }

    private void count(final boolean whilePopulating)
    {
        calls++;
        if (whilePopulating)
        {
            callsWhilePopulating++;
        }
    }

    /** The first write of every page; with {@code -l}, the host PTEs it creates are young. */
    private void populate(final int i)
    {
        try
        {
            populate(i, BenchmarkHook.NONE);
        }
        catch (final InterruptedException e)
        {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while populating", e);
        }
    }

    private void populate(final int i, final BenchmarkHook hook) throws InterruptedException
    {
        if (!options.lruGen())
        {
            access(i, true);
            return;
        }
        final Vcpu v = vcpu[i];
        final long span = span();
        final long half = span / 2;
        final long base = slot.baseGfn();
        long word = -1;
        long bits = 0;
        for (long p = 0; p < span; p++)
        {
            if (p == half)
            {
                publish(word, bits);
                word = -1;
                bits = 0;
                v.exitGuest();
                hook.vcpuHalfway(i);
            }
            final long gfn = first[i] + p;
            v.write(gfn, p);
            final long at = gfn - base;
            if (at >>> 6 != word)
            {
                publish(word, bits);
                word = at >>> 6;
                bits = 0;
            }
            bits |= 1L << (at & 63);
        }
        publish(word, bits);
        v.exitGuest();
    }

    private void publish(final long word, final long bits)
    {
        if (word >= 0)
        {
            // Young first: a pass that sees the page present must see it young too.
            hostYoung.accumulateAndGet((int)word, bits, OR);
            hostPresent.accumulateAndGet((int)word, bits, OR);
        }
    }

    private long span()
    {
        return overlap ? pages * vcpus : pages;
    }

    private void access(final int i, final boolean write)
    {
        final Vcpu v = vcpu[i];
        final long span = span();
        for (long p = 0; p < span; p++)
        {
            if (write)
            {
                v.write(first[i] + p, p);
            }
            else
            {
                v.read(first[i] + p);
            }
        }
        // Out of guest mode between steps, so a flush never waits for an idle vCPU thread.
        v.exitGuest();
    }

    /** kernel: mark_vcpu_memory_idle. Reading a page's idle bit ages it; writing the bit marks it idle. */
    private void markIdle(final int i)
    {
        if (overlap && i != 0)
        {
            return;
        }
        final TdpIter iter = new TdpIter(vcpu[i].vm().store());
        final long span = span();
        long stillIdle = 0;
        for (long p = 0; p < span; p++)
        {
            final long gfn = first[i] + p;
            // vCPU 0's region starts the slot: the flag's index is the page's offset in the slot.
            final int at = (int)(gfn - first[0]);
            // A young page loses page_idle's flag when its bit is read; marking sets it again.
            final boolean young = age.clearYoung(iter, gfn, gfn + 1);
            if (idle[at] && !young)
            {
                stillIdle++;
                continue;
            }
            idle[at] = true;
        }
        if (stillIdle >= span / 10)
        {
            final String what = "vCPU" + i + ": Too many pages still idle (" + stillIdle + " out of " + span + ")";
            if (tooManyIdle == null)
            {
                tooManyIdle = what;
            }
            if (warnOnly)
            {
                out.println("WARNING: " + what + ", this will affect performance results.");
            }
        }
    }

    private void step(final String description, final IntConsumer work) throws InterruptedException
    {
        final Thread[] threads = new Thread[vcpus];
        final Throwable[] failure = new Throwable[1];
        final long t0 = System.nanoTime();
        for (int i = 0; i < vcpus; i++)
        {
            final int id = i;
            threads[i] = new Thread(() ->
            {
                try
                {
                    work.accept(id);
                }
                catch (final RuntimeException | Error e)
                {
                    synchronized (failure)
                    {
                        failure[0] = failure[0] == null ? e : failure[0];
                    }
                }
            }, "vcpu-" + i);
            threads[i].start();
        }
        for (final Thread t : threads)
        {
            t.join();
        }
        final long ns = System.nanoTime() - t0;
        rethrow(failure);
        printTime(description, ns);
    }

    private void printTime(final String description, final long ns)
    {
        out.printf("%-30s: %d.%09ds%n", description, ns / 1_000_000_000L, ns % 1_000_000_000L);
    }

    private static void rethrow(final Throwable[] failure) throws InterruptedException
    {
        synchronized (failure)
        {
            if (failure[0] instanceof Error e)
            {
                throw e;
            }
            if (failure[0] instanceof InterruptedException e)
            {
                throw e;
            }
            if (failure[0] != null)
            {
                throw (RuntimeException)failure[0];
            }
        }
    }
}
