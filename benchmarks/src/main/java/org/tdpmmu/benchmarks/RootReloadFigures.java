package org.tdpmmu.benchmarks;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;

import org.tdpmmu.core.Backing;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;
import org.tdpmmu.core.VmConfig;

/**
 * N vCPUs reloading their roots at once after a fast invalidation (issue 17; FIGURES.md's root-reload-2024, from
 * {@code scripts/figures.sh}, which runs it with {@code --tsv}):
 * every vCPU has loaded the VM's root, {@code TdpMmu.zapAllFast()} invalidates and zaps it, then
 * all N vCPU threads are released together and each enters the guest, which drops the invalid root
 * and loads the valid one (the first allocates it). Measured, per run: the wall time from the
 * release until the last vCPU has its new root, and the worst single vCPU's reload. Both modes:
 * the root load and unload under mmu_lock for write (before 6.9) and under the read lock with the
 * pages lock and a re-check (6.9+, "KVM: x86/mmu: Allow TDP MMU (un)load to run in parallel").
 *
 * <p>Modeled: a host with a pCPU per vCPU (this machine has 2 cores, so the wall figure of 128
 * threads is mostly the scheduler's). From single-thread costs measured here (a reload that reuses
 * the valid root, and one that allocates it; each includes the unload of the invalid root), the
 * last vCPU of N before 6.9 waits for every other vCPU's write-locked sections: alloc + (N - 1) x
 * reuse; from 6.9 the reloads overlap and the last one finishes one reuse after the allocation:
 * alloc + reuse. The ratio is write / read.
 *
 * <p>Not a JMH benchmark: one run is one burst, measured once, and its set-up (N threads, a VM)
 * dwarfs it. Run: {@code java --add-exports=java.base/jdk.internal.misc=ALL-UNNAMED -cp
 * benchmarks/target/benchmarks.jar org.tdpmmu.benchmarks.RootReloadFigures [runs]}; prints a
 * Markdown table.
 */
public final class RootReloadFigures
{
    private static final int[] VCPUS = {1, 16, 96, 128};
    private static final long BASE = 0x100000;

    private RootReloadFigures()
    {
    }

    /** Median wall and worst-vCPU reload of {@code runs} bursts, in nanoseconds. */
    record Burst(long wallNanos, long worstVcpuNanos)
    {
    }

    public static void main(final String[] args) throws Exception
    {
        // --tsv: one tab-separated line per N, in ns, for scripts/figures.sh (root-reload-2024).
        final boolean tsv = args.length > 0 && args[0].equals("--tsv");
        final int runs = args.length > (tsv ? 1 : 0) ? Integer.parseInt(args[tsv ? 1 : 0]) : 15;
        if (runs < 1 || runs > 1000)
        {
            System.err.println("RootReloadFigures: runs=" + runs + " is out of range 1..1000");
            System.exit(2);
        }
        final long[] writeCost = singleThreadCosts(true);
        final long[] readCost = singleThreadCosts(false);
        if (tsv)
        {
            System.out.println("costs\t" + writeCost[0] + "\t" + writeCost[1] + "\t" + readCost[0] + "\t" + readCost[1]);
            for (final int n : VCPUS)
            {
                final Burst w = burst(n, true, runs);
                final Burst r = burst(n, false, runs);
                System.out.println(n + "\t" + w.wallNanos() + "\t" + r.wallNanos() + "\t" + w.worstVcpuNanos() + "\t" +
                    r.worstVcpuNanos() + "\t" + modeledWrite(writeCost, n) + "\t" + modeledRead(readCost, n));
            }
            return;
        }
        System.out.println("single-thread costs (ns, median of 2000): write lock: reload " + writeCost[0] + ", alloc " +
            writeCost[1] + "; read lock: reload " + readCost[0] + ", alloc " + readCost[1]);
        System.out.println();
        System.out.println("| vCPUs | wall, write lock | wall, read lock | ratio | worst vCPU, write lock | " +
            "worst vCPU, read lock | ratio | modeled, write lock | modeled, read lock | ratio |");
        System.out.println("|---|---|---|---|---|---|---|---|---|---|");
        for (final int n : VCPUS)
        {
            final Burst w = burst(n, true, runs);
            final Burst r = burst(n, false, runs);
            // The allocating reload first; before 6.9 the other n - 1 follow it one by one, from 6.9
            // they overlap it and the last finishes one reuse after it.
            final long mw = modeledWrite(writeCost, n);
            final long mr = modeledRead(readCost, n);
            System.out.println("| " + n + " | " + us(w.wallNanos()) + " | " + us(r.wallNanos()) + " | " +
                ratio(w.wallNanos(), r.wallNanos()) + " | " + us(w.worstVcpuNanos()) + " | " + us(r.worstVcpuNanos()) +
                " | " + ratio(w.worstVcpuNanos(), r.worstVcpuNanos()) + " | " + us(mw) + " | " + us(mr) + " | " +
                ratio(mw, mr) + " |");
        }
    }

    /** Before 6.9: the last of n vCPUs waits for every other one's write-locked reload. */
    private static long modeledWrite(final long[] cost, final int n)
    {
        return cost[1] + (n - 1) * cost[0];
    }

    /** From 6.9: the reloads overlap; the last finishes one reuse after the allocation. */
    private static long modeledRead(final long[] cost, final int n)
    {
        return cost[1] + (n > 1 ? cost[0] : 0);
    }

    private static String us(final long nanos)
    {
        return String.format("%.1f us", nanos / 1000.0);
    }

    private static String ratio(final long a, final long b)
    {
        return String.format("%.1fx", (double)a / Math.max(1, b));
    }

    private static Vm newVm(final int vcpus, final boolean underWriteLock)
    {
        final Vm vm = new Vm(VmConfig.small().withMaxVcpus(Math.max(vcpus, 1)).withTableCapacity(1024)
            .withRootAllocUnderWriteLock(underWriteLock));
        vm.addMemslot(BASE, 512, Backing.PAGE_4K);
        return vm;
    }

    /**
     * Median over 2000 rounds on one thread: [0] a reload that reuses a valid root (unload the
     * invalid one, load), [1] a load that allocates.
     */
    private static long[] singleThreadCosts(final boolean underWriteLock)
    {
        final int rounds = 2000;
        final long[] reuse = new long[rounds];
        final long[] alloc = new long[rounds];
        try (Vm vm = newVm(2, underWriteLock))
        {
            final Vcpu first = vm.createVcpu();
            final Vcpu second = vm.createVcpu();
            first.write(BASE, 1);
            first.exitGuest();
            second.write(BASE, 1);
            second.exitGuest();
            for (int i = 0; i < rounds; i++)
            {
                vm.mmu().zapAllFast();
                long t0 = System.nanoTime();
                first.enterGuest();
                alloc[i] = System.nanoTime() - t0;
                first.exitGuest();
                t0 = System.nanoTime();
                second.enterGuest();
                reuse[i] = System.nanoTime() - t0;
                second.exitGuest();
                vm.rcu().tryReclaim();
            }
        }
        Arrays.sort(reuse);
        Arrays.sort(alloc);
        return new long[] {reuse[rounds / 2], alloc[rounds / 2]};
    }

    private static Burst burst(final int n, final boolean underWriteLock, final int runs) throws Exception
    {
        final long[] walls = new long[runs];
        final long[] worst = new long[runs];
        for (int run = 0; run < runs; run++)
        {
            try (Vm vm = newVm(n, underWriteLock))
            {
                final List<Vcpu> vcpus = new ArrayList<>();
                for (int i = 0; i < n; i++)
                {
                    final Vcpu v = vm.createVcpu();
                    v.write(BASE + i % 512, i);
                    v.exitGuest();
                    vcpus.add(v);
                }
                vm.mmu().zapAllFast();
                final CyclicBarrier ready = new CyclicBarrier(n + 1);
                final CountDownLatch go = new CountDownLatch(1);
                final CountDownLatch done = new CountDownLatch(n);
                final long[] each = new long[n];
                final List<Thread> threads = new ArrayList<>();
                for (int i = 0; i < n; i++)
                {
                    final Vcpu v = vcpus.get(i);
                    final int id = i;
                    final Thread t = new Thread(() ->
                    {
                        try
                        {
                            ready.await();
                            go.await();
                            final long t0 = System.nanoTime();
                            v.enterGuest();
                            each[id] = System.nanoTime() - t0;
                            v.exitGuest();
                        }
                        catch (final Exception e)
                        {
                            throw new IllegalStateException(e);
                        }
                        finally
                        {
                            done.countDown();
                        }
                    }, "vcpu-" + i);
                    t.start();
                    threads.add(t);
                }
                ready.await();
                final long t0 = System.nanoTime();
                go.countDown();
                if (!done.await(60, TimeUnit.SECONDS))
                {
                    throw new IllegalStateException("the reload burst of " + n + " vCPUs did not finish in 60 s");
                }
                walls[run] = System.nanoTime() - t0;
                for (final Thread t : threads)
                {
                    t.join();
                }
                worst[run] = Arrays.stream(each).max().orElse(0);
                if (vm.counters().rootAllocs.sum() != 2 || vm.counters().rootReloads.sum() != n)
                {
                    throw new IllegalStateException("expected one new root and " + n + " reloads, got " +
                        vm.counters().rootAllocs.sum() + " root allocations and " + vm.counters().rootReloads.sum() +
                        " reloads");
                }
            }
        }
        Arrays.sort(walls);
        Arrays.sort(worst);
        return new Burst(walls[runs / 2], worst[runs / 2]);
    }
}
