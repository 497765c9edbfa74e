package org.tdpmmu.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Many vCPU threads fault, read and write 2M- and 4K-backed memory while other threads zap ranges
 * and migrate host pages; afterwards no write is lost (property 1), no SPTE is stale (5) or too
 * large (6), and teardown leaks nothing (4). Plus a forced race of two faults on one gfn.
 */
class ConcurrentFaultTest
{
    static final long BASE_2M = 0x100000;
    static final long PAGES_2M = 16 * 512;
    static final long BASE_4K = 0x200000;
    static final long PAGES_4K = 2048;

    /** Runs each task on its own thread, joins them all, rethrows the first failure. */
    static void runThreads(final String name, final Runnable... tasks)
    {
        final AtomicReference<Throwable> failure = new AtomicReference<>();
        final List<Thread> threads = new ArrayList<>();
        final CountDownLatch go = new CountDownLatch(1);
        for (int i = 0; i < tasks.length; i++)
        {
            final Runnable task = tasks[i];
            final Thread t = new Thread(() ->
            {
                try
                {
                    await(go);
                    task.run();
                }
                catch (final Throwable ex)
                {
                    failure.compareAndSet(null, ex);
                }
            }, name + "-" + i);
            t.setDaemon(true);
            threads.add(t);
        }
        threads.forEach(Thread::start);
        go.countDown();
        for (final Thread t : threads)
        {
            try
            {
                t.join(TimeUnit.SECONDS.toMillis(60));
            }
            catch (final InterruptedException ex)
            {
                Thread.currentThread().interrupt();
                fail("interrupted");
            }
            if (t.isAlive())
            {
                final StringBuilder sb = new StringBuilder(t.getName() + " is stuck:");
                for (final StackTraceElement e : t.getStackTrace())
                {
                    sb.append("\n  at ").append(e);
                }
                fail(sb.toString());
            }
        }
        final Throwable ex = failure.get();
        if (ex != null)
        {
            throw new AssertionError("a " + name + " thread failed: " + ex, ex);
        }
    }

    /**
     * Runs {@code aAccess} on vCPU {@code a}'s thread and stops it just before its first SPTE
     * cmpxchg (the link of the first table it needs); meanwhile runs {@code bAccess} on {@code b}'s
     * thread to the end, then lets A go on. Fails if A never reached that point.
     */
    static void raceAtFirstLink(final Vm vm, final String name, final Runnable aAccess, final Runnable bAccess,
        final Vcpu a, final Vcpu b)
    {
        final CountDownLatch aAtLink = new CountDownLatch(1);
        final CountDownLatch bDone = new CountDownLatch(1);
        final AtomicBoolean first = new AtomicBoolean(true);
        final AtomicReference<Thread> threadA = new AtomicReference<>();
        vm.mmu().setTestHook((point, gfn) ->
        {
            if (point == TestHook.Point.BEFORE_SET_SPTE && Thread.currentThread() == threadA.get() &&
                first.compareAndSet(true, false))
            {
                aAtLink.countDown();
                await(bDone);
            }
        });
        runThreads(name,
            () ->
            {
                threadA.set(Thread.currentThread());
                try
                {
                    aAccess.run();
                }
                finally
                {
                    a.exitGuest();
                }
            },
            () ->
            {
                await(aAtLink);
                try
                {
                    bAccess.run();
                }
                finally
                {
                    b.exitGuest();
                    bDone.countDown();
                }
            });
        vm.mmu().setTestHook(null);
        assertFalse(first.get(), "A reached its link");
    }

    static void await(final CountDownLatch latch)
    {
        try
        {
            if (!latch.await(30, TimeUnit.SECONDS))
            {
                throw new AssertionError("latch not released in 30 s");
            }
        }
        catch (final InterruptedException ex)
        {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted", ex);
        }
    }

    private static long sum(final Vcpu[] vcpus)
    {
        long n = 0;
        for (final Vcpu v : vcpus)
        {
            n += v.faults();
        }
        return n;
    }

    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {1, 2})
    void vcpusFaultReadAndWriteWhileTheHostZapsAndMigrates(final long seed)
    {
        final int nVcpus = 6;
        final int ops = 25_000;
        final int maxZaps = 2000;
        final int maxMigrations = 600;
        final AtomicInteger running = new AtomicInteger(nVcpus);
        final AtomicInteger zaps = new AtomicInteger();
        final AtomicInteger migrations = new AtomicInteger();
        try (Vm vm = new Vm(VmConfig.small()))
        {
            final Memslot huge = vm.addMemslot(BASE_2M, PAGES_2M, Backing.PAGE_2M);
            final Memslot small = vm.addMemslot(BASE_4K, PAGES_4K, Backing.PAGE_4K);
            final SafetyChecks.LostWriteTracker lost = new SafetyChecks.LostWriteTracker(huge, small);
            final Vcpu[] vcpus = new Vcpu[nVcpus];
            for (int i = 0; i < nVcpus; i++)
            {
                vcpus[i] = vm.createVcpu();
            }
            final Runnable[] tasks = new Runnable[nVcpus + 2];
            for (int i = 0; i < nVcpus; i++)
            {
                final int t = i;
                tasks[i] = () ->
                {
                    try
                    {
                        vcpuLoop(vcpus[t], t, nVcpus, ops, seed, huge, small, lost);
                    }
                    finally
                    {
                        running.decrementAndGet();
                    }
                };
            }
            tasks[nVcpus] = () ->
            {
                final SplittableRandom rnd = new SplittableRandom(seed * 31 + 7);
                // Bounded: at least 10, at most maxZaps, no more once every vCPU has finished.
                for (int i = 0; i < maxZaps && (i < 10 || running.get() > 0); i++)
                {
                    zaps.incrementAndGet();
                    final Memslot s = rnd.nextBoolean() ? huge : small;
                    final long start = s.baseGfn() + rnd.nextLong(s.npages());
                    final long end = Math.min(s.endGfn(), start + 1 + rnd.nextLong(1024));
                    vm.invalidate(start, end);
                    if ((i & 15) == 0)
                    {
                        vm.rcu().tryReclaim();
                    }
                }
            };
            tasks[nVcpus + 1] = () ->
            {
                final SplittableRandom rnd = new SplittableRandom(seed * 17 + 3);
                for (int i = 0; i < maxMigrations && (i < 10 || running.get() > 0); i++)
                {
                    migrations.incrementAndGet();
                    final Memslot s = rnd.nextBoolean() ? huge : small;
                    final long start = s.baseGfn() + rnd.nextLong(s.npages());
                    final long count = 1 + rnd.nextLong(Math.min(600, s.endGfn() - start));
                    assertTrue(vm.migrate(s, start, count) > 0);
                }
            };
            runThreads("fault", tasks);

            SafetyChecksTest.assertClean(lost.check(vm));
            SafetyChecksTest.assertClean(SafetyChecks.noStaleTranslation(vm));
            SafetyChecksTest.assertClean(SafetyChecks.noOversizedMapping(vm));
            assertTrue(lost.writtenPages() > 1000, "writes happened: " + lost.writtenPages());

            final MmuCounters c = vm.counters();
            assertTrue(c.faultInstalled.sum() > 0);
            assertEquals(sum(vcpus), c.vmExits.sum(), "every EPT violation counted once");
            assertEquals(c.vmExits.sum(), c.faultInstalled.sum() + c.faultFast.sum() + c.faultSpurious.sum() + c.faultRetry.sum(),
                "every fault ends installed, spurious or retried");
            assertTrue(c.faultRetryInvalidation.sum() <= c.faultRetry.sum());
            assertTrue(zaps.get() >= 10 && migrations.get() >= 10);
            assertEquals(zaps.get() + migrations.get(), c.invalidations.sum());
            assertEquals(migrations.get(), vm.host().migrations());
            assertEquals(0, vm.invalidation().inProgress());
            assertEquals(zaps.get() + migrations.get(), vm.invalidation().sequence());
            assertEquals(vm.store().allocatedCount(), c.tableAllocs.sum());
            long cached = 0;
            for (final Vcpu v : vcpus)
            {
                cached += v.memoryCache().size();
            }
            assertEquals(1 + c.cacheTaken.sum() + cached + c.cacheReturned.sum(), c.tableAllocs.sum(),
                "every table allocated is the root, taken from a vCPU cache, still cached, or returned unused");
            assertEquals(c.cacheTaken.sum(), c.tablesLinked.sum() + c.tablesLostRace.sum(),
                "every table a fault took was linked or lost its race");
            final long linkedLive = SafetyChecks.reachableTables(vm);
            assertTrue(vm.store().liveCount() >= linkedLive + cached, "live tables are linked, cached or in flight");
            System.out.printf("ConcurrentFaultTest seed %d: %d zaps, %d migrations; faults %d (installed %d, " +
                "spurious %d, retry %d, retry from invalidation %d), tables lost race %d, cmpxchg failures %d%n", seed,
                zaps.get(), migrations.get(), c.vmExits.sum(), c.faultInstalled.sum(), c.faultSpurious.sum(),
                c.faultRetry.sum(), c.faultRetryInvalidation.sum(), c.tablesLostRace.sum(), c.cmpxchgFailures.sum());

            // A fresh vCPU sees every last write.
            final Vcpu checker = vm.createVcpu();
            for (final Memslot s : new Memslot[] {huge, small})
            {
                for (long g = s.baseGfn(); g < s.endGfn(); g++)
                {
                    if (lost.written(g))
                    {
                        assertEquals(lost.expected(g), checker.read(g), "gfn 0x" + Long.toHexString(g));
                    }
                }
            }
            checker.exitGuest();
            SafetyChecksTest.assertClean(SafetyChecks.structure(vm));

            vm.destroy();
            SafetyChecksTest.assertClean(SafetyChecks.noLeak(vm));
            assertEquals(vm.store().allocatedCount(), vm.store().freedCount());
            assertEquals(vm.store().freedCount(), c.tablesFreed.sum());
        }
    }

    /**
     * One vCPU thread: mostly a hot shared window (the first 2 MiB page and the first 256 4K pages,
     * where every thread faults the same tables), else its own two huge pages. It writes only the
     * gfns it owns (gfn % n == t in the shared window, all of its private pages), checks every read
     * of an own gfn returns its own last write, and leaves guest mode before it ends.
     */
    private static void vcpuLoop(final Vcpu vcpu, final int t, final int n, final int ops, final long seed,
        final Memslot huge, final Memslot small, final SafetyChecks.LostWriteTracker lost)
    {
        final SplittableRandom rnd = new SplittableRandom(seed * 1000 + t);
        final long privateBase = huge.baseGfn() + (4 + 2L * t) * 512;
        long seq = 0;
        try
        {
            for (int i = 0; i < ops; i++)
            {
                final int kind = rnd.nextInt(10);
                final long gfn;
                final boolean own;
                if (kind < 4)
                {
                    gfn = huge.baseGfn() + rnd.nextLong(512);
                    own = gfn % n == t;
                }
                else if (kind < 7)
                {
                    gfn = small.baseGfn() + rnd.nextLong(256);
                    own = gfn % n == t;
                }
                else if (kind < 8)
                {
                    // anywhere, read only unless owned
                    final Memslot s = rnd.nextBoolean() ? huge : small;
                    gfn = s.baseGfn() + rnd.nextLong(s.npages());
                    own = gfn >= privateBase && gfn < privateBase + 1024;
                }
                else
                {
                    gfn = privateBase + rnd.nextLong(1024);
                    own = true;
                }
                if (own && rnd.nextBoolean())
                {
                    final long value = ((long)(t + 1) << 48) | ++seq;
                    vcpu.write(gfn, value);
                    lost.wrote(gfn, value);
                }
                else
                {
                    final long value = vcpu.read(gfn);
                    if (own && lost.written(gfn) && value != lost.expected(gfn))
                    {
                        throw new AssertionError("vCPU " + t + " read 0x" + Long.toHexString(value) + " from gfn 0x" +
                            Long.toHexString(gfn) + " after writing 0x" + Long.toHexString(lost.expected(gfn)));
                    }
                }
            }
        }
        finally
        {
            vcpu.exitGuest();
        }
    }

    /**
     * Thread A stops just before linking the first table for gfn g; thread B faults g in the meantime.
     * A's cmpxchg then fails: A frees its table, returns RETRY, and finds B's mapping on the re-walk.
     * Both return; one table chain (root, L3, L2 and the 2 MiB leaf) exists; nothing leaks. With the
     * seeded bug the loser's table leaks and {@link SafetyChecks#noLeak} names it.
     */
    @ParameterizedTest(name = "leak loser seeded: {0}")
    @ValueSource(booleans = {false, true})
    void twoVcpusFaultingTheSameGfnBuildOneTableChain(final boolean seedLeak)
    {
        final VmConfig config = seedLeak ? VmConfig.small().withSeededBugs(Set.of(SeededBug.LEAK_LOSER_TABLE)) :
            VmConfig.small();
        final Vm vm = new Vm(config);
        try
        {
            vm.addMemslot(BASE_2M, 2 * 512, Backing.PAGE_2M);
            final long g = BASE_2M + 42;
            final Vcpu a = vm.createVcpu();
            final Vcpu b = vm.createVcpu();
            final AtomicLong bRead = new AtomicLong(-1);
            raceAtFirstLink(vm, "same-gfn", () -> a.write(g, 0xA), () -> bRead.set(b.read(g)), a, b);
            assertEquals(0, bRead.get(), "B read before A wrote");
            assertEquals(1, a.faults(), "A's one fault returned RETRY, the re-walk found B's leaf");
            assertEquals(1, b.faults());
            final MmuCounters c = vm.counters();
            assertEquals(1, c.tablesLostRace.sum());
            assertEquals(1, c.faultRetry.sum());
            assertEquals(1, c.faultInstalled.sum());
            assertEquals(3, SafetyChecks.reachableTables(vm), "root, L3, L2: one chain");
            assertEquals(3, c.cacheTaken.sum(), "B's two tables, A's loser");
            assertEquals(2, c.tablesLinked.sum());
            final long cached = a.memoryCache().size() + b.memoryCache().size();
            assertEquals(1 + 3 + cached, vm.store().allocatedCount(), "root, three taken, the rest cached");
            assertEquals(3 + cached + (seedLeak ? 1 : 0), vm.store().liveCount(), "linked + cached (+ leaked)");
            assertEquals(seedLeak ? 0 : 1, vm.store().freedCount(), "the loser freed its table at once");
            assertEquals(vm.store().freedCount(), c.tablesFreed.sum());
            final SafetyChecks.Mapping m = SafetyChecks.lookup(vm, g);
            assertEquals(Spte.PG_LEVEL_2M, m.level());
            SafetyChecksTest.assertClean(SafetyChecks.structure(vm));
            assertEquals(0xA, vm.host().contentOf(vm.memslots().find(g), g));

            vm.destroy();
            final List<String> leaks = SafetyChecks.noLeak(vm);
            if (seedLeak)
            {
                assertEquals(1, leaks.size(), leaks::toString);
                assertTrue(leaks.get(0).contains("1 page-table page(s) still live") &&
                    leaks.get(0).contains("(0 present entries)"), leaks.get(0));
            }
            else
            {
                SafetyChecksTest.assertClean(leaks);
            }
        }
        finally
        {
            vm.close();
        }
    }
}
