package org.tdpmmu.benchmarks;

import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.tdpmmu.core.Backing;
import org.tdpmmu.core.Memslot;
import org.tdpmmu.core.PageTableStore;
import org.tdpmmu.core.Spte;
import org.tdpmmu.core.TdpIter;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;
import org.tdpmmu.core.VmConfig;

/**
 * The guest access path of one vCPU, beside its limit, a plain long-array read.
 *
 * <p>One VM, one 4 KiB-backed memslot of 2 MiB, every page mapped by a write in the set-up, one
 * vCPU with the default 64-entry TLB per page size (direct-mapped, indexed by gfn modulo 64).
 * <ul>
 *   <li>{@code tlbHit*}: cycles over 16 gfns, which occupy 16 different TLB slots, so every access
 *       hits after the first.</li>
 *   <li>{@code tlbMiss*}: cycles over 4 x 64 = 256 consecutive gfns; each access finds its TLB slot
 *       holding the gfn 64 (or 192) pages away, so every access misses and walks the 4 levels.
 *       Flushing the TLB per access ({@code vcpu.flushTlb()}) would cost more than the walk.</li>
 *   <li>{@code tlbMissWalkSetA}: as {@code tlbMissWalk}, but the leaf's accessed bit is cleared
 *       first with one cmpxchg on the SPTE (what the kernel's aging, kvm_age_gfn, does), so the
 *       walk has to set A again with its own cmpxchg. The figure includes the clearing cmpxchg.</li>
 * </ul>
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class AccessBench
{
    private static final int HIT_GFNS = 16;
    private static final int ARRAY_LONGS = 4096;

    private Vm vm;
    private Vcpu vcpu;
    private PageTableStore store;
    private long base;
    private int missMask;
    private long leafTable;
    private long[] array;
    private long cursor;

    @Setup(Level.Trial)
    public void setUp()
    {
        final VmConfig config = VmConfig.small();
        vm = new Vm(config);
        final Memslot slot = vm.addMemslot(Fixtures.BASE_GFN, Fixtures.PAGES_2M, Backing.PAGE_4K);
        vcpu = vm.createVcpu();
        store = vm.store();
        base = slot.baseGfn();
        for (long g = slot.baseGfn(); g < slot.endGfn(); g++)
        {
            vcpu.write(g, g);
        }
        missMask = 4 * config.tlbEntries() - 1;
        Fixtures.check(missMask < Fixtures.PAGES_2M, "the miss cycle fits one 4 KiB table");
        final TdpIter iter = Fixtures.seek(vm.mmu(), new TdpIter(store), base, Spte.PG_LEVEL_4K);
        leafTable = iter.sptepTable();
        array = new long[ARRAY_LONGS];
        for (int i = 0; i < array.length; i++)
        {
            array[i] = i * 31L;
        }
        // Prove the cycles do what the javadoc says, on a cold TLB.
        vcpu.flushTlb();
        vcpu.exitGuest(); // publish what the set-up counted, so the deltas below are the cycles'
        final long misses0 = vm.counters().tlbMisses.sum();
        for (int round = 0; round < 2; round++)
        {
            for (int i = 0; i <= missMask; i++)
            {
                vcpu.translate(base + i, false);
            }
        }
        vcpu.exitGuest(); // publishes the vCPU's per-access counts
        Fixtures.check(vm.counters().tlbMisses.sum() - misses0 == 2L * (missMask + 1), "every miss-cycle access misses");
        final long hits0 = vm.counters().tlbHits.sum();
        for (int i = 0; i < 2 * HIT_GFNS; i++)
        {
            vcpu.translate(base + (i & (HIT_GFNS - 1)), false);
        }
        vcpu.exitGuest();
        Fixtures.check(vm.counters().tlbHits.sum() - hits0 >= HIT_GFNS, "the hit cycle hits");
    }

    @TearDown(Level.Trial)
    public void tearDown()
    {
        vcpu.exitGuest();
        vm.close();
    }

    /** The limit of the access path: one read of a long array element. */
    @Benchmark
    public long limitArrayRead()
    {
        return array[(int)(cursor++ & (ARRAY_LONGS - 1))];
    }

    /** A read access whose translation is in the TLB: the host pfn only. */
    @Benchmark
    public long tlbHitTranslate()
    {
        return vcpu.translate(base + (cursor++ & (HIT_GFNS - 1)), false);
    }

    /** A guest read through the TLB, including the host frame's content word (checked live). */
    @Benchmark
    public long tlbHitRead()
    {
        return vcpu.read(base + (cursor++ & (HIT_GFNS - 1)));
    }

    /** A read access that misses the TLB and walks 4 levels; A is already set, so no cmpxchg. */
    @Benchmark
    public long tlbMissWalk()
    {
        return vcpu.translate(base + (cursor++ & missMask), false);
    }

    /** Clear A on the leaf (one cmpxchg), then a read access that misses and sets A with a cmpxchg. */
    @Benchmark
    public long tlbMissWalkSetA()
    {
        final long gfn = base + (cursor++ & missMask);
        final int index = Spte.index(gfn, Spte.PG_LEVEL_4K);
        final long old = store.lvSpte(leafTable, index);
        store.cmpxchgSpte(leafTable, index, old, old & ~Spte.ACCESSED);
        return vcpu.translate(gfn, false);
    }
}
