package org.tdpmmu.core;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Roots that come and go: reference counts, vCPU loads, fast invalidation, stale faults (TdpMmuRoots).
 * Each test has a hang guard (they take well under a second each): a vCPU that keeps reloading an
 * invalid root retries for ever (mutant 29; JCSTRESS.md), and must fail here rather than stall the
 * build. In a thread of its own, as the retry loop ignores a same-thread timeout's interrupt.
 */
@Timeout(value = 60, unit = SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class TdpMmuRootsTest
{
    private static final long BASE = 0x100000;
    private static final long BASE_2M = 0x200000;

    private static Vm vm(final boolean underWriteLock)
    {
        return new Vm(VmConfig.small().withRootAllocUnderWriteLock(underWriteLock));
    }

    private static void writeAll(final Vcpu vcpu, final long from, final long pages, final long value)
    {
        for (long g = from; g < from + pages; g++)
        {
            vcpu.write(g, value + g);
        }
        vcpu.exitGuest();
    }

    @Test
    void aVmThatNeverInvalidatesHasOneRootSharedByEveryVcpu()
    {
        try (Vm vm = vm(false))
        {
            vm.addMemslot(BASE, 64, Backing.PAGE_4K);
            final List<Vcpu> vcpus = List.of(vm.createVcpu(), vm.createVcpu(), vm.createVcpu());
            for (final Vcpu v : vcpus)
            {
                writeAll(v, BASE, 64, v.id());
            }
            final TdpMmuRoots.Root root = vcpus.get(0).root();
            for (final Vcpu v : vcpus)
            {
                assertSame(root, v.root());
                assertEquals(0, v.tlbFlushes(), "the first load flushes nothing");
            }
            assertEquals(List.of(root), vm.mmu().roots().snapshot());
            assertEquals(1 + vcpus.size(), root.refs(), "the TDP MMU's reference and one per vCPU");
            assertEquals(root.pfn(), vm.mmu().rootPfn());
            assertEquals(1, vm.counters().rootAllocs.sum());
            assertEquals(0, vm.counters().rootReloads.sum());
            SafetyChecksTest.assertClean(SafetyChecks.roots(vm));
        }
    }

    /**
     * The switch is observable: before 6.9 a root load (here the reload after a fast invalidation)
     * takes mmu_lock for write; from 6.9 it takes it for read only (and the pages lock to allocate).
     */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void rootLoadTakesTheWriteLockOnlyBefore69(final boolean underWriteLock)
    {
        try (Vm vm = vm(underWriteLock))
        {
            vm.addMemslot(BASE, 64, Backing.PAGE_4K);
            vm.mmu().zapAllFast();
            final long writesBefore = vm.mmu().lock().writeAcquisitions();
            final long readsBefore = vm.mmu().lock().readAcquisitions();
            final TdpMmuRoots.Root root = vm.mmu().roots().load();
            assertEquals(underWriteLock ? 1 : 0, vm.mmu().lock().writeAcquisitions() - writesBefore,
                "write-lock acquisitions of one root load");
            assertEquals(underWriteLock ? 0 : 1, vm.mmu().lock().readAcquisitions() - readsBefore,
                "read-lock acquisitions of one root load");
            vm.mmu().roots().unload(root);
        }
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void fastInvalidationZapsTheRootAndEveryVcpuReloadsOneNewRoot(final boolean underWriteLock)
    {
        try (Vm vm = vm(underWriteLock))
        {
            final Memslot slot = vm.addMemslot(BASE, 1024, Backing.PAGE_4K);
            vm.addMemslot(BASE_2M, 1024, Backing.PAGE_2M);
            final List<Vcpu> vcpus = List.of(vm.createVcpu(), vm.createVcpu(), vm.createVcpu());
            for (final Vcpu v : vcpus)
            {
                writeAll(v, BASE + 300L * v.id(), 300, 7);
                writeAll(v, BASE_2M, 1024, 9);
            }
            final TdpMmuRoots.Root old = vcpus.get(0).root();
            final long flushesBefore = vm.counters().tlbFlushRequests.sum();
            final long tablesBefore = vm.store().liveCount();
            assertTrue(tablesBefore > 4);

            vm.mmu().zapAllFast();

            assertTrue(old.invalid());
            assertFalse(vm.mmu().hasValidRoot(), "no vCPU has loaded a new root yet");
            assertEquals(flushesBefore, vm.counters().tlbFlushRequests.sum(), "no remote flush for a root no vCPU can use");
            assertEquals(vcpus.size(), old.refs(), "only the vCPUs still hold it: the zap put the TDP MMU's reference");
            vm.rcu().barrier();
            assertEquals(1, vm.store().liveCount() - cached(vcpus), "only the invalid root's own table is left");
            SafetyChecksTest.assertClean(SafetyChecks.roots(vm));
            assertEquals(1, vm.counters().fastInvalidations.sum());

            final long writeLocksBefore = vm.lock().writeAcquisitions();
            for (final Vcpu v : vcpus)
            {
                assertEquals(7 + BASE + 300L * v.id(), v.read(BASE + 300L * v.id()), "memory survives a zap");
                v.exitGuest();
            }
            final TdpMmuRoots.Root fresh = vcpus.get(0).root();
            assertNotSame(old, fresh);
            for (final Vcpu v : vcpus)
            {
                assertSame(fresh, v.root(), "one new root, reused by the later vCPUs");
                assertEquals(1, v.tlbFlushes(), "a reload flushes the TLB (kvm_mmu_load)");
            }
            assertEquals(2, vm.counters().rootAllocs.sum());
            assertEquals(vcpus.size(), vm.counters().rootReloads.sum());
            assertEquals(underWriteLock ? 2L * vcpus.size() : 0, vm.lock().writeAcquisitions() - writeLocksBefore,
                "before 6.9 unload and load hold mmu_lock for write; from 6.9 neither does");
            vm.rcu().barrier();
            assertEquals(List.of(fresh), vm.mmu().roots().snapshot(), "the old root went with its last reference");
            assertEquals(1, vm.counters().rootsFreed.sum());
            SafetyChecksTest.assertClean(SafetyChecks.roots(vm));
            SafetyChecksTest.assertClean(SafetyChecks.structure(vm));
            assertTrue(slot.contains(BASE));
        }
    }

    private static long cached(final List<Vcpu> vcpus)
    {
        long n = 0;
        for (final Vcpu v : vcpus)
        {
            n += v.memoryCache().size();
        }
        return n;
    }

    /** A vCPU that wrote one page, still holding its root when a fast invalidation ran. */
    private static Vcpu vcpuAfterFastInvalidation(final Vm vm)
    {
        vm.addMemslot(BASE, 512, Backing.PAGE_4K);
        final Vcpu vcpu = vm.createVcpu();
        writeAll(vcpu, BASE, 1, 1);
        vm.mmu().zapAllFast();
        return vcpu;
    }

    /** A write fault on {@code root}, as the vCPU that holds it would take it before reloading. */
    private static int faultOn(final Vm vm, final TdpMmuRoots.Root root, final long gfn)
    {
        final MmuMemoryCache cache = new MmuMemoryCache(vm.store(), 8, vm.counters());
        try
        {
            return vm.mmu().pageFault(root, new TdpIter(vm.store()), cache, gfn, true, null);
        }
        finally
        {
            cache.free();
        }
    }

    @Test
    void aFaultThatBeganOnARootThatWentInvalidIsStaleAndRetries()
    {
        try (Vm vm = vm(false))
        {
            final Vcpu vcpu = vcpuAfterFastInvalidation(vm);
            final TdpMmuRoots.Root old = vcpu.root();
            assertEquals(TdpMmu.RET_PF_RETRY, faultOn(vm, old, BASE + 5));
            assertEquals(1, vm.counters().faultRetryStaleRoot.sum());
            // The vCPU itself reloads at its next entry and the access goes through on the new root.
            vcpu.write(BASE + 5, 42);
            vcpu.exitGuest();
            assertNotSame(old, vcpu.root());
            assertEquals(42, vcpu.read(BASE + 5));
            vcpu.exitGuest();
            vm.rcu().barrier();
            SafetyChecksTest.assertClean(SafetyChecks.roots(vm));
        }
    }

    /** The seeded bug's half of the test above: installing into the zapped root leaks its tables. */
    @Test
    void withoutTheStaleCheckTheFaultInstallsIntoTheZappedRootAndItsTablesLeak()
    {
        try (Vm vm = new Vm(VmConfig.small().withSeededBugs(Set.of(SeededBug.SKIP_STALE_ROOT_CHECK))))
        {
            final Vcpu vcpu = vcpuAfterFastInvalidation(vm);
            assertEquals(TdpMmu.RET_PF_FIXED, faultOn(vm, vcpu.root(), BASE + 5));
            vm.rcu().barrier();
            assertTrue(SafetyChecks.roots(vm).toString().contains("still has present entries"), SafetyChecks.roots(vm).toString());
            vcpu.write(BASE + 6, 1);
            vcpu.exitGuest();
            vm.rcu().barrier();
            final List<String> problems = SafetyChecks.roots(vm);
            assertTrue(problems.toString().contains("roots (leak)"), problems.toString());
        }
    }

    @Test
    void theZapGoesAt4kGranularityFirst()
    {
        try (Vm vm = vm(false))
        {
            vm.addMemslot(BASE, 512, Backing.PAGE_4K);
            vm.addMemslot(BASE_2M, 512, Backing.PAGE_2M);
            final Vcpu vcpu = vm.createVcpu();
            writeAll(vcpu, BASE, 512, 1);
            writeAll(vcpu, BASE_2M, 1, 1);
            final List<Long> order = new ArrayList<>();
            vm.mmu().setTestHook((point, gfn) ->
            {
                if (point == TestHook.Point.ROOT_ZAP_BEFORE_SET)
                {
                    order.add(gfn);
                }
            });
            vm.mmu().zapAllFast();
            // The two slots sit under two level-3 entries (1 GiB apart), so two level-2 tables.
            assertEquals(512 + 2 + 2 + 1, order.size(), "512 4 KiB leaves, then at 2 MiB the leaf table's entry and " +
                "the huge leaf, at 1 GiB the two level-2 tables' entries, then the one root entry");
            for (int i = 0; i < 512; i++)
            {
                assertEquals(BASE + i, order.get(i), "4 KiB leaves first");
            }
            assertTrue(order.subList(512, 514).containsAll(List.of(BASE, BASE_2M)), "then the 2 MiB level: " +
                order.subList(512, order.size()));
            vm.rcu().barrier();
            SafetyChecksTest.assertClean(SafetyChecks.roots(vm));
        }
    }

    @Test
    void theChecksSeeAReferenceLeftBehindAndAVcpuOnAFreedRoot()
    {
        try (Vm vm = vm(false))
        {
            vm.addMemslot(BASE, 16, Backing.PAGE_4K);
            final Vcpu vcpu = vm.createVcpu();
            writeAll(vcpu, BASE, 1, 1);
            final TdpMmuRoots roots = vm.mmu().roots();
            vm.lock().readLock();
            final TdpMmuRoots.Root extra;
            try
            {
                extra = roots.nextRoot(null, true);
            }
            finally
            {
                vm.lock().readUnlock();
            }
            assertTrue(SafetyChecks.roots(vm).toString().contains("3 reference(s) but 2 holder(s)"));
            vm.lock().readLock();
            try
            {
                roots.put(extra);
            }
            finally
            {
                vm.lock().readUnlock();
            }
            SafetyChecksTest.assertClean(SafetyChecks.roots(vm));
            // A last put of a valid root is a bug the put itself reports.
            vm.lock().readLock();
            try
            {
                roots.put(extra);
                final MmuBugException ex = assertThrows(MmuBugException.class, () -> roots.put(extra));
                assertTrue(ex.getMessage().contains("only an invalidated root"), ex.getMessage());
            }
            finally
            {
                vm.lock().readUnlock();
            }
        }
    }

    @Test
    void aPrefaultAfterAFastInvalidationLoadsANewRoot()
    {
        try (Vm vm = vm(false))
        {
            final Vcpu vcpu = vcpuAfterFastInvalidation(vm);
            new Prefault(vm).prefault(BASE << 12, (BASE + 512) << 12);
            assertTrue(vm.mmu().hasValidRoot());
            assertEquals(2, vm.counters().rootAllocs.sum());
            assertEquals(Spte.PG_LEVEL_4K, SafetyChecks.lookup(vm, BASE + 300).level());
            assertEquals(1 + BASE, vcpu.read(BASE), "the vCPU reloads onto the pre-faulted root");
            vcpu.exitGuest();
            assertSame(vm.mmu().roots().valid(), vcpu.root());
            vm.rcu().barrier();
            SafetyChecksTest.assertClean(SafetyChecks.roots(vm));
        }
    }

    @Test
    void zapAllFastRefusesACallerHoldingTheLock()
    {
        try (Vm vm = vm(false))
        {
            vm.lock().readLock();
            try
            {
                assertThrows(IllegalStateException.class, () -> vm.mmu().zapAllFast());
            }
            finally
            {
                vm.lock().readUnlock();
            }
        }
    }

    /** vCPU threads writing while a host thread invalidates again and again: nothing lost, leaked or freed early. */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void vcpusKeepRunningThroughRepeatedFastInvalidations(final boolean underWriteLock) throws Exception
    {
        try (Vm vm = new Vm(VmConfig.small().withRootAllocUnderWriteLock(underWriteLock).withRcuReclaimer(true)))
        {
            final Memslot a = vm.addMemslot(BASE, 2048, Backing.PAGE_4K);
            final Memslot b = vm.addMemslot(BASE_2M, 2048, Backing.PAGE_2M);
            final SafetyChecks.LostWriteTracker tracker = new SafetyChecks.LostWriteTracker(a, b);
            final int threads = 3;
            final AtomicBoolean stop = new AtomicBoolean();
            final AtomicReference<Throwable> failure = new AtomicReference<>();
            final List<Thread> workers = new ArrayList<>();
            final List<Vcpu> vcpus = new ArrayList<>();
            for (int t = 0; t < threads; t++)
            {
                final Vcpu vcpu = vm.createVcpu();
                vcpus.add(vcpu);
                final int id = t;
                workers.add(new Thread(() ->
                {
                    try
                    {
                        long value = 1;
                        while (!stop.get())
                        {
                            for (long p = id; p < 2048; p += threads)
                            {
                                final long gfn = (p & 1) == 0 ? BASE + p : BASE_2M + p;
                                vcpu.write(gfn, value);
                                tracker.wrote(gfn, value);
                            }
                            value++;
                        }
                    }
                    catch (final Throwable e)
                    {
                        failure.compareAndSet(null, e);
                    }
                    finally
                    {
                        vcpu.exitGuest();
                    }
                }, "vcpu-" + t));
            }
            workers.forEach(Thread::start);
            for (int i = 0; i < 40 && failure.get() == null; i++)
            {
                vm.mmu().zapAllFast();
                Thread.sleep(2);
            }
            stop.set(true);
            for (final Thread w : workers)
            {
                w.join();
            }
            if (failure.get() != null)
            {
                throw new AssertionError("a vCPU failed", failure.get());
            }
            assertEquals(40, vm.counters().fastInvalidations.sum());
            SafetyChecksTest.assertClean(tracker.check(vm));
            vm.rcu().barrier();
            SafetyChecksTest.assertClean(SafetyChecks.roots(vm));
            SafetyChecksTest.assertClean(SafetyChecks.structure(vm));
            vm.destroy();
            SafetyChecksTest.assertClean(SafetyChecks.noLeak(vm));
        }
    }
}
