package org.tdpmmu.scenarios.sim;

import java.io.PrintStream;
import java.util.function.IntConsumer;
import org.tdpmmu.core.Memslot;
import org.tdpmmu.core.TdpIter;
import org.tdpmmu.core.TdpMmuAge;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;
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
 */
public final class AccessTracking
{
    /** Whether a vCPU found too many pages still idle, and the kernel test's words for the first. */
    public record Result(boolean tooManyIdle, String idleMessage, long youngPages, long idlePages)
    {
    }

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

    private AccessTracking(final Scenario s, final Vm vm, final Memslot slot, final boolean warnOnly,
        final PrintStream out)
    {
        this.vcpus = s.vm().vcpus();
        this.overlap = s.vm().overlapVcpuMemory();
        this.pages = s.vm().pagesPerVcpu();
        this.warnOnly = warnOnly;
        this.out = out;
        this.vcpu = new Vcpu[vcpus];
        this.first = new long[vcpus];
        this.age = new TdpMmuAge(vm);
        this.idle = new boolean[(int)slot.npages()];
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
        if (s.vm().slots().size() != 1)
        {
            throw new IllegalArgumentException("access tracking runs on one memslot, not " + s.vm().slots().size());
        }
        try (Vm vm = new Vm(ScenarioRun.coreConfig(s).withEptAdBits(eptAdBits)))
        {
            final SlotConfig slot = s.vm().slots().get(0);
            final Memslot memslot = vm.addMemslot(slot.baseGfn(), slot.pages(), ScenarioRun.coreBacking(slot));
            final AccessTracking t = new AccessTracking(s, vm, memslot, warnOnly, out);
            t.steps();
            final String idleMessage = t.tooManyIdle;
            return new Result(idleMessage != null, idleMessage, vm.counters().ageYoung.sum(),
                vm.counters().ageIdle.sum());
        }
    }

    private void steps() throws InterruptedException
    {
        out.println();
        step("Populating memory", i -> access(i, true));
        // As a control, write and read the populated memory first.
        step("Writing to populated memory", i -> access(i, true));
        step("Reading from populated memory", i -> access(i, false));
        // Repeat on memory marked idle.
        step("Mark memory idle", this::markIdle);
        step("Writing to idle memory", i -> access(i, true));
        step("Mark memory idle", this::markIdle);
        step("Reading from idle memory", i -> access(i, false));
        out.flush();
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
        synchronized (failure)
        {
            if (failure[0] instanceof Error e)
            {
                throw e;
            }
            if (failure[0] != null)
            {
                throw (RuntimeException)failure[0];
            }
        }
        out.printf("%-30s: %d.%09ds%n", description, ns / 1_000_000_000L, ns % 1_000_000_000L);
    }
}
