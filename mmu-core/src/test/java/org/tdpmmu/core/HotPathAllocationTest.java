package org.tdpmmu.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The SPTE accessors and the walk are the hot path of every fault and every zap: once warm they
 * must allocate nothing on the Java heap (JCTools style), or a many-vCPU run measures the GC.
 */
class HotPathAllocationTest
{
    /** What the two MXBean calls around the measured region may cost by themselves. */
    private static final long SLACK_BYTES = 1024;
    private static final int ACCESSES = 100_000;
    private static final int WALKS = 50;

    private static com.sun.management.ThreadMXBean threads;

    @BeforeAll
    static void mxBean()
    {
        final java.lang.management.ThreadMXBean bean = ManagementFactory.getThreadMXBean();
        assertTrue(bean instanceof com.sun.management.ThreadMXBean,
            "this JVM's ThreadMXBean is not a com.sun.management.ThreadMXBean: " + bean.getClass());
        threads = (com.sun.management.ThreadMXBean)bean;
        assertTrue(threads.isThreadAllocatedMemorySupported(), "thread allocated-bytes measurement is not supported");
        if (!threads.isThreadAllocatedMemoryEnabled())
        {
            threads.setThreadAllocatedMemoryEnabled(true);
        }
        assertTrue(threads.isThreadAllocatedMemoryEnabled(), "thread allocated-bytes measurement is disabled");
    }

    @Test
    void measurementSeesAnAllocation()
    {
        // the probe itself works: a real allocation shows up
        final long before = allocatedBytes();
        final long[] sink = new long[1024];
        final long after = allocatedBytes();
        sink[0] = 1;
        assertTrue(after - before >= 8 * 1024, "allocated " + (after - before) + " bytes, sink " + sink.length);
    }

    @Test
    void accessorsAllocateNothingOnceWarm()
    {
        final PageTableStore store = new PageTableStore(4);
        final long pfn = store.allocate();
        final long gen = store.generation(pfn);
        for (int i = 0; i < 20; i++)
        {
            accessorLoop(store, pfn, gen, ACCESSES);
        }
        allocatedBytes();
        allocatedBytes();

        final long before = allocatedBytes();
        final long witnessSum = accessorLoop(store, pfn, gen, ACCESSES);
        final long after = allocatedBytes();

        assertTrue(after - before < SLACK_BYTES,
            "lvSpte/cmpxchgSpte/xchgSpte allocated " + (after - before) + " bytes in " + ACCESSES + " rounds");
        // every cmpxchg succeeded and incremented its entry: 21 loops of 100_000 over 512 entries
        assertEquals(21L * ACCESSES, sumEntries(store, pfn));
        assertTrue(witnessSum != 0);
    }

    @Test
    void walkAllocatesNothingOnceWarm()
    {
        final PageTableStore store = new PageTableStore(16);
        final long root = buildStructure(store);
        final TdpIter iter = new TdpIter(store);
        for (int i = 0; i < 20 * WALKS; i++)
        {
            walk(iter, root);
        }
        allocatedBytes();
        allocatedBytes();

        final long before = allocatedBytes();
        long visits = 0;
        for (int i = 0; i < WALKS; i++)
        {
            visits += walk(iter, root);
        }
        final long after = allocatedBytes();

        assertTrue(after - before < SLACK_BYTES,
            "TdpIter allocated " + (after - before) + " bytes in " + WALKS + " full walks");
        // each walk: 4 tables of 512 entries, plus the restart after the yield at gfn 300 re-visits
        // the root, L3 and L2 entries on the way down and the L1 entry at 300 itself
        assertEquals(WALKS * (4L * 512 + 4), visits);
    }

    /**
     * A recovery pass that removes a table per 2 MiB page allocates per pass, not per page: the
     * tables go to RCU in one batch (no queue node and lambda each), and promotion's leaf summary is
     * one object per pass. The same holds for the re-protecting harvest: no iterator per bitmap word.
     */
    @ParameterizedTest
    @EnumSource(value = RecoveryStrategy.class, names = {"ZAP_HUGE", "PROMOTE_IN_PLACE"})
    void recoveryAllocatesPerPassNotPerHugePage(final RecoveryStrategy strategy)
    {
        final int regions = 256;
        try (Vm vm = new Vm(VmConfig.small()))
        {
            final long base = 1L << 20;
            final Memslot slot = vm.addMemslot(base, regions * 512L, Backing.PAGE_2M);
            final DirtyLogging log = new DirtyLogging(vm);
            final Vcpu vcpu = vm.createVcpu();
            final long[] out = new long[slot.dirtyBitmap().words()];
            long worstPass = 0;
            long worstHarvest = 0;
            for (int round = 0; round < 6; round++)
            {
                vm.rcu().barrier();
                for (long g = base; g < slot.endGfn(); g += 512)
                {
                    vcpu.write(g, round);
                }
                vcpu.exitGuest();
                log.enable(slot, Memslot.LOG_WRPROT, true);
                for (long g = base; g < slot.endGfn(); g += 97)
                {
                    vcpu.write(g, round);
                }
                vcpu.exitGuest();
                final long h0 = allocatedBytes();
                log.getDirtyLog(slot, false, out);
                final long h1 = allocatedBytes();
                log.disable(slot, strategy.recovery());
                final long d1 = allocatedBytes();
                assertEquals(regions, DirtyLogConcurrencyTest.countHugeLeaves(vm, slot) +
                    (strategy == RecoveryStrategy.ZAP_HUGE ? regions : 0), "every region recovered");
                if (round >= 3)
                {
                    worstHarvest = Math.max(worstHarvest, h1 - h0);
                    worstPass = Math.max(worstPass, d1 - h1);
                }
            }
            // was ~70 (zap) and ~110 (promote) bytes per region, and an iterator per harvested word
            assertTrue(worstPass < regions * 4L, strategy + " pass allocated " + worstPass + " bytes for " + regions +
                " regions");
            assertTrue(worstHarvest < SLACK_BYTES, "harvest of " + slot.dirtyBitmap().words() + " words allocated " +
                worstHarvest + " bytes");
        }
    }

    private static long allocatedBytes()
    {
        return threads.getThreadAllocatedBytes(Thread.currentThread().getId());
    }

    private static long accessorLoop(final PageTableStore store, final long pfn, final long gen, final int rounds)
    {
        long sum = 0;
        for (int i = 0; i < rounds; i++)
        {
            final int index = i & (Spte.ENTRIES_PER_TABLE - 1);
            final long v = store.lvSpte(pfn, index);
            final long checked = store.lvSpte(pfn, gen, index);
            final long witness = store.cmpxchgSpte(pfn, index, checked, v + 1);
            sum += witness;
        }
        // plus the other two accessors on an entry the loop does not count
        store.soSpte(pfn, 0, store.xchgSpte(pfn, 0, sum));
        return sum;
    }

    private static long sumEntries(final PageTableStore store, final long pfn)
    {
        long sum = 0;
        for (int i = 0; i < Spte.ENTRIES_PER_TABLE; i++)
        {
            sum += store.lvSpte(pfn, i);
        }
        return sum;
    }

    /** root (L4) [0] -> L3 [0] -> L2 [0] -> L1 with a few 4K leaves; L2 [1] a 2M leaf. */
    private static long buildStructure(final PageTableStore store)
    {
        final long root = store.allocate();
        final long l3 = store.allocate();
        final long l2 = store.allocate();
        final long l1 = store.allocate();
        store.soSpte(root, 0, Spte.makeNonLeaf(l3));
        store.soSpte(l3, 0, Spte.makeNonLeaf(l2));
        store.soSpte(l2, 0, Spte.makeNonLeaf(l1));
        store.soSpte(l2, 1, Spte.makeLeaf(0x200, 2, Spte.LEAF_WRITABLE));
        for (int i = 0; i < Spte.ENTRIES_PER_TABLE; i += 7)
        {
            store.soSpte(l1, i, Spte.makeLeaf(0x1000 + i, 1, Spte.LEAF_WRITABLE));
        }
        return root;
    }

    /** One full walk with one yield in the middle of the 4K table; returns the entries visited. */
    private static long walk(final TdpIter iter, final long root)
    {
        long visits = 0;
        long leaves = 0;
        for (iter.start(root, Spte.PG_LEVEL_512G, Spte.PG_LEVEL_4K, 0, 1L << 36); iter.valid(); iter.next())
        {
            if (++visits > 10_000)
            {
                throw new AssertionError("runaway walk at gfn " + iter.gfn());
            }
            if (Spte.isPresentLeaf(iter.oldSpte(), iter.level()))
            {
                leaves++;
            }
            if (iter.level() == Spte.PG_LEVEL_4K && iter.gfn() == 300 && iter.madeProgressSinceYield())
            {
                iter.markYielded();
            }
        }
        // 74 leaves at 0, 7, ..., 511 and the 2M leaf; gfn 300 (re-visited) is not a leaf
        if (leaves != 75)
        {
            throw new AssertionError("leaves seen: " + leaves);
        }
        return visits;
    }
}
