package org.tdpmmu.stress;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.tdpmmu.stress.Latches.await;
import static org.tdpmmu.stress.Latches.join;
import static org.tdpmmu.stress.Latches.start;

import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import org.tdpmmu.core.Backing;
import org.tdpmmu.core.DirtyLogging;
import org.tdpmmu.core.Memslot;
import org.tdpmmu.core.SeededBug;
import org.tdpmmu.core.TdpIter;
import org.tdpmmu.core.TdpMmu;
import org.tdpmmu.core.TdpMmuRoots;
import org.tdpmmu.core.TestHook;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;
import org.tdpmmu.stress.Latches.Pause;

/** The forced interleavings of the two root races (SeededBugsTest calls these, one per seeded bug). */
final class RootRaceLatches
{
    private RootRaceLatches()
    {
    }

    /**
     * vCPU root reload vs zap of the invalidated root: the vCPU's write fault has resolved its pfn on
     * its root when a fast invalidation invalidates that root and zaps it; then the fault takes the
     * lock, and the vCPU reloads. Returns the page-table pages leaked once the old root is gone.
     */
    static long faultOnZappedRootLeaks(final Set<SeededBug> bugs) throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(bugs)))
        {
            vm.addMemslot(0, 1024, Backing.PAGE_4K);
            final Vcpu vcpu = vm.createVcpu();
            assertEquals(null, Probe.guestWrite(vcpu, 600, 1), "the first write maps 600");
            final TdpMmuRoots.Root old = vcpu.root();
            final Pause pause = new Pause(TestHook.Point.FAULT_AFTER_PFN_RESOLVED, "vcpu");
            vm.mmu().setTestHook(pause);
            final FutureTask<String> write = start("vcpu", () -> Probe.guestWrite(vcpu, 7, 2));
            pause.awaitReached();
            // The vCPU is out of guest mode in its fault: the reload request does not wait for it.
            vm.mmu().zapAllFast();
            pause.release();
            assertEquals(null, join(write));
            assertNotSame(old, vcpu.root(), "the vCPU reloaded");
            assertEquals(2, Probe.content(vm, vm.memslots().find(7), 7));
            return Probe.leakedAfterDestroy(vm);
        }
    }

    /**
     * Fast invalidation vs eager split: the split (read lock, holding a reference on the root) yields
     * to the invalidation's write lock at the second 2 MiB page; then the zap of the invalidated root
     * (read lock too) reads that huge leaf and stops before replacing it, the split links its table
     * there, and the zap goes on. Returns the page-table pages leaked.
     */
    static long splitUnderInvalidRootZapLeaks(final Set<SeededBug> bugs) throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(bugs)))
        {
            final Memslot slot = vm.addMemslot(0, 1024, Backing.PAGE_2M);
            for (final long g : new long[] {0, 512})
            {
                assertEquals(TdpMmu.RET_PF_FIXED, vm.mmu().pageFault(new TdpIter(vm.store()), g, true));
            }
            final long second = 512;
            final SplitMeetsZap hook = new SplitMeetsZap(second);
            vm.mmu().setTestHook(hook);
            final FutureTask<Void> split = start("split", () ->
            {
                new DirtyLogging(vm).enable(slot, Memslot.LOG_WRPROT, true);
                return null;
            });
            await(hook.splitStarted);
            final FutureTask<Void> zap = start("zap", () ->
            {
                vm.mmu().zapAllFast();
                return null;
            });
            // The split yields at its next page only if the invalidation already waits for the lock.
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(Latches.WAIT_SECONDS);
            while (!vm.lock().isContended() && System.nanoTime() < deadline)
            {
                Thread.onSpinWait();
            }
            hook.goSplit.countDown();
            await(hook.splitAtSecond);
            await(hook.zapAtSecond);
            hook.goSplitSecond.countDown();
            join(split);
            hook.goZap.countDown();
            join(zap);
            return Probe.leakedAfterDestroy(vm);
        }
    }

    /** Holds the split at its start and at the second huge page, and the zap at that page. */
    private static final class SplitMeetsZap implements TestHook
    {
        private final long gfn;
        final CountDownLatch splitStarted = new CountDownLatch(1);
        final CountDownLatch goSplit = new CountDownLatch(1);
        final CountDownLatch splitAtSecond = new CountDownLatch(1);
        final CountDownLatch goSplitSecond = new CountDownLatch(1);
        final CountDownLatch zapAtSecond = new CountDownLatch(1);
        final CountDownLatch goZap = new CountDownLatch(1);
        private final AtomicBoolean started = new AtomicBoolean();
        private final AtomicBoolean splitSecond = new AtomicBoolean();
        private final AtomicBoolean zapSecond = new AtomicBoolean();

        SplitMeetsZap(final long gfn)
        {
            this.gfn = gfn;
        }

        @Override
        public void at(final Point p, final long at)
        {
            final String thread = Thread.currentThread().getName();
            if (p == Point.SPLIT_AT_ENTRY && thread.equals("split"))
            {
                if (started.compareAndSet(false, true))
                {
                    splitStarted.countDown();
                    await(goSplit);
                }
                else if (at == gfn && splitSecond.compareAndSet(false, true))
                {
                    splitAtSecond.countDown();
                    await(goSplitSecond);
                }
            }
            else if (p == Point.ROOT_ZAP_BEFORE_SET && thread.equals("zap") && at == gfn &&
                zapSecond.compareAndSet(false, true))
            {
                zapAtSecond.countDown();
                await(goZap);
            }
        }
    }
}
