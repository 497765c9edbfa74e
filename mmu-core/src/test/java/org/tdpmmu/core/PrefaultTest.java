package org.tdpmmu.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;

class PrefaultTest
{
    private static final long G1 = 1L << 18; // 4 KiB pages in 1 GiB
    private static final long M2 = 512;

    /** Leaves by level under the slot, counted by a walk. */
    private static long[] leavesByLevel(final Vm vm, final Memslot slot)
    {
        final long[] n = new long[4];
        final TdpIter it = new TdpIter(vm.store());
        for (it.start(vm.mmu().rootPfn(), vm.mmu().rootLevel(), 1, slot.baseGfn(), slot.endGfn()); it.valid(); it.next())
        {
            if (Spte.isPresentLeaf(it.oldSpte(), it.level()))
            {
                n[it.level()]++;
            }
        }
        return n;
    }

    @Test
    void unalignedHeadAndTailUse4KiBAnd2MiBAroundHugeMiddle()
    {
        try (Vm vm = new Vm(VmConfig.small().withHostFrameLimit(5 * G1)))
        {
            final Memslot slot = vm.addMemslot(G1, 3 * G1, Backing.PAGE_1G);
            // From 1 GiB - 3 pages before the 1 GiB boundary... start 3 pages after slot start, end mid-way.
            final long start = (G1 + 3) << 12;
            final long end = (2 * G1 + G1 + M2 + 5) << 12;
            final Prefault.Result r = new Prefault(vm).prefault(start, end);
            // Head: pages 3..511 of the first 2 MiB (509 x 4K), then 511 x 2M up to 2 GiB... the first
            // GiB block [G1, 2G1) cannot be 1G (starts at +3): 509 4K + 511 2M; then one 1 GiB block
            // [2G1, 3G1); tail: one 2M block and 5 x 4K.
            assertEquals(509 + 5, r.blocks(1));
            assertEquals(511 + 1, r.blocks(2));
            assertEquals(1, r.blocks(3));
            assertEquals(0, r.pagesAlreadyMapped());
            final long[] leaves = leavesByLevel(vm, slot);
            assertEquals(514, leaves[1]);
            assertEquals(512, leaves[2]);
            assertEquals(1, leaves[3]);
            assertTrue(r.tablesUsed() <= r.tablesReserved());
            assertEquals(r.tablesReserved(), r.tablesUsed() + r.tablesReturned());
            // A vCPU reading the whole range takes no fault.
            final Vcpu vcpu = vm.createVcpu();
            for (long g = start >>> 12; g < end >>> 12; g += 97)
            {
                vcpu.read(g);
            }
            vcpu.exitGuest();
            assertEquals(0, vcpu.faults());
            vm.destroy();
            assertEquals(0, vm.store().liveCount());
        }
    }

    @Test
    void dirtyLoggingEnabledAfterThePlanMapsTheBlockAs4KiB()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            final Memslot slot = vm.addMemslot(0, 2 * M2, Backing.PAGE_2M);
            final DirtyLogging log = new DirtyLogging(vm);
            final boolean[] enabled = new boolean[1];
            // The plan (outside the lock) chose two 2 MiB blocks; dirty logging goes on before the
            // first block takes the lock, so the level must be decided again under it.
            vm.mmu().setTestHook((point, gfn) -> {
                if (point == TestHook.Point.FAULT_AFTER_PFN_RESOLVED && !enabled[0])
                {
                    enabled[0] = true;
                    log.enable(slot, Memslot.LOG_WRPROT, false);
                }
            });
            final Prefault.Result r = new Prefault(vm).prefault(0, 2 * M2 << 12);
            vm.mmu().setTestHook(TestHook.NONE);
            assertTrue(enabled[0]);
            assertEquals(0, r.blocks(2), "no 2 MiB leaf under dirty logging");
            assertEquals(2 * M2, r.blocks(1));
            final long[] leaves = leavesByLevel(vm, slot);
            assertEquals(0, leaves[2]);
            assertEquals(2 * M2, leaves[1]);
            assertEquals(java.util.List.of(), SafetyChecks.noOversizedMapping(vm));
        }
    }

    @Test
    void secondPrefaultMapsNothingTwiceAndReportsAlreadyMapped()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            final Memslot slot = vm.addMemslot(0, 8 * M2, Backing.PAGE_2M);
            final Prefault p = new Prefault(vm);
            p.prefault(0, 8 * M2 << 12);
            final long linked = vm.counters().tablesLinked.sum();
            final Prefault.Result again = p.prefault(0, 8 * M2 << 12);
            assertEquals(8 * M2, again.pagesAlreadyMapped());
            assertEquals(0, again.blocks(1) + again.blocks(2));
            assertEquals(linked, vm.counters().tablesLinked.sum(), "no table linked twice");
            assertEquals(8, leavesByLevel(vm, slot)[2]);
        }
    }

    @Test
    void blockWhoseEntryIsATableIsFilledInsideIt()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            final Memslot slot = vm.addMemslot(0, 2 * M2, Backing.PAGE_2M);
            final DirtyLogging log = new DirtyLogging(vm);
            log.enable(slot, Memslot.LOG_WRPROT, false);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(7, 1); // a 4 KiB leaf inside the first 2 MiB while logging is on
            vcpu.exitGuest();
            log.disable(slot, new HugePageRecovery()
            {
                @Override
                public String name()
                {
                    return "none";
                }

                @Override
                public void recover(final TdpMmu mmu, final Memslot s)
                {
                }
            });
            final Prefault.Result r = new Prefault(vm).prefault(0, 2 * M2 << 12);
            assertEquals(1, r.pagesAlreadyMapped(), "gfn 7 is left alone");
            assertEquals(511, r.blocks(1), "the rest of the first 2 MiB is mapped at 4 KiB inside the table");
            assertEquals(1, r.blocks(2), "the second 2 MiB is one huge block");
            assertEquals(1, vm.host().contentOf(slot, 7));
        }
    }

    @Test
    void badRangesAreRefusedAndMapNothing()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            vm.addMemslot(0, 4 * M2, Backing.PAGE_2M);
            final Prefault p = new Prefault(vm);
            final IllegalArgumentException misaligned = assertThrows(IllegalArgumentException.class,
                () -> p.prefault(100, 4096 * 8));
            assertTrue(misaligned.getMessage().contains("4 KiB aligned"), misaligned.getMessage());
            final IllegalArgumentException uncovered = assertThrows(IllegalArgumentException.class,
                () -> p.prefault(0, (4 * M2 + 1) << 12));
            assertTrue(uncovered.getMessage().contains("in no memslot"), uncovered.getMessage());
            assertEquals(1, vm.store().liveCount(), "only the root: nothing was mapped or reserved");
        }
    }

    @Test
    void exhaustionDuringReservationLeavesNothingLinked()
    {
        try (Vm vm = new Vm(VmConfig.small().withTableCapacity(3)))
        {
            vm.addMemslot(0, 4 * M2, Backing.PAGE_4K);
            assertThrows(OutOfTablesException.class, () -> new Prefault(vm).prefault(0, 4 * M2 << 12));
            assertEquals(1, vm.store().liveCount(), "reservation given back, only the root is live");
            final TdpIter it = new TdpIter(vm.store());
            for (it.start(vm.mmu().rootPfn(), 4, 1, 0, 4 * M2); it.valid(); it.next())
            {
                assertTrue(!Spte.isPresent(it.oldSpte()), "nothing linked: " + Spte.describe(it.oldSpte(), it.level()));
            }
        }
    }

    @Test
    void twoThreadsPrefaultingOverlappingRangesMapEachBlockOnceAndLeakNothing() throws Exception
    {
        for (int round = 0; round < 20; round++)
        {
            try (Vm vm = new Vm(VmConfig.small()))
            {
                final Memslot slot = vm.addMemslot(0, 16 * M2, Backing.PAGE_2M);
                final CyclicBarrier go = new CyclicBarrier(2);
                final AtomicReference<Throwable> error = new AtomicReference<>();
                final Prefault.Result[] results = new Prefault.Result[2];
                final Thread[] t = new Thread[2];
                for (int i = 0; i < 2; i++)
                {
                    final int id = i;
                    t[i] = new Thread(() ->
                    {
                        try
                        {
                            go.await();
                            // [0, 12 x 2M + 3 pages) and [3 pages, 16 x 2M): overlapping.
                            results[id] = id == 0 ? new Prefault(vm).prefault(0, (12 * M2 + 3) << 12) :
                                new Prefault(vm).prefault(3 << 12, 16 * M2 << 12);
                        }
                        catch (final Throwable e)
                        {
                            error.set(e);
                        }
                    });
                    t[i].start();
                }
                for (final Thread th : t)
                {
                    th.join(10_000);
                }
                assertEquals(null, error.get());
                final long[] leaves = leavesByLevel(vm, slot);
                final long mapped4k = leaves[1] + leaves[2] * M2;
                assertEquals(16 * M2, mapped4k, "every page mapped exactly once");
                vm.destroy();
                assertEquals(0, vm.store().liveCount(), "no table leaked");
            }
        }
    }
}
