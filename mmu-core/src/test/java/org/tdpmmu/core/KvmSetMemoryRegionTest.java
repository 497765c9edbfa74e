package org.tdpmmu.core;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.tdpmmu.core.KvmSetMemoryRegion.Change;
import org.tdpmmu.core.KvmSetMemoryRegion.Region;

/** KVM_SET_USER_MEMORY_REGION at runtime: each change, what it flushes, and what it refuses. */
class KvmSetMemoryRegionTest
{
    private static Vm vm()
    {
        return new Vm(VmConfig.small().withRcuReclaimer(false).withHostFrameLimit(1 << 14));
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void deleteLeavesNoMappingOfTheSlotAndFreesItsFramesAndBitmap(final boolean zapAll)
    {
        try (Vm vm = vm())
        {
            final KvmSetMemoryRegion regions = vm.memoryRegions();
            regions.setSlotZapAll(zapAll);
            final Memslot a = regions.create(1, 0, 512, Backing.PAGE_4K);
            final Memslot b = regions.create(2, 1024, 512, Backing.PAGE_2M);
            final Vcpu vcpu = vm.createVcpu();
            for (long g = 0; g < 512; g += 7)
            {
                assertTrue(vcpu.write(g, g + 1));
            }
            assertTrue(vcpu.write(1024, 5));
            vcpu.exitGuest();
            final long frame = vm.host().resolvePfn(a, 7);
            final SafetyChecks.DeletedSlotCheck check = new SafetyChecks.DeletedSlotCheck(vm, a);

            assertEquals(Change.DELETE, regions.set(Region.delete(1)));

            assertEquals(List.of(), check.check(vm));
            assertNull(vm.memslots().findById(1));
            assertFalse(vm.host().isLive(frame), "the deleted slot's frames are freed");
            assertTrue(a.dirtyBitmap().freed());
            assertThrows(UseAfterFreeException.class, () -> a.dirtyBitmap().lvWord(0));
            // The other slot's mapping goes only with the zap-all quirk.
            assertEquals(!zapAll, SafetyChecks.lookup(vm, 1024) != null, "slot 2 still mapped");
            assertEquals(Vcpu.MMIO_READ_VALUE, vcpu.read(7), "a gfn without a slot reads as MMIO");
            assertFalse(vcpu.write(7, 1), "a write to it goes nowhere");
            assertEquals(5, vcpu.read(1024));
            vcpu.exitGuest();
            assertNull(SafetyChecks.lookup(vm, 7), "an MMIO access maps nothing");
            assertEquals(List.of(), SafetyChecks.noStaleTranslation(vm));
            assertTrue(vm.counters().faultEmulate.sum() >= 2);
            assertSame(b, vm.memslots().findById(2));
        }
    }

    @Test
    void moveKeepsTheContentsAtTheNewGfnsAndUnmapsTheOldOnes()
    {
        try (Vm vm = vm())
        {
            final KvmSetMemoryRegion regions = vm.memoryRegions();
            regions.setSlotZapAll(false);
            final Memslot old = regions.create(0, 0, 1024, Backing.PAGE_2M);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(3, 33);
            vcpu.write(700, 77);
            vcpu.exitGuest();
            final Memslot moved = regions.move(0, 4096);
            assertEquals(4096, moved.baseGfn());
            assertTrue(old.dirtyBitmap().freed());
            assertNull(SafetyChecks.lookup(vm, 3), "the old range is flushed");
            assertEquals(33, vcpu.read(4096 + 3));
            assertEquals(77, vcpu.read(4096 + 700));
            assertEquals(Vcpu.MMIO_READ_VALUE, vcpu.read(3));
            vcpu.exitGuest();
            assertEquals(List.of(), SafetyChecks.noStaleTranslation(vm));
            assertEquals(List.of(), SafetyChecks.noOversizedMapping(vm));
        }
    }

    @Test
    void recreateAfterDeleteGetsFreshMemory()
    {
        try (Vm vm = vm())
        {
            final KvmSetMemoryRegion regions = vm.memoryRegions();
            regions.create(5, 0, 64, Backing.PAGE_4K);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(1, 11);
            vcpu.exitGuest();
            regions.delete(5);
            regions.create(5, 0, 64, Backing.PAGE_4K);
            assertEquals(0, vcpu.read(1), "a new slot is new memory");
            vcpu.exitGuest();
            assertEquals(List.of(), SafetyChecks.noStaleTranslation(vm));
        }
    }

    @Test
    void flagsOnlyChangeTurnsDirtyLoggingOnAndOff()
    {
        try (Vm vm = vm())
        {
            final KvmSetMemoryRegion regions = vm.memoryRegions();
            final Memslot slot = regions.create(0, 0, 64, Backing.PAGE_4K);
            assertEquals(Change.FLAGS_ONLY,
                regions.set(new Region(0, KvmSetMemoryRegion.KVM_MEM_LOG_DIRTY_PAGES, 0, 64 * 4096, Backing.PAGE_4K)));
            assertTrue(slot.dirtyLogging());
            assertEquals(Change.NONE,
                regions.set(new Region(0, KvmSetMemoryRegion.KVM_MEM_LOG_DIRTY_PAGES, 0, 64 * 4096, Backing.PAGE_4K)));
            assertEquals(Change.FLAGS_ONLY, regions.set(new Region(0, 0, 0, 64 * 4096, Backing.PAGE_4K)));
            assertFalse(slot.dirtyLogging());
        }
    }

    @Test
    void badRequestsFailNamingTheProblemAndChangeNothing()
    {
        try (Vm vm = vm())
        {
            final KvmSetMemoryRegion regions = vm.memoryRegions();
            regions.create(0, 0, 512, Backing.PAGE_2M);
            final Memslot logged = regions.create(1, 4096, 64, Backing.PAGE_4K);
            new DirtyLogging(vm).enable(logged, Memslot.LOG_WRPROT, false);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(0, 1);
            vcpu.exitGuest();
            final long generation = vm.memslots().generation();
            final long changes = vm.counters().memslotChanges.sum();
            final long mapped = SafetyChecks.lookup(vm, 0).spte();
            final Object[][] cases = {
                {new Region(2, 0, 8192, 4097, Backing.PAGE_4K), "memory_size 0x1001 is not a multiple of 4 KiB"},
                {new Region(2, 0, 100, 4096, Backing.PAGE_4K), "guest_phys_addr 0x64 is not a multiple of 4 KiB"},
                {new Region(2, 0, 256 * 4096L, 4096, Backing.PAGE_4K), "overlaps memslot 0"},
                {new Region(2, 4, 8192 * 4096L, 4096, Backing.PAGE_4K), "flags 0x4"},
                {new Region(2, 2, 8192 * 4096L, 4096, Backing.PAGE_4K), "KVM_MEM_READONLY is not modeled"},
                {new Region(40000, 0, 8192 * 4096L, 4096, Backing.PAGE_4K), "slot id out of range"},
                {Region.delete(9), "delete of a slot that does not exist"},
                {new Region(0, 0, 0, 256 * 4096L, Backing.PAGE_2M), "cannot be resized"},
                {new Region(0, 0, 0, 512 * 4096L, Backing.PAGE_4K), "must keep the backing"},
                {new Region(0, 0, 8 * 4096L, 512 * 4096L, Backing.PAGE_2M), "offset within its PAGE_2M pages"},
                {new Region(1, 1, 8192 * 4096L, 64 * 4096L, Backing.PAGE_4K), "with dirty logging on"},
                {new Region(0, 0, 4096 * 4096L, 512 * 4096L, Backing.PAGE_2M), "overlaps memslot 1"},
            };
            for (final Object[] c : cases)
            {
                final Region r = (Region)c[0];
                final IllegalArgumentException ex = assertThrows(IllegalArgumentException.class, () -> regions.set(r),
                    r.toString());
                assertTrue(ex.getMessage().contains((String)c[1]) && ex.getMessage().contains("slot " + r.slot()),
                    ex.getMessage());
            }
            assertEquals(generation, vm.memslots().generation(), "no set was published");
            assertEquals(mapped, SafetyChecks.lookup(vm, 0).spte(), "nothing was zapped");
            assertEquals(changes, vm.counters().memslotChanges.sum());
        }
    }

    @Test
    void harvestOfADeletedSlotIsRefused()
    {
        try (Vm vm = vm())
        {
            final KvmSetMemoryRegion regions = vm.memoryRegions();
            final Memslot slot = regions.create(0, 0, 64, Backing.PAGE_4K);
            final DirtyLogging log = new DirtyLogging(vm);
            log.enable(slot, Memslot.LOG_WRPROT, false);
            log.disable(slot, RecoveryStrategy.ZAP_HUGE.recovery());
            regions.delete(0);
            final IllegalArgumentException ex = assertThrows(IllegalArgumentException.class,
                () -> log.getDirtyLog(slot, false, new long[1]));
            assertTrue(ex.getMessage().contains("-ENOENT"), ex.getMessage());
        }
    }

    /**
     * vCPUs write all over two slots while the host deletes, recreates and moves one of them: no
     * exception, every check holds at the end, and nothing leaks. The timeout is a hang guard (the
     * test takes about a second): a deadlock between a change and the vCPUs fails here instead of
     * stalling the build (mutant 32, a flush before the invalid copy, hangs it; JCSTRESS.md). In a
     * thread of its own, because the waits that hang (a grace period, a lock) spin and ignore
     * the interrupt a same-thread timeout sends.
     */
    @Test
    @Timeout(value = 60, unit = SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void changesRacingVcpusKeepEveryCheck() throws Exception
    {
        for (final boolean zapAll : new boolean[] {true, false})
        {
            try (Vm vm = new Vm(VmConfig.small().withHostFrameLimit(1 << 14)))
            {
                final KvmSetMemoryRegion regions = vm.memoryRegions();
                regions.setSlotZapAll(zapAll);
                regions.create(0, 0, 1024, Backing.PAGE_2M);
                regions.create(1, 2048, 1024, Backing.PAGE_4K);
                final AtomicBoolean stop = new AtomicBoolean();
                final AtomicReference<Throwable> failure = new AtomicReference<>();
                final List<Thread> threads = new ArrayList<>();
                for (int v = 0; v < 2; v++)
                {
                    final Vcpu vcpu = vm.createVcpu();
                    final int seed = v;
                    threads.add(new Thread(() ->
                    {
                        try
                        {
                            long i = seed;
                            while (!stop.get())
                            {
                                final long gfn = (i * 37) % 6144;
                                vcpu.write(gfn, i);
                                vcpu.read(gfn);
                                i++;
                            }
                            vcpu.exitGuest();
                        }
                        catch (final Throwable t)
                        {
                            failure.compareAndSet(null, t);
                        }
                    }, "vcpu" + v));
                }
                threads.forEach(Thread::start);
                for (int round = 0; round < 40 && failure.get() == null; round++)
                {
                    regions.move(1, (round & 1) == 0 ? 4096 : 2048);
                    regions.delete(0);
                    regions.create(0, 0, 1024, Backing.PAGE_2M);
                }
                stop.set(true);
                for (final Thread t : threads)
                {
                    t.join(30_000);
                    assertFalse(t.isAlive(), t.getName() + " did not stop");
                }
                assertNull(failure.get(), () -> "vCPU failed: " + failure.get());
                assertEquals(List.of(), SafetyChecks.noStaleTranslation(vm));
                assertEquals(List.of(), SafetyChecks.noOversizedMapping(vm));
                assertEquals(List.of(), SafetyChecks.noFrozenOrDanglingEntry(vm));
                assertEquals(120, vm.counters().memslotChanges.sum() - 2);
                assertNotNull(vm.memslots().findById(1));
                vm.destroy();
                assertEquals(List.of(), SafetyChecks.noLeak(vm));
            }
        }
    }
}
