package org.tdpmmu.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;

/**
 * The dirty ring: the kernel's size checks and soft limit, push / collect / reset with the
 * coalescing of kvm_dirty_ring_reset, vCPU pushes from the write fault and from D bits, writes
 * without a vCPU in the bitmap, the soft-full exit, and reset == collected.
 */
class DirtyRingTest
{
    private static final long BASE = 0x100000;

    @Test
    void sizesAreThoseTheKernelAccepts()
    {
        // One page (256 entries) without PML; with the PML reserve of 64 + 512 the next power of two.
        assertEquals(256, DirtyRing.minEntries(0));
        assertEquals(1024, DirtyRing.minEntries(DirtyRing.PML_ENTRIES));
        assertEquals(1024 - 576, new DirtyRing(1024, DirtyRing.PML_ENTRIES).softLimit());
        assertEquals(256 - 64, new DirtyRing(256, 0).softLimit());
        for (final int bad : new int[] {0, 128, 1000, 512, 131072})
        {
            final IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new DirtyRing(bad, DirtyRing.PML_ENTRIES));
            assertTrue(e.getMessage().contains("1024..65536"), e.getMessage());
        }
    }

    @Test
    void collectSeesWhatWasPushedAndResetCoalescesNeighbours()
    {
        final DirtyRing ring = new DirtyRing(256, 0);
        final long[] offsets = {10, 11, 13, 9, 200, 201, 5};
        for (final long o : offsets)
        {
            ring.push(3, o);
        }
        ring.push(4, 12);
        final List<Long> seen = new ArrayList<>();
        assertEquals(8, ring.collect((slot, offset) -> seen.add(slot * 1000L + offset)));
        assertEquals(List.of(3010L, 3011L, 3013L, 3009L, 3200L, 3201L, 3005L, 4012L), seen);
        assertEquals(0, ring.collect((slot, offset) -> seen.add(-1L)), "nothing new to collect");
        final List<String> masks = new ArrayList<>();
        assertEquals(8, ring.reset((slot, offset, mask) -> masks.add(slot + ":" + offset + ":" + Long.toBinaryString(mask)),
            Integer.MAX_VALUE));
        // 10, 11, 13 forwards; 9 backwards (the mask shifts up one); 200 too far; 201 forwards;
        // 5 too far back from 200; slot 4 apart.
        assertEquals(List.of("3:9:10111", "3:200:11", "3:5:1", "4:12:1"), masks);
        assertEquals(0, ring.used());
        assertEquals(0, ring.reset((slot, offset, mask) -> masks.add("again"), Integer.MAX_VALUE));
    }

    @Test
    void resetStopsAtTheFirstEntryNotCollectedAndAtTheBudget()
    {
        final DirtyRing ring = new DirtyRing(256, 0);
        for (int i = 0; i < 5; i++)
        {
            ring.push(0, 100 * i);
        }
        ring.collect((slot, offset) -> { });
        ring.push(0, 7);
        final AtomicInteger masks = new AtomicInteger();
        assertEquals(2, ring.reset((slot, offset, mask) -> masks.incrementAndGet(), 2));
        assertEquals(2, masks.get());
        assertEquals(3, ring.reset((slot, offset, mask) -> masks.incrementAndGet(), Integer.MAX_VALUE),
            "the uncollected push of page 7 stops the reset");
        assertEquals(1, ring.used());
    }

    @Test
    void aStandaloneRingFillsToItsSizeAndThenAPushIsAnMmuBug()
    {
        final DirtyRing ring = new DirtyRing(256, 0);
        for (int i = 0; i < 256; i++)
        {
            assertEquals(i + 1 >= 192, ring.push(0, i));
        }
        assertTrue(ring.full());
        assertThrows(MmuBugException.class, () -> ring.push(0, 256));
    }

    @Test
    void enableIsRefusedAfterTheFirstVcpuAndForABadSize()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            assertThrows(IllegalArgumentException.class, () -> vm.enableDirtyRing(512));
            vm.createVcpu();
            final IllegalStateException e = assertThrows(IllegalStateException.class, () -> vm.enableDirtyRing(1024));
            assertTrue(e.getMessage().contains("before the first vCPU"), e.getMessage());
        }
    }

    /** Pages a collect of every ring reports, as gfns. */
    private static TreeSet<Long> collect(final Vm vm, final Memslot slot)
    {
        final TreeSet<Long> pages = new TreeSet<>();
        for (final Vcpu v : vm.vcpus())
        {
            v.dirtyRing().collect((id, offset) ->
            {
                assertEquals(slot.id(), id);
                pages.add(slot.baseGfn() + offset);
            });
        }
        return pages;
    }

    private static TreeSet<Long> gfns(final long... offsets)
    {
        final TreeSet<Long> s = new TreeSet<>();
        for (final long o : offsets)
        {
            s.add(BASE + o);
        }
        return s;
    }

    private void writesArePushedAndResetReprotects(final int mode)
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            vm.enableDirtyRing(1024);
            final Memslot slot = vm.addMemslot(BASE, 512, Backing.PAGE_4K);
            final Vcpu vcpu = vm.createVcpu();
            for (long g = BASE; g < BASE + 512; g++)
            {
                vcpu.read(g);
            }
            final DirtyLogging log = new DirtyLogging(vm);
            log.enable(slot, mode, false);
            for (final long o : new long[] {1, 2, 3, 70, 300})
            {
                vcpu.write(BASE + o, 1);
                vcpu.write(BASE + o, 2); // the second write is not a new entry
            }
            vcpu.exitGuest();
            assertEquals(5, vcpu.dirtyRing().used());
            assertEquals(gfns(1, 2, 3, 70, 300), collect(vm, slot));
            assertEquals(0, slot.dirtyBitmap().cardinality(), "vCPU writes go to the ring, not the bitmap");
            final long masksBefore = vm.counters().ringResetMasks.sum();
            assertEquals(5, log.resetDirtyRings(vm.vcpus()), "reset count == collected count");
            // 1, 2, 3 in one mask; 70 is 69 above 1, 300 far: three masks.
            assertEquals(3, vm.counters().ringResetMasks.sum() - masksBefore);
            // Written again after the reset: reported again; a page not written is not.
            vcpu.write(BASE + 2, 3);
            vcpu.exitGuest();
            assertEquals(gfns(2), collect(vm, slot));
            assertEquals(1, log.resetDirtyRings(vm.vcpus()));
            assertEquals(0, vcpu.dirtyRing().used());
        }
    }

    @Test
    void writeProtectModePushesFromTheFastFault()
    {
        writesArePushedAndResetReprotects(Memslot.LOG_WRPROT);
    }

    @Test
    void dbitModePushesWhenTheWalkSetsD()
    {
        writesArePushedAndResetReprotects(Memslot.LOG_DBIT);
    }

    @Test
    void aWriteWithoutAVcpuGoesToTheBitmap()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            vm.enableDirtyRing(1024);
            final Memslot slot = vm.addMemslot(BASE, 64, Backing.PAGE_4K);
            vm.createVcpu();
            final DirtyLogging log = new DirtyLogging(vm);
            log.enable(slot, Memslot.LOG_WRPROT, false);
            // A fault without a vCPU (KVM writing guest memory itself, e.g. a pre-fault).
            assertEquals(TdpMmu.RET_PF_FIXED, vm.mmu().pageFault(new TdpIter(vm.store()), BASE + 5, true));
            assertEquals(1, slot.dirtyBitmap().cardinality());
            assertEquals(0, vm.vcpus().get(0).dirtyRing().used());
            assertEquals(1L, log.getDirtyLog(slot, false)[0] >>> 5);
        }
    }

    @Test
    void aSoftFullRingHoldsTheVcpuOutUntilItIsReset()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            vm.enableDirtyRing(1024);
            final int limit = 1024 - 576;
            final Memslot slot = vm.addMemslot(BASE, 1024, Backing.PAGE_4K);
            final Vcpu vcpu = vm.createVcpu();
            final DirtyLogging log = new DirtyLogging(vm);
            log.enable(slot, Memslot.LOG_WRPROT, false);
            final AtomicInteger exits = new AtomicInteger();
            final int[] collected = new int[1];
            final int[] reset = new int[1];
            vcpu.setDirtyRingFullHandler(v ->
            {
                // The vCPU is out of the guest and its ring soft full: userspace reaps it, but
                // only on the second exit, so the first re-entry must have been refused.
                assertTrue(v.dirtyRing().softFull());
                if (exits.incrementAndGet() == 2)
                {
                    collected[0] = v.dirtyRing().collect((id, offset) -> { });
                    reset[0] = log.resetDirtyRings(vm.vcpus());
                }
            });
            for (int i = 0; i < limit - 1; i++)
            {
                vcpu.write(BASE + i, 1);
            }
            assertEquals(0, exits.get());
            assertEquals(limit - 1, vcpu.dirtyRing().used());
            // Its fault pushes the entry that reaches the soft limit; the re-entry to redo the
            // write is refused until the reset.
            vcpu.write(BASE + limit - 1, 1);
            assertEquals(2, exits.get());
            assertEquals(2, vcpu.dirtyRingFullExits());
            assertEquals(limit, collected[0]);
            assertEquals(collected[0], reset[0], "reset count == collected count");
            // The reset re-protected the page the write faulted on: redone, it faults and pushes again.
            assertEquals(1, vcpu.dirtyRing().used());
        }
    }
}
