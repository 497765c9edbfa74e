package org.tdpmmu.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.TreeMap;

import org.junit.jupiter.api.Test;

class PagingDepthTest
{
    private static final long G1 = 1L << 18;

    /** gfn of each leaf → its level, after the same workload at a given depth. */
    private static TreeMap<Long, Integer> run(final int rootLevel, final long[] walkLevels)
    {
        final TreeMap<Long, Integer> leaves = new TreeMap<>();
        try (Vm vm = new Vm(VmConfig.small().withRootLevel(rootLevel).withHostFrameLimit(6 * G1)))
        {
            final Memslot huge = vm.addMemslot(G1, G1 + 1024, Backing.PAGE_1G);
            final Memslot small = vm.addMemslot(4 * G1, 2048, Backing.PAGE_2M);
            final Memslot tiny = vm.addMemslot(5 * G1, 64, Backing.PAGE_4K);
            for (long g = tiny.baseGfn(); g < tiny.endGfn(); g += 3)
            {
                vcpu0(vm).write(g, g);
            }
            final Vcpu vcpu = vcpu0(vm);
            for (long g = huge.baseGfn(); g < huge.endGfn(); g += 4093)
            {
                vcpu.write(g, g);
            }
            for (long g = small.baseGfn(); g < small.endGfn(); g += 7)
            {
                vcpu.write(g, g);
            }
            vcpu.exitGuest();
            final long before = vm.counters().walkLevels.sum();
            vcpu.flushTlb();
            vcpu.read(huge.baseGfn() + 5);
            vcpu.exitGuest();
            walkLevels[0] = vm.counters().walkLevels.sum() - before;
            final TdpIter it = new TdpIter(vm.store());
            for (it.start(vm.mmu().rootPfn(), rootLevel, 1, 0, 1L << (9 * rootLevel)); it.valid(); it.next())
            {
                if (Spte.isPresentLeaf(it.oldSpte(), it.level()))
                {
                    leaves.put(it.gfn(), it.level());
                }
            }
        }
        return leaves;
    }

    private static Vcpu first;

    private static Vcpu vcpu0(final Vm vm)
    {
        if (first == null || first.vm() != vm)
        {
            first = vm.createVcpu();
        }
        return first;
    }

    @Test
    void fiveLevelMapsTheSameBlocksAndWalksOneLevelDeeper()
    {
        final long[] walk4 = new long[1];
        final long[] walk5 = new long[1];
        final TreeMap<Long, Integer> four = run(4, walk4);
        final TreeMap<Long, Integer> five = run(5, walk5);
        assertEquals(four, five, "same GFNs with the same block sizes");
        assertTrue(four.containsValue(3) && four.containsValue(2) && four.containsValue(1), four.toString());
        assertEquals(walk4[0] + 1, walk5[0], "a 5-level walk reads one more level");
        assertEquals(2, walk4[0], "4-level walk to a 1 GiB leaf reads levels 4 and 3");
    }

    @Test
    void blockSizeRuleFollowsLevelsThatExistAndTheBacking()
    {
        try (Vm vm4 = new Vm(VmConfig.small()); Vm vm5 = new Vm(VmConfig.small().withRootLevel(5)))
        {
            final Memslot s4 = vm4.addMemslot(0, 1024, Backing.PAGE_1G);
            final Memslot s5 = vm5.addMemslot(0, 1024, Backing.PAGE_1G);
            for (final Memslot s : new Memslot[] {s4, s5})
            {
                assertTrue(s.canMapBlockSize(4096));
                assertTrue(s.canMapBlockSize(2L << 20));
                assertTrue(s.canMapBlockSize(1L << 30));
                assertFalse(s.canMapBlockSize(512L << 30), "backing is 1 GiB");
                assertFalse(s.canMapBlockSize(8192), "no level of 8 KiB");
                assertFalse(s.canMapBlockSize(3L << 20));
            }
            final Memslot small = vm4.addMemslot(1L << 20, 1024, Backing.PAGE_2M);
            assertFalse(small.canMapBlockSize(1L << 30));
            assertTrue(small.canMapBlockSize(2L << 20));
        }
    }
}
