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

    /**
     * A write to a write-protected page of a logged slot: one exit, one lockless fix, one page
     * marked dirty, kept in the vCPU's own counts until it leaves guest mode, then all published.
     */
    @Test
    void fastFaultCountsArePublishedAtTheNextExit()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            final Memslot slot = vm.addMemslot(BASE, 512, Backing.PAGE_4K);
            final DirtyLogging logging = new DirtyLogging(vm);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(BASE, 1);
            vcpu.exitGuest();
            logging.enable(slot, Memslot.LOG_WRPROT, false, false);
            final long exits0 = vm.counters().vmExits.sum();
            final long fast0 = vm.counters().faultFast.sum();
            final long marked0 = vm.counters().dirtyMarked.sum();

            vcpu.write(BASE, 2); // write-protected by the enable: EPT violation, fast fix, re-walk
            assertEquals(exits0, vm.counters().vmExits.sum(), "counted in the vCPU until its exit");
            assertEquals(fast0, vm.counters().faultFast.sum());
            vcpu.exitGuest();
            assertEquals(exits0 + 1, vm.counters().vmExits.sum());
            assertEquals(fast0 + 1, vm.counters().faultFast.sum());
            assertEquals(marked0 + 1, vm.counters().dirtyMarked.sum());
            assertEquals(1, logging.getDirtyLog(slot, false)[0] & 1, "the fix marked the page dirty");
            vcpu.exitGuest();
            assertEquals(exits0 + 1, vm.counters().vmExits.sum(), "published once");
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

    /**
     * The interleaving behind issue 14's "6145 translations": vCPU A stops just before linking the
     * first table under the root; vCPU B, writing another 2 MiB region under the same 1 GiB, links
     * the chain meanwhile. A's link loses, its fault returns RETRY (kvm_tdp_mmu_map after a failed
     * tdp_mmu_link_sp), and its one access faults a second time: three translations for one access,
     * so no bound of two per access holds. What does hold: hits + misses = accesses + EPT violations.
     */
    @Test
    void anAccessWhoseFaultLosesALinkRaceIsTranslatedThreeTimes()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            vm.addMemslot(BASE, 1024, Backing.PAGE_4K);
            final long gA = BASE;
            final long gB = BASE + 512; // its own leaf table; the L3 and L2 tables are shared with gA
            final Vcpu a = vm.createVcpu();
            final Vcpu b = vm.createVcpu();
            ConcurrentFaultTest.raceAtFirstLink(vm, "lost-link", () -> a.write(gA, 0xA), () -> b.write(gB, 0xB), a, b);
            final MmuCounters c = vm.counters();
            assertEquals(1, c.tablesLostRace.sum(), "A lost the link of the L3 table");
            assertEquals(2, a.faults(), "A's first fault returned RETRY, its second installed the leaf");
            assertEquals(1, b.faults());
            assertEquals(1, c.faultRetry.sum());
            assertEquals(2, c.faultInstalled.sum());
            assertEquals(0, hits(vm));
            assertEquals(5, misses(vm), "A: miss, fault, miss, fault, miss + walk; B: miss, fault, miss + walk");
            assertEquals(a.accesses() + b.accesses() + c.vmExits.sum(), hits(vm) + misses(vm));
            assertEquals(0xA, a.read(gA));
            assertEquals(0xB, a.read(gB));
        }
    }
}
