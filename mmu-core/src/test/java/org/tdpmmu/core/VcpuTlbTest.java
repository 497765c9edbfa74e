package org.tdpmmu.core;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;
import org.tdpmmu.concurrency.RemoteRequests;

/** The vCPU's TLB: which accesses hit, which walk, and what the published counters say. */
class VcpuTlbTest
{
    private static final long BASE = 0x100000;

    private static long hits(final Vm vm)
    {
        return vm.counters().tlbHits.sum();
    }

    private static long misses(final Vm vm)
    {
        return vm.counters().tlbMisses.sum();
    }

    @Test
    void secondAccessHitsAndCountsArePublishedAtExit()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            vm.addMemslot(BASE, 512, Backing.PAGE_4K);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(BASE, 1); // miss, fault, miss again, walk resolves
            vcpu.exitGuest();
            assertEquals(0, hits(vm));
            assertEquals(2, misses(vm));

            assertEquals(1, vcpu.read(BASE));
            vcpu.write(BASE, 2); // cached with W and D by the write's walk: hits
            assertEquals(0, hits(vm), "counts wait for the exit from guest mode");
            vcpu.exitGuest();
            assertEquals(2, hits(vm));
            assertEquals(2, misses(vm));
            assertEquals(3, vcpu.accesses());
        }
    }

    @Test
    void writeThroughAnEntryCachedWithoutDirtyWalksToSetIt()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            vm.addMemslot(BASE, 512, Backing.PAGE_4K);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(BASE, 1);
            vm.mmu().walkShared(BASE, BASE + 1, Spte.PG_LEVEL_4K, it -> {
                if (it.level() == Spte.PG_LEVEL_4K)
                {
                    vm.mmu().clearSpteBits(it, Spte.DIRTY);
                }
                return false;
            });
            vcpu.flushTlb();
            vcpu.exitGuest();
            final long misses0 = misses(vm);
            final long hits0 = hits(vm);

            vcpu.read(BASE); // walk, caches the translation without D
            vcpu.read(BASE); // hit
            vcpu.write(BASE, 2); // tag matches, D clear: must walk again and set D
            vcpu.exitGuest();
            assertEquals(2, misses(vm) - misses0);
            assertEquals(1, hits(vm) - hits0, "only the second read hit");
            final long[] seen = new long[1];
            vm.mmu().walkShared(BASE, BASE + 1, Spte.PG_LEVEL_4K, it -> {
                if (it.level() == Spte.PG_LEVEL_4K)
                {
                    seen[0] = it.oldSpte();
                }
                return false;
            });
            assertEquals(Spte.DIRTY, seen[0] & Spte.DIRTY, "the write's walk set D on the leaf");
            assertEquals(2, vcpu.read(BASE));
        }
    }

    @Test
    void hugePageTranslationHitsThroughTheTwoMegabyteEntry()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            vm.addMemslot(BASE, 512, Backing.PAGE_2M);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(BASE, 7);
            vcpu.exitGuest();
            final long misses0 = misses(vm);
            final long hits0 = hits(vm);
            for (long g = BASE; g < BASE + 512; g++)
            {
                vcpu.write(g, g);
            }
            vcpu.exitGuest();
            assertEquals(0, misses(vm) - misses0, "one 2 MiB entry covers all 512 pages");
            assertEquals(512, hits(vm) - hits0);
            assertEquals(BASE + 300, vcpu.read(BASE + 300));
        }
    }

    @Test
    void flushRequestDropsEveryCachedTranslationBeforeTheNextAccess()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            vm.addMemslot(BASE, 512, Backing.PAGE_4K);
            vm.addMemslot(BASE + 0x10000, 512, Backing.PAGE_2M);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(BASE, 1);
            vcpu.write(BASE + 0x10000, 2);
            vcpu.exitGuest();
            vm.requests().makeAllCpusRequest(RemoteRequests.REQ_TLB_FLUSH, false);
            final long misses0 = misses(vm);
            final long flushes0 = vcpu.tlbFlushes();
            vcpu.read(BASE);
            vcpu.read(BASE + 0x10000);
            vcpu.exitGuest();
            assertEquals(flushes0 + 1, vcpu.tlbFlushes());
            assertEquals(2, misses(vm) - misses0, "both page sizes were flushed");
        }
    }
}
