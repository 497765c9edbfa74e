package org.tdpmmu.core;

import java.util.Arrays;

import org.tdpmmu.concurrency.RemoteRequests;

/**
 * One virtual CPU as hardware sees memory: a TLB, then a page walk of the SPTEs that sets the
 * accessed bit, and the dirty bit on a write, with cmpxchg as the processor does; a missing or
 * write-protected translation is an EPT violation: the vCPU leaves guest mode, runs the fault
 * path, and re-executes the access. The value lands in the host frame's content word.
 *
 * <p>A vCPU is used by one thread. It checks its remote requests at each "VM entry", which here is
 * the boundary between two accesses; a flush request drops its TLB there (kernel:
 * vcpu_enter_guest → kvm_check_request(KVM_REQ_TLB_FLUSH) → kvm_vcpu_flush_tlb_all).
 *
 * <p>The TLB caches final translations only, per page size, direct-mapped and tagged by the
 * page-size-aligned gfn; an entry remembers whether W and D were set so a write through an entry
 * without D re-walks to set it, as hardware does.
 */
public final class Vcpu
{
    /** Observes faults (for latency histograms). Called on the vCPU's own thread. */
    public interface FaultObserver
    {
        void onFault(long gfn, boolean write, int result, long nanos);
    }

    private static final long TAG_EMPTY = -1L;
    private static final byte TLB_W = 1;
    private static final byte TLB_D = 2;

    private final Vm vm;
    private final TdpMmu mmu;
    private final PageTableStore store;
    private final HostMemory host;
    private final Memslots slots;
    private final RemoteRequests requests;
    private final MmuCounters counters;
    private final org.tdpmmu.concurrency.Rcu rcu;
    private final int id;
    private final TdpIter iter;
    private final MmuMemoryCache cache;
    private final int tlbMask;
    /** Per level 1..3: tag = gfn >> shift(level), pfn of the page's first frame, W/D flags. */
    private final long[][] tlbTag = new long[Spte.PG_LEVEL_1G + 1][];
    private final long[][] tlbPfn = new long[Spte.PG_LEVEL_1G + 1][];
    private final byte[][] tlbFlags = new byte[Spte.PG_LEVEL_1G + 1][];
    private FaultObserver observer;
    private boolean inGuest;

    /**
     * Per-access events, counted in plain fields of the owning thread and added to the VM's
     * {@link MmuCounters} at each exit from guest mode: a striped adder bumped on every access cost
     * more than the TLB hit it counted (BENCHMARKS.md).
     */
    private long pendingHits;
    private long pendingMisses;
    private long pendingWalkLevels;
    private long pendingAdSet;
    private long faults;
    private long accesses;
    private long tlbFlushes;

    Vcpu(final Vm vm, final int id, final int tlbEntries)
    {
        this.vm = vm;
        this.mmu = vm.mmu();
        this.store = mmu.store();
        this.host = mmu.host();
        this.slots = mmu.slots();
        this.requests = vm.requests();
        this.counters = mmu.counters();
        this.rcu = mmu.rcu();
        this.id = id;
        this.iter = new TdpIter(store);
        this.cache = new MmuMemoryCache(store, vm.config().rootLevel() + 1, counters);
        this.tlbMask = tlbEntries - 1;
        for (int level = 1; level <= Spte.PG_LEVEL_1G; level++)
        {
            tlbTag[level] = new long[tlbEntries];
            tlbPfn[level] = new long[tlbEntries];
            tlbFlags[level] = new byte[tlbEntries];
            Arrays.fill(tlbTag[level], TAG_EMPTY);
        }
    }

    public int id()
    {
        return id;
    }

    public void setFaultObserver(final FaultObserver observer)
    {
        this.observer = observer;
    }

    /** KVM_RUN: enter guest mode (checking requests first thing, as VM entry does). */
    public void enterGuest()
    {
        if (!inGuest)
        {
            requests.enterGuest(id);
            inGuest = true;
            checkRequests();
        }
    }

    /** Adds the per-access counts gathered since the last exit to the VM's counters. */
    private void publishCounters()
    {
        if (pendingHits != 0)
        {
            counters.tlbHits.add(pendingHits);
            pendingHits = 0;
        }
        if (pendingMisses != 0)
        {
            counters.tlbMisses.add(pendingMisses);
            pendingMisses = 0;
        }
        if (pendingWalkLevels != 0)
        {
            counters.walkLevels.add(pendingWalkLevels);
            pendingWalkLevels = 0;
        }
        if (pendingAdSet != 0)
        {
            counters.adBitsSet.add(pendingAdSet);
            pendingAdSet = 0;
        }
    }

    /** Leave guest mode (the vCPU thread stops running the guest; it never holds up a flush then). */
    public void exitGuest()
    {
        if (inGuest)
        {
            requests.exitGuest(id);
            inGuest = false;
            publishCounters();
        }
    }

    /** A guest read of {@code gfn}: the content word of the host frame it maps to. */
    public long read(final long gfn)
    {
        final long pfn = translate(gfn, false);
        mmu.hook(TestHook.Point.ACCESS_BEFORE_FRAME, gfn);
        return host.lvContent(pfn);
    }

    /** A guest write of {@code value} to {@code gfn}. */
    public void write(final long gfn, final long value)
    {
        final long pfn = translate(gfn, true);
        mmu.hook(TestHook.Point.ACCESS_BEFORE_FRAME, gfn);
        host.soContent(pfn, value);
    }

    /**
     * The host pfn a {@code write} or read of {@code gfn} goes to, faulting as often as needed.
     * The access itself follows before the next VM entry (the next request check), so a flush
     * requested meanwhile waits for it: the kernel's IPI cannot land mid-instruction either.
     */
    public long translate(final long gfn, final boolean write)
    {
        enterGuest();
        checkRequests();
        accesses++;
        while (true)
        {
            long pfn = tlbLookup(gfn, write);
            if (pfn >= 0)
            {
                pendingHits++;
                return pfn;
            }
            pendingMisses++;
            pfn = walk(gfn, write);
            if (pfn >= 0)
            {
                return pfn;
            }
            eptViolation(gfn, write);
        }
    }

    private void eptViolation(final long gfn, final boolean write)
    {
        exitGuest();
        faults++;
        counters.vmExits.increment();
        final FaultObserver o = observer;
        final long t0 = o != null ? System.nanoTime() : 0;
        final int r = mmu.pageFault(iter, cache, gfn, write);
        if (o != null)
        {
            o.onFault(gfn, write, r, System.nanoTime() - t0);
        }
        if (r == TdpMmu.RET_PF_RETRY)
        {
            Thread.onSpinWait();
        }
        enterGuest();
    }

    private void checkRequests()
    {
        if ((requests.checkRequests(id) & RemoteRequests.REQ_TLB_FLUSH) != 0)
        {
            flushTlb();
        }
    }

    /** Drops every cached translation (kernel: kvm_vcpu_flush_tlb_all → INVEPT). */
    public void flushTlb()
    {
        for (int level = 1; level <= Spte.PG_LEVEL_1G; level++)
        {
            Arrays.fill(tlbTag[level], TAG_EMPTY);
        }
        tlbFlushes++;
    }

    private long tlbLookup(final long gfn, final boolean write)
    {
        for (int level = Spte.PG_LEVEL_1G; level >= Spte.PG_LEVEL_4K; level--)
        {
            final long tag = gfn >>> Spte.gfnShift(level);
            final int slot = (int)tag & tlbMask;
            if (tlbTag[level][slot] == tag)
            {
                final byte flags = tlbFlags[level][slot];
                if (write && (flags & (TLB_W | TLB_D)) != (TLB_W | TLB_D))
                {
                    return -1;
                }
                return tlbPfn[level][slot] + (gfn & (Spte.pagesPerLevel(level) - 1));
            }
        }
        return -1;
    }

    /**
     * The hardware page walk: from the root down to the leaf, setting A (and D on a write) with
     * cmpxchg; a lost cmpxchg re-walks. Inside an RCU read-side section so no table it reads is
     * freed under it.
     *
     * @return the host pfn, or -1 for an EPT violation.
     */
    private long walk(final long gfn, final boolean write)
    {
        rcu.readLock();
        try
        {
            if (!mmu.rootValid())
            {
                throw new IllegalStateException("vCPU " + id + " ran on a destroyed VM");
            }
            restart:
            while (true)
            {
                long table = mmu.rootPfn();
                long generation = store.generation(table);
                for (int level = mmu.rootLevel(); level >= Spte.PG_LEVEL_4K; level--)
                {
                    final int index = Spte.index(gfn, level);
                    final long spte = store.lvSpte(table, generation, index);
                    pendingWalkLevels++;
                    if (!Spte.isPresent(spte))
                    {
                        return -1;
                    }
                    if (!Spte.isLastAtLevel(spte, level))
                    {
                        mmu.hook(TestHook.Point.WALK_BEFORE_CHILD_READ, gfn);
                        table = Spte.pfn(spte);
                        generation = store.generation(table);
                        continue;
                    }
                    if (write && !Spte.isWritable(spte))
                    {
                        return -1;
                    }
                    final long need = Spte.ACCESSED | (write ? Spte.DIRTY : 0);
                    long leaf = spte;
                    if ((spte & need) != need)
                    {
                        leaf = spte | need;
                        if (store.cmpxchgSpte(table, index, spte, leaf) != spte)
                        {
                            continue restart;
                        }
                        pendingAdSet++;
                    }
                    if (level <= Spte.PG_LEVEL_1G)
                    {
                        fillTlb(gfn, level, leaf);
                    }
                    return Spte.pfn(leaf) + (gfn & (Spte.pagesPerLevel(level) - 1));
                }
                throw new MmuBugException("walk of gfn 0x" + Long.toHexString(gfn) + " found no leaf");
            }
        }
        finally
        {
            rcu.readUnlock();
        }
    }

    private void fillTlb(final long gfn, final int level, final long leaf)
    {
        final long tag = gfn >>> Spte.gfnShift(level);
        final int slot = (int)tag & tlbMask;
        tlbTag[level][slot] = tag;
        tlbPfn[level][slot] = Spte.pfn(leaf);
        tlbFlags[level][slot] = (byte)((Spte.isWritable(leaf) ? TLB_W : 0) | (Spte.isDirty(leaf) ? TLB_D : 0));
    }

    /** This vCPU's page-table memory cache (kernel: vcpu->arch.mmu_page_header_cache). */
    public MmuMemoryCache memoryCache()
    {
        return cache;
    }

    /** Gives the cached tables back to the store (kernel: kvm_mmu_free_memory_caches). vCPU stopped. */
    void freeMemoryCache()
    {
        cache.free();
    }

    /** EPT violations this vCPU took. */
    public long faults()
    {
        return faults;
    }

    public long accesses()
    {
        return accesses;
    }

    public long tlbFlushes()
    {
        return tlbFlushes;
    }

    public Vm vm()
    {
        return vm;
    }

    Memslots slots()
    {
        return slots;
    }
}
