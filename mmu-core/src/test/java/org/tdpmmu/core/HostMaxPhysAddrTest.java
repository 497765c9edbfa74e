package org.tdpmmu.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** A host's MAXPHYADDR bounds the guest-physical space: slots and whole-root zaps end at its last gfn. */
class HostMaxPhysAddrTest
{
    /** Gfns a 36-bit host addresses: 2^(36 - 12). */
    private static final long NARROW_GFNS = 1L << 24;

    @ParameterizedTest
    @ValueSource(ints = {0, 35, 53, 64})
    void widthsOutsideTheRangeAreRefusedNamingTheField(final int bits)
    {
        final IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> new Vm(VmConfig.small(), FaultInjection.NONE, bits));
        assertTrue(e.getMessage().contains("hostMaxPhysAddr " + bits), e.getMessage());
        assertTrue(e.getMessage().contains("36..52"), e.getMessage());
    }

    @Test
    void theDefaultIsTheRootsWholeRange()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            assertEquals(1L << (Spte.LEVEL_BITS * vm.mmu().rootLevel()), vm.mmu().maxGfnExclusive());
            assertEquals(vm.mmu().maxGfnExclusive(), vm.memslots().gfnLimit());
        }
    }

    @Test
    void aNarrowHostRefusesASlotPastItsLastGfn()
    {
        try (Vm vm = new Vm(VmConfig.small(), FaultInjection.NONE, 36))
        {
            assertEquals(NARROW_GFNS, vm.mmu().maxGfnExclusive());
            assertThrows(IllegalArgumentException.class, () -> vm.addMemslot(NARROW_GFNS - 256, 512, Backing.PAGE_4K));
            assertThrows(IllegalArgumentException.class, () -> vm.addMemslot(NARROW_GFNS, 1, Backing.PAGE_4K));
            assertEquals(512, vm.addMemslot(NARROW_GFNS - 512, 512, Backing.PAGE_4K).npages());
        }
    }

    @Test
    void aFastInvalidationZapsEveryPageUpToTheLastGfn()
    {
        try (Vm vm = new Vm(VmConfig.small(), FaultInjection.NONE, 36))
        {
            final Memslot low = vm.addMemslot(0, 512, Backing.PAGE_4K);
            final Memslot top = vm.addMemslot(NARROW_GFNS - 512, 512, Backing.PAGE_4K);
            final Vcpu vcpu = vm.createVcpu();
            for (final Memslot s : new Memslot[] {low, top})
            {
                for (long g = s.baseGfn(); g < s.endGfn(); g++)
                {
                    vcpu.write(g, g + 1);
                }
            }
            vcpu.exitGuest();
            final long zappedBefore = vm.counters().zapLeaf.sum();
            vm.mmu().zapAllFast();
            assertEquals(1024, vm.counters().zapLeaf.sum() - zappedBefore, "every leaf of both slots zapped");
            final long faultsBefore = vcpu.faults();
            for (final Memslot s : new Memslot[] {low, top})
            {
                for (long g = s.baseGfn(); g < s.endGfn(); g++)
                {
                    assertEquals(g + 1, vcpu.read(g), "gfn " + g);
                }
            }
            assertTrue(vcpu.faults() > faultsBefore, "the zapped pages fault back in");
            vcpu.exitGuest();
            vm.destroy();
            assertEquals(0, vm.store().liveCount(), "no leaked table");
        }
    }
}
