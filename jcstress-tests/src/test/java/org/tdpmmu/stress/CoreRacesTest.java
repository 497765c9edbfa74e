package org.tdpmmu.stress;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.EnumSet;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.FutureTask;
import java.util.concurrent.atomic.AtomicBoolean;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.tdpmmu.core.Backing;
import org.tdpmmu.core.DirtyLogging;
import org.tdpmmu.core.Memslot;
import org.tdpmmu.core.SeededBug;
import org.tdpmmu.core.Spte;
import org.tdpmmu.core.TdpIter;
import org.tdpmmu.core.TdpMmu;
import org.tdpmmu.core.TestHook;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;

/**
 * Races of the core found while building the catalogue whose jcstress window is too narrow to be
 * hit reliably, forced here with latches. Bounded waits only.
 */
@Timeout(value = 20, unit = SECONDS)
class CoreRacesTest
{
    /**
     * EnableLoggingVsFault, forced: a fault that looked at the slot while logging was off stops
     * after resolving its pfn; dirty logging is enabled completely; then the fault installs. It
     * must not leave a writable 2 MiB leaf in the logged slot (writes to its other pages would
     * never be logged). Fixed in b2d93cd (the goal level is read under the MMU lock, and enable
     * waits out faults that saw the old mode).
     */
    @Test
    void faultThatSawLoggingOffInstallsNoWritableHugeLeaf() throws Exception
    {
        try (Vm vm = new Vm(StressVm.config(EnumSet.noneOf(SeededBug.class))))
        {
            final Memslot slot = vm.addMemslot(0, 512, Backing.PAGE_2M);
            final DirtyLogging log = new DirtyLogging(vm);
            final CountDownLatch resolved = new CountDownLatch(1);
            final CountDownLatch enabled = new CountDownLatch(1);
            final AtomicBoolean armed = new AtomicBoolean(true);
            vm.mmu().setTestHook((point, gfn) ->
            {
                if (point == TestHook.Point.FAULT_AFTER_PFN_RESOLVED && armed.compareAndSet(true, false))
                {
                    resolved.countDown();
                    await(enabled);
                }
            });
            final FutureTask<Integer> fault = new FutureTask<>(() -> vm.mmu().pageFault(new TdpIter(vm.store()), 7, true));
            final Thread t = new Thread(fault, "fault");
            t.setDaemon(true);
            t.start();
            await(resolved);
            log.enable(slot, Memslot.LOG_WRPROT, false);
            enabled.countDown();
            assertEquals(TdpMmu.RET_PF_FIXED, (int)fault.get(5, SECONDS));
            final long entry = Probe.entryFor(vm, 7);
            assertTrue(Spte.isPresent(entry));
            assertFalse(Probe.levelFor(vm, 7) > Spte.PG_LEVEL_4K && Spte.isWritable(entry),
                "a writable huge leaf in a logged slot: " + Spte.describe(entry, Probe.levelFor(vm, 7)));

            // And the property it protects: a later write to another page of the region is logged.
            log.getDirtyLog(slot, false);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(9, 2);
            vcpu.exitGuest();
            assertTrue(Probe.dirty(log.getDirtyLog(slot, false), 9), "the later write is in the dirty log");
        }
    }

    private static void await(final CountDownLatch latch)
    {
        try
        {
            if (!latch.await(5, SECONDS))
            {
                fail("a forced interleaving did not reach its latch within 5 s");
            }
        }
        catch (final InterruptedException ex)
        {
            Thread.currentThread().interrupt();
            fail("interrupted");
        }
    }
}
