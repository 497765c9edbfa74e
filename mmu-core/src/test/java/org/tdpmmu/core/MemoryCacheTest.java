package org.tdpmmu.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class MemoryCacheTest
{
    @Test
    void faultTakesTablesOnlyFromTheVcpuCacheToppedUpBeforeTheLock()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            vm.addMemslot(0, 4096, Backing.PAGE_4K);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(5, 1);
            vcpu.exitGuest();
            final MmuMemoryCache cache = vcpu.memoryCache();
            assertEquals(1, cache.topups());
            assertEquals(3, cache.taken(), "levels 3, 2 and 1 linked below the root");
            assertEquals(4 - 3, cache.size(), "topped up to the root level (4), 3 taken");
            vcpu.write(6, 2);
            vcpu.exitGuest();
            assertEquals(2, cache.topups(), "every slow fault tops up first");
            assertEquals(3, cache.taken(), "a second fault into the same table links none");
            assertEquals(4, cache.size());
            vm.destroy();
            assertEquals(0, vm.store().liveCount(), "teardown gives the cached tables back");
            assertEquals(4, cache.returnedUnused());
        }
    }

    @Test
    void exhaustedStoreFailsTheFaultBeforeAnySpteChanged()
    {
        // Root plus 2 free tables: a fault needs up to 4 in the cache, so the top-up fails.
        try (Vm vm = new Vm(VmConfig.small().withTableCapacity(3)))
        {
            vm.addMemslot(0, 4096, Backing.PAGE_4K);
            final Vcpu vcpu = vm.createVcpu();
            assertThrows(OutOfTablesException.class, () -> vcpu.write(5, 1));
            vcpu.exitGuest();
            for (int i = 0; i < Spte.ENTRIES_PER_TABLE; i++)
            {
                assertEquals(vm.mmu().nonPresent(), vm.store().lvSpte(vm.mmu().rootPfn(), i), "root entry " + i + " untouched");
            }
            assertEquals(0, vm.counters().tablesLinked.sum());
            assertEquals(3, vm.store().liveCount(), "root + the two tables the cache holds");
            vm.destroy();
            assertEquals(0, vm.store().liveCount());
        }
    }

    @Test
    void takeFromAnEmptyCacheIsABug()
    {
        final PageTableStore store = new PageTableStore(8);
        final MmuMemoryCache cache = new MmuMemoryCache(store, 2);
        final IllegalStateException e = assertThrows(IllegalStateException.class, cache::take);
        assertTrue(e.getMessage().contains("top up"));
        cache.topup(2);
        final long t = cache.take();
        cache.giveBack(t);
        assertEquals(2, cache.size());
        cache.free();
        assertEquals(0, store.liveCount());
        assertEquals(2, cache.returnedUnused());
    }

    @Test
    void eagerSplitUsesACacheAndDropsTheLockToRefill()
    {
        try (Vm vm = new Vm(VmConfig.small().withHostFrameLimit(1L << 20)))
        {
            // 2 x 64 + a few 2 MiB pages: more splits than one cache fill holds.
            final long pages = (2 * DirtyLogging.SPLIT_CACHE_TABLES + 3) * 512L;
            final Memslot slot = vm.addMemslot(0, pages, Backing.PAGE_2M);
            final Vcpu vcpu = vm.createVcpu();
            for (long g = 0; g < pages; g += 512)
            {
                vcpu.write(g, g);
            }
            vcpu.exitGuest();
            final long topupsBefore = vm.counters().cacheTopups.sum();
            new DirtyLogging(vm).enable(slot, Memslot.LOG_WRPROT, true);
            assertEquals(2 * DirtyLogging.SPLIT_CACHE_TABLES + 3, vm.counters().splits.sum());
            assertEquals(3, vm.counters().cacheTopups.sum() - topupsBefore, "initial fill plus two refills");
            vm.destroy();
            assertEquals(0, vm.store().liveCount());
        }
    }
}
