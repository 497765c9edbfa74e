package org.tdpmmu.core;

import org.tdpmmu.concurrency.RemoteRequests;
import org.tdpmmu.concurrency.VcpuState;

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
 * without D re-walks to set it, as hardware does. Each page size is one interleaved long array,
 * tag then {@code pfn << 2 | W | D}, so a hit touches one cache line; 4 KiB is probed first because
 * after a split (dirty logging) nearly every translation is 4 KiB. Which size answers first does not
 * matter for correctness: a translation that may no longer be used is flushed from every size.
 */
public final class Vcpu
{
    /**
     * Observes a sample of faults with their handling time (for latency histograms): the first
     * fault, then one in {@link #LATENCY_SAMPLE}. Called on the vCPU's own thread.
     */
    public interface FaultObserver
    {
        void onFault(long gfn, boolean write, int result, long nanos);
    }

    /**
     * Faults per timed fault. Timing one costs two clock reads, 80-150 ns each on this project's
     * machine (a VM), as much as the fault they timed; one in 17 keeps the percentiles (millions of
     * faults a pass) and, 17 being prime to the 512 entries of a table, samples every position in a
     * table alike rather than the same few. The maximum is the sample's.
     */
    public static final int LATENCY_SAMPLE = 17;

    private static final long TAG_EMPTY = -1L;
    private static final long TLB_W = 1;
    private static final long TLB_D = 2;
    private static final long TLB_WD = TLB_W | TLB_D;
    private static final int TLB_FLAG_BITS = 2;
    /** Returned by a probe whose size holds no entry for the gfn (any pfn is >= 0). */
    private static final long TLB_NO_ENTRY = -2;
    /** Returned by a probe that found the gfn but must walk to set D (write through a clean entry). */
    private static final long TLB_NEEDS_WALK = -1;

    private final Vm vm;
    private final TdpMmu mmu;
    private final PageTableStore store;
    private final HostMemory host;
    private final Memslots slots;
    private final RemoteRequests requests;
    private final VcpuState requestState;
    private final MmuCounters counters;
    private final org.tdpmmu.concurrency.Rcu rcu;
    /** The walking thread's RCU record and that thread: the walk skips the thread-local lookup. */
    private org.tdpmmu.concurrency.RcuReader rcuReader;
    /** The same thread's record of the memslots' SRCU domain, for the fault's section. */
    private org.tdpmmu.concurrency.SrcuReader srcuReader;
    private Thread rcuReaderThread;
    private final int id;
    private final TdpIter iter;
    private final MmuMemoryCache cache;
    private final int tlbMask;
    /** Per page size, slot i at [2i, 2i+1]: tag = gfn >> shift(level), pfn of the first frame << 2 | W | D. */
    private final long[] tlb4k;
    private final long[] tlb2m;
    private final long[] tlb1g;
    private FaultObserver observer;
    /** Faults until the next timed one; 1: the first fault is timed. */
    private int untilTimed = 1;
    private boolean inGuest;
    /**
     * The root this vCPU walks and faults on, with a reference of its own (kernel:
     * vcpu->arch.mmu->root); null until the first entry loads it. Thread-confined; other threads
     * read it only while the vCPU is stopped ({@link #root()}).
     */
    private TdpMmuRoots.Root root;
    /** A root was loaded before: the next load is a reload, which flushes the TLB. */
    private boolean rootLoadedBefore;
    /** This vCPU's dirty ring (kernel: vcpu->dirty_ring), or null when the VM has none. */
    private final DirtyRing ring;
    private DirtyRingFullHandler ringFullHandler = DirtyRingFullHandler.WAIT_FOR_RESET;
    private long ringFullExits;

    /**
     * What the vCPU's userspace does on KVM_EXIT_DIRTY_RING_FULL before it calls KVM_RUN again
     * (QEMU reaps the rings itself, or kicks its reaper thread and waits). Called on the vCPU's
     * thread, out of guest mode; the vCPU re-enters only once its ring is no longer soft full, and
     * calls this again after each refused entry.
     */
    @FunctionalInterface
    public interface DirtyRingFullHandler
    {
        /** Lets another thread (the collector) harvest and reset: a short pause. */
        DirtyRingFullHandler WAIT_FOR_RESET = vcpu -> Thread.yield();

        void onRingFull(Vcpu vcpu);
    }

    /**
     * Per-access events, counted in plain fields of the owning thread and added to the VM's
     * {@link MmuCounters} when the vCPU leaves guest mode for anything but an EPT violation (the
     * end of its time slice, KVM_RUN returning, a dirty-ring-full exit, a root reload): a striped
     * adder bumped on every access cost more than the TLB hit it counted (BENCHMARKS.md), and four
     * adders bumped at every fault's exit were a tenth of a faulting pass's profile, their cells
     * shared by dozens of vCPU threads on 2 cores. The exits themselves ({@code vmexit}), the fast
     * path's fixes and its dirty marks are counted in {@link VcpuStat} and published with these;
     * the slow path's outcomes still go to the adders as they happen.
     */
    /** {@link #accesses} when the counts were last published; the hits are derived from it. */
    private long accessesPublished;
    /** Accesses since the last publication that the walk, not the TLB, resolved. */
    private long pendingWalkResolved;
    private long pendingMisses;
    private long pendingWalkLevels;
    private long pendingAdSet;
    /** The fault path's own counts (exits, fast fixes, dirty marks), published with the ones above. */
    private final VcpuStat stat = new VcpuStat();
    private long faults;
    private long accesses;
    private long tlbFlushes;

    Vcpu(final Vm vm, final int id, final int tlbEntries, final DirtyRing ring)
    {
        this.ring = ring;
        this.vm = vm;
        this.mmu = vm.mmu();
        this.store = mmu.store();
        this.host = mmu.host();
        this.slots = mmu.slots();
        this.requests = vm.requests();
        this.counters = mmu.counters();
        this.rcu = mmu.rcu();
        this.id = id;
        this.requestState = requests.vcpuState(id);
        this.iter = new TdpIter(store);
        this.cache = new MmuMemoryCache(store, vm.config().rootLevel() + 1, counters);
        this.tlbMask = tlbEntries - 1;
        this.tlb4k = new long[2 * tlbEntries];
        this.tlb2m = new long[2 * tlbEntries];
        this.tlb1g = new long[2 * tlbEntries];
        flushTlbArrays();
    }

    public int id()
    {
        return id;
    }

    public void setFaultObserver(final FaultObserver observer)
    {
        this.observer = observer;
    }

    /** This vCPU's dirty ring, or null when the VM has no rings. */
    public DirtyRing dirtyRing()
    {
        return ring;
    }

    /** Sets what this vCPU's thread does at KVM_EXIT_DIRTY_RING_FULL (default: yield until reset). */
    public void setDirtyRingFullHandler(final DirtyRingFullHandler handler)
    {
        this.ringFullHandler = handler == null ? DirtyRingFullHandler.WAIT_FOR_RESET : handler;
    }

    /** KVM_EXIT_DIRTY_RING_FULL exits this vCPU took (an entry refused counts once). */
    public long dirtyRingFullExits()
    {
        return ringFullExits;
    }

    /**
     * The dirty-ring check of VM entry (kernel: kvm_dirty_ring_check_request in vcpu_enter_guest):
     * while the ring is soft full, exit with KVM_EXIT_DIRTY_RING_FULL, let userspace act, and try
     * again. The vCPU is out of guest mode meanwhile, so it holds up no TLB flush.
     */
    private void checkDirtyRing()
    {
        while (ring.checkRequest())
        {
            exitGuest();
            ringFullExits++;
            counters.ringFullExits.increment();
            ringFullHandler.onRingFull(this);
            mmu.hook(TestHook.Point.RING_FULL_EXIT, -1);
        }
        enterGuest();
    }

    /**
     * KVM_RUN: enter guest mode (checking requests first thing, as VM entry does), loading a root
     * first if the vCPU has none (kernel: kvm_mmu_reload in vcpu_enter_guest, before the mode switch).
     */
    public void enterGuest()
    {
        if (!inGuest)
        {
            if (root == null)
            {
                loadRoot();
            }
            requests.enterGuest(id);
            inGuest = true;
            checkRequests();
        }
    }

    /** Adds the per-access counts gathered since the last exit to the VM's counters. */
    private void publishCounters()
    {
        // An access ends in a TLB hit or in a walk that resolved it: a hit counts nothing of its own.
        final long hits = accesses - accessesPublished - pendingWalkResolved;
        accessesPublished = accesses;
        pendingWalkResolved = 0;
        VcpuStat.addIfAny(counters.tlbHits, hits);
        VcpuStat.addIfAny(counters.tlbMisses, pendingMisses);
        VcpuStat.addIfAny(counters.walkLevels, pendingWalkLevels);
        VcpuStat.addIfAny(counters.adBitsSet, pendingAdSet);
        pendingMisses = 0;
        pendingWalkLevels = 0;
        pendingAdSet = 0;
        stat.publish(counters);
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

    /** The exit of an EPT violation: out of guest mode as {@link #exitGuest}, the counts kept for a later exit. */
    private void exitForFault()
    {
        if (inGuest)
        {
            requests.exitGuest(id);
            inGuest = false;
        }
    }

    /**
     * What {@link #translate} returns for a gfn in no memslot (kernel: KVM_EXIT_MMIO after
     * RET_PF_EMULATE): the slot was deleted or moved away while the vCPU ran.
     */
    public static final long MMIO = -1;
    /** What a guest read of a gfn in no memslot returns (no device answers: all ones). */
    public static final long MMIO_READ_VALUE = -1L;

    /**
     * A guest read of {@code gfn}: the content word of the host frame it maps to, or
     * {@link #MMIO_READ_VALUE} if the gfn is in no memslot.
     */
    public long read(final long gfn)
    {
        final long pfn = translate(gfn, false);
        if (pfn == MMIO)
        {
            return MMIO_READ_VALUE;
        }
        mmu.hook(TestHook.Point.ACCESS_BEFORE_FRAME, gfn);
        return host.lvContent(pfn);
    }

    /**
     * A guest write of {@code value} to {@code gfn}.
     *
     * @return false if the gfn is in no memslot, so the write went to (simulated, absent) MMIO.
     */
    public boolean write(final long gfn, final long value)
    {
        final long pfn = translate(gfn, true);
        if (pfn == MMIO)
        {
            return false;
        }
        mmu.hook(TestHook.Point.ACCESS_BEFORE_FRAME, gfn);
        host.soContent(pfn, value);
        return true;
    }

    /**
     * The host pfn a {@code write} or read of {@code gfn} goes to, faulting as often as needed, or
     * {@link #MMIO} if the gfn is in no memslot.
     * The access itself follows before the next VM entry (the next request check), so a flush
     * requested meanwhile waits for it: the kernel's IPI cannot land mid-instruction either.
     */
    public long translate(final long gfn, final boolean write)
    {
        // The common case, kept small enough for the JIT to inline at the caller: in guest mode,
        // no request pending, a 4 KiB entry that allows the access. Everything else goes slow.
        accesses++;
        if (inGuest && requestState.nothingPending())
        {
            final long pfn = tlbProbe(tlb4k, gfn, 0, write);
            if (pfn >= 0)
            {
                return pfn;
            }
        }
        return translateSlow(gfn, write);
    }

    /** {@link #translate} past the 4 KiB TLB: entry, requests, the other page sizes, walk, fault. */
    private long translateSlow(final long gfn, final boolean write)
    {
        enterGuest();
        checkRequests();
        while (true)
        {
            if (ring != null)
            {
                // Each pass pushes at most one entry (a fault, or a walk that sets D), so the
                // soft limit is checked between any two pushes.
                checkDirtyRing();
            }
            long pfn = tlbLookup(gfn, write);
            if (pfn >= 0)
            {
                return pfn;
            }
            pendingMisses++;
            pfn = walk(gfn, write);
            if (pfn >= 0)
            {
                pendingWalkResolved++;
                return pfn;
            }
            if (eptViolation(gfn, write) == TdpMmu.RET_PF_EMULATE)
            {
                return MMIO;
            }
        }
    }

    private int eptViolation(final long gfn, final boolean write)
    {
        exitForFault();
        faults++;
        stat.exits++;
        FaultObserver o = observer;
        if (o != null && --untilTimed != 0)
        {
            o = null;
        }
        else if (o != null)
        {
            untilTimed = LATENCY_SAMPLE;
        }
        final long t0 = o != null ? System.nanoTime() : 0;
        // rcuReader() first: it also (re)sets srcuReader for this thread.
        final org.tdpmmu.concurrency.RcuReader reader = rcuReader();
        final int r = mmu.pageFault(root, iter, cache, gfn, write, ring, reader, srcuReader, stat);
        if (o != null)
        {
            o.onFault(gfn, write, r, System.nanoTime() - t0);
        }
        if (r == TdpMmu.RET_PF_RETRY)
        {
            mmu.hook(TestHook.Point.FAULT_RETRY, gfn);
            // Mostly a frozen entry: its owner is a zap or promotion waiting for this and the other
            // vCPUs to take a flush. A kernel vCPU has its own pCPU and re-faults a few times in that
            // window; here it shares a core with that owner, so spinning stretches the window and each
            // spin is another counted fault. Give the core away instead.
            Thread.yield();
        }
        enterGuest();
        return r;
    }

    private void checkRequests()
    {
        final int bits = requestState.checkRequests();
        if ((bits & RemoteRequests.REQ_TLB_FLUSH) != 0)
        {
            flushTlb();
        }
        if ((bits & RemoteRequests.REQ_MMU_FREE_OBSOLETE_ROOTS) != 0)
        {
            freeObsoleteRoot();
        }
    }

    /**
     * kernel: kvm_mmu_free_obsolete_roots, then kvm_mmu_reload at the same entry. Both run outside
     * guest mode here, as in the kernel (before the mode switch): the unload and the load may wait
     * for mmu_lock, whose holder may be waiting for this vCPU to take a request. The request is
     * only a hint: a root loaded after the invalidation is kept.
     */
    private void freeObsoleteRoot()
    {
        final TdpMmuRoots.Root old = root;
        if (old == null || !old.invalid())
        {
            return;
        }
        exitGuest();
        root = null;
        mmu.roots().unload(old);
        mmu.hook(TestHook.Point.VCPU_ROOT_UNLOADED, -1);
        enterGuest();
    }

    /**
     * Loads a valid root (kernel: kvm_mmu_load → kvm_tdp_mmu_alloc_root). A reload flushes the TLB,
     * as kvm_mmu_load does for any new root; the first load finds the TLB empty and counts no flush,
     * so a VM that never invalidates keeps its flush counts.
     */
    private void loadRoot()
    {
        if (!mmu.rootValid())
        {
            // Nothing may allocate a root once teardown freed them all (it would leak).
            throw new IllegalStateException("vCPU " + id + " ran on a destroyed VM");
        }
        root = mmu.roots().load();
        if (rootLoadedBefore)
        {
            flushTlbArrays();
            tlbFlushes++;
            counters.rootReloads.increment();
        }
        rootLoadedBefore = true;
    }

    /** The root this vCPU holds (null before its first entry); read it only while the vCPU is stopped. */
    public TdpMmuRoots.Root root()
    {
        return root;
    }

    /** Drops every cached translation (kernel: kvm_vcpu_flush_tlb_all → INVEPT). */
    public void flushTlb()
    {
        flushTlbArrays();
        tlbFlushes++;
    }

    private void flushTlbArrays()
    {
        // Only the tags: a slot whose tag is empty is never read further.
        for (int i = 0; i < tlb4k.length; i += 2)
        {
            tlb4k[i] = TAG_EMPTY;
            tlb2m[i] = TAG_EMPTY;
            tlb1g[i] = TAG_EMPTY;
        }
    }

    /** @return the host pfn, or a negative value: the access walks. */
    private long tlbLookup(final long gfn, final boolean write)
    {
        long pfn = tlbProbe(tlb4k, gfn, 0, write);
        if (pfn == TLB_NO_ENTRY)
        {
            pfn = tlbProbe(tlb2m, gfn >>> Spte.gfnShift(Spte.PG_LEVEL_2M), gfn & (Spte.pagesPerLevel(Spte.PG_LEVEL_2M) - 1), write);
            if (pfn == TLB_NO_ENTRY)
            {
                pfn = tlbProbe(tlb1g, gfn >>> Spte.gfnShift(Spte.PG_LEVEL_1G), gfn & (Spte.pagesPerLevel(Spte.PG_LEVEL_1G) - 1), write);
            }
        }
        return pfn;
    }

    /**
     * One page size's slot for {@code tag}. A write through an entry cached without W and D walks
     * (to set D, or to fault), like hardware, even if another size also holds the gfn.
     */
    private long tlbProbe(final long[] tlb, final long tag, final long offset, final boolean write)
    {
        final int i = ((int)tag & tlbMask) << 1;
        if (tlb[i] != tag)
        {
            return TLB_NO_ENTRY;
        }
        final long entry = tlb[i + 1];
        if (write && (entry & TLB_WD) != TLB_WD)
        {
            return TLB_NEEDS_WALK;
        }
        return (entry >>> TLB_FLAG_BITS) + offset;
    }

    /**
     * The hardware page walk: from the root down to the leaf, setting A (and D on a write) with
     * cmpxchg; a lost cmpxchg re-walks.
     *
     * <p>No RCU read-side section, as on the hardware: the CPU's page walker knows nothing of RCU,
     * and a vCPU in guest mode is even an RCU quiescent state (kernel: guest_context_enter_irqoff
     * calls rcu_virt_note_context_switch). What keeps a table it reads alive is the remote TLB flush
     * (kernel: kvm_flush_remote_tlbs, a waiting KVM_REQ_TLB_FLUSH) that every remover of a table
     * issues before it leaves its own RCU read-side section, inside which it queued the table's
     * free: the flush waits for this vCPU to take the request, which it does only at its next
     * access, after this walk, and the free waits for the remover's section. So a path that frees a
     * table before its flush, or flushes without waiting, shows here as a use after free (the
     * generation check of each read), which an RCU section of the walk's own would hide. Until
     * 2026-12-03 the walk held one.
     *
     * @return the host pfn, or -1 for an EPT violation.
     */
    private long walk(final long gfn, final boolean write)
    {
        if (!mmu.rootValid())
        {
            throw new IllegalStateException("vCPU " + id + " ran on a destroyed VM");
        }
        restart:
        while (true)
        {
            // The root's generation from its allocation: a root freed under this walk (its
            // last reference put by mistake) fails the first checked read.
            long table = root.pfn();
            long generation = root.generation();
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
                // An access-tracked leaf (no R/W/X) faults on any access, as EPT does.
                if ((write && !Spte.isWritable(spte)) || (spte & Spte.READABLE) == 0)
                {
                    return -1;
                }
                // EPT without A/D bits sets neither: aging relies on access tracking there.
                final long need = !Spte.isAdEnabled(spte) ? 0 : Spte.ACCESSED | (write ? Spte.DIRTY : 0);
                long leaf = spte;
                if ((spte & need) != need)
                {
                    leaf = spte | need;
                    mmu.hook(TestHook.Point.WALK_BEFORE_AD_SET, gfn);
                    if (store.cmpxchgSpte(table, index, spte, leaf) != spte)
                    {
                        continue restart;
                    }
                    pendingAdSet++;
                    if (ring != null && write && (spte & Spte.DIRTY) == 0 && level == Spte.PG_LEVEL_4K)
                    {
                        logDbitWrite(gfn);
                    }
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

    /**
     * This thread's RCU record (and its SRCU record, kept beside it), looked up again only when
     * another thread drives the vCPU (a test may hand a vCPU from one thread to the next; a run's
     * vCPU keeps its thread).
     */
    private org.tdpmmu.concurrency.RcuReader rcuReader()
    {
        final Thread self = Thread.currentThread();
        if (rcuReaderThread != self)
        {
            rcuReader = rcu.reader();
            srcuReader = slots.srcu().reader();
            rcuReaderThread = self;
        }
        return rcuReader;
    }

    /**
     * With rings, a D bit this walk set on a D-bit logged page is pushed to the ring: what PML
     * does (it logs the gpa as hardware sets D, and KVM flushes the log to the ring at the next
     * exit, kernel: vmx_flush_pml_buffer → kvm_vcpu_mark_page_dirty), folded into the walk.
     */
    private void logDbitWrite(final long gfn)
    {
        final Memslot slot = slots.find(gfn);
        if (slot != null && slot.logMode() == Memslot.LOG_DBIT)
        {
            mmu.markPageDirty(slot, gfn, ring);
        }
    }

    private void fillTlb(final long gfn, final int level, final long leaf)
    {
        final long[] tlb = level == Spte.PG_LEVEL_4K ? tlb4k : level == Spte.PG_LEVEL_2M ? tlb2m : tlb1g;
        final long tag = gfn >>> Spte.gfnShift(level);
        final int i = ((int)tag & tlbMask) << 1;
        tlb[i] = tag;
        tlb[i + 1] = Spte.pfn(leaf) << TLB_FLAG_BITS | (Spte.isWritable(leaf) ? TLB_W : 0) |
            (Spte.isDirty(leaf) || !Spte.isAdEnabled(leaf) ? TLB_D : 0);
    }

    /** One cached translation, for {@link #forEachTlbEntry}. */
    @FunctionalInterface
    public interface TlbVisitor
    {
        /** The entry maps gfns [firstGfn, firstGfn + 512^(level-1)) to host pfns from {@code pfn}. */
        void entry(long firstGfn, int level, long pfn);
    }

    /**
     * Visits every translation this vCPU's TLB holds (for checkers). The TLB is the vCPU thread's
     * own plain state: call only while that thread is stopped or joined.
     */
    public void forEachTlbEntry(final TlbVisitor visitor)
    {
        final long[][] tlbs = {tlb4k, tlb2m, tlb1g};
        for (int t = 0; t < tlbs.length; t++)
        {
            final long[] tlb = tlbs[t];
            final int level = Spte.PG_LEVEL_4K + t;
            for (int i = 0; i < tlb.length; i += 2)
            {
                if (tlb[i] != TAG_EMPTY)
                {
                    visitor.entry(tlb[i] << Spte.gfnShift(level), level, tlb[i + 1] >>> TLB_FLAG_BITS);
                }
            }
        }
    }

    /**
     * True when a request (a TLB flush) waits for this vCPU's next VM entry: its TLB is then dead,
     * dropped before it translates anything again.
     */
    public boolean tlbFlushPending()
    {
        return !requestState.nothingPending();
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
