package org.tdpmmu.core;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

/**
 * Event counters of one VM's MMU, read by reports. {@link LongAdder}s: many vCPU threads bump
 * them at once, and a striped adder keeps them off one contended cache line. Names in
 * {@link #snapshot()} are the stable keys reports and the cost model use.
 */
public final class MmuCounters
{
    public final LongAdder faultInstalled = new LongAdder();
    public final LongAdder faultRetry = new LongAdder();
    public final LongAdder faultSpurious = new LongAdder();
    /** Lockless fast-path fixes (W restored on a write-protected, MMU-writable leaf). */
    public final LongAdder faultFast = new LongAdder();
    /** Faults retried because the invalidation sequence said so. */
    public final LongAdder faultRetryInvalidation = new LongAdder();
    /** Of those, the ones given up before mmu_lock (6.8+, VmConfig#retryBeforeMmuLock). */
    public final LongAdder faultRetryBeforeLock = new LongAdder();
    /** EPT violations taken by vCPUs (each one a VM exit). */
    public final LongAdder vmExits = new LongAdder();
    public final LongAdder cmpxchgFailures = new LongAdder();
    public final LongAdder tablesLinked = new LongAdder();
    public final LongAdder tablesFreed = new LongAdder();
    public final LongAdder tableAllocs = new LongAdder();
    /** Tables allocated for a link that lost its race and were freed again. */
    public final LongAdder tablesLostRace = new LongAdder();
    public final LongAdder splits = new LongAdder();
    /** Huge leaves a fault zapped to map below them (VmConfig#splitHugeOnFault off: kernels before 6.2). */
    public final LongAdder faultZapHuge = new LongAdder();
    /** Eager splits stopped early because a table could not be allocated (best effort, as the kernel). */
    public final LongAdder splitAllocFailures = new LongAdder();
    public final LongAdder zapLeaf = new LongAdder();
    public final LongAdder zapNonLeaf = new LongAdder();
    /** Entries handle_removed_pt took over (all 512 of each unlinked table, present or not). */
    public final LongAdder removedPtEntries = new LongAdder();
    public final LongAdder tlbFlushRequests = new LongAdder();
    public final LongAdder tlbFlushVcpus = new LongAdder();
    /** Page-table levels read by hardware walks (vCPU TLB misses). */
    public final LongAdder walkLevels = new LongAdder();
    public final LongAdder tlbHits = new LongAdder();
    public final LongAdder tlbMisses = new LongAdder();
    public final LongAdder adBitsSet = new LongAdder();
    public final LongAdder dirtyMarked = new LongAdder();
    /** Dirty pages carried to the log from a zapped or removed leaf's D bit. */
    public final LongAdder dirtyCarried = new LongAdder();
    public final LongAdder wrprot = new LongAdder();
    /** Entries vCPUs pushed to their dirty rings. */
    public final LongAdder ringPushed = new LongAdder();
    /** Entries KVM_RESET_DIRTY_RINGS reset, and the masks it re-protected them with. */
    public final LongAdder ringReset = new LongAdder();
    public final LongAdder ringResetMasks = new LongAdder();
    /** KVM_EXIT_DIRTY_RING_FULL exits. */
    public final LongAdder ringFullExits = new LongAdder();
    public final LongAdder dbitCleared = new LongAdder();
    public final LongAdder promotions = new LongAdder();
    public final LongAdder promoteSkipInvalidation = new LongAdder();
    public final LongAdder promoteSkipBacking = new LongAdder();
    public final LongAdder promoteSkipMismatch = new LongAdder();
    public final LongAdder promoteSkipRace = new LongAdder();
    public final LongAdder invalidations = new LongAdder();
    public final LongAdder yields = new LongAdder();
    public final LongAdder frozenSpins = new LongAdder();
    // Roots (TdpMmuRoots, TdpMmu#zapAllFast). Not in snapshot(): a VM that never invalidates keeps
    // the report keys it had; the roots tests and the roots benchmark read these fields.
    /** Root tables allocated (the VM's first one included). */
    public final LongAdder rootAllocs = new LongAdder();
    /** Roots whose last reference went (their table freed through RCU). */
    public final LongAdder rootsFreed = new LongAdder();
    /** vCPU root reloads after KVM_REQ_MMU_FREE_OBSOLETE_ROOTS (the first load not counted). */
    public final LongAdder rootReloads = new LongAdder();
    /** Fast invalidations (kvm_mmu_zap_all_fast). */
    public final LongAdder fastInvalidations = new LongAdder();
    /** Faults retried because their root became invalid (is_page_fault_stale). */
    public final LongAdder faultRetryStaleRoot = new LongAdder();
    /** Page-table memory caches: top-ups, tables taken, tables given back unused. */
    public final LongAdder cacheTopups = new LongAdder();
    public final LongAdder cacheTaken = new LongAdder();
    public final LongAdder cacheReturned = new LongAdder();
    public final LongAdder prefaultBlocks = new LongAdder();
    public final LongAdder prefaultAlreadyMapped = new LongAdder();
    /** Aging (TdpMmuAge): leaves found young (and aged, unless a test), leaves found idle. */
    public final LongAdder ageYoung = new LongAdder();
    public final LongAdder ageIdle = new LongAdder();
    /** Lockless aging cmpxchgs (A/D off) that lost a race and left the leaf young, not retried. */
    public final LongAdder ageCmpxchgLost = new LongAdder();
    /** 4 KiB gfns in the ranges aging calls walked (clear or test young): the cost model's age.gfn. */
    public final LongAdder ageGfns = new LongAdder();
    /** Access-tracked leaves the fast path restored. */
    public final LongAdder accessTrackRestored = new LongAdder();
    // memslot changes at runtime
    /** Faults on a gfn in no memslot (kernel: RET_PF_EMULATE, an MMIO exit): counted apart from fault.*. */
    public final LongAdder faultEmulate = new LongAdder();
    public final LongAdder memslotChanges = new LongAdder();

    /** Every counter by its stable name. Allocates: for reports, not for hot paths. */
    public Map<String, Long> snapshot()
    {
        final Map<String, Long> m = new LinkedHashMap<>();
        m.put("fault.installed", faultInstalled.sum());
        m.put("fault.retry", faultRetry.sum());
        m.put("fault.retry.invalidation", faultRetryInvalidation.sum());
        m.put("fault.retry.beforeLock", faultRetryBeforeLock.sum());
        m.put("fault.spurious", faultSpurious.sum());
        m.put("fault.fast", faultFast.sum());
        m.put("vmexit", vmExits.sum());
        m.put("spte.cmpxchg.fail", cmpxchgFailures.sum());
        m.put("table.alloc", tableAllocs.sum());
        m.put("table.linked", tablesLinked.sum());
        m.put("table.free", tablesFreed.sum());
        m.put("table.lost-race", tablesLostRace.sum());
        m.put("split", splits.sum());
        m.put("split.alloc-failed", splitAllocFailures.sum());
        m.put("zap.huge-on-fault", faultZapHuge.sum());
        m.put("zap.leaf", zapLeaf.sum());
        m.put("zap.nonleaf", zapNonLeaf.sum());
        m.put("removed_pt.entry", removedPtEntries.sum());
        m.put("tlb.flush.requests", tlbFlushRequests.sum());
        m.put("tlb.flush.vcpus", tlbFlushVcpus.sum());
        m.put("tlb.hit", tlbHits.sum());
        m.put("tlb.miss", tlbMisses.sum());
        m.put("walk.levels", walkLevels.sum());
        m.put("spte.ad.set", adBitsSet.sum());
        m.put("dirty.marked", dirtyMarked.sum());
        m.put("dirty.carried", dirtyCarried.sum());
        m.put("dirty.wrprot", wrprot.sum());
        m.put("ring.pushed", ringPushed.sum());
        m.put("ring.reset", ringReset.sum());
        m.put("ring.reset.masks", ringResetMasks.sum());
        m.put("ring.full.exits", ringFullExits.sum());
        m.put("dirty.dbit.cleared", dbitCleared.sum());
        m.put("promote", promotions.sum());
        m.put("promote.skip.invalidation", promoteSkipInvalidation.sum());
        m.put("promote.skip.backing", promoteSkipBacking.sum());
        m.put("promote.skip.mismatch", promoteSkipMismatch.sum());
        m.put("promote.skip.race", promoteSkipRace.sum());
        m.put("invalidation", invalidations.sum());
        m.put("mmu.yield", yields.sum());
        m.put("spte.frozen.spin", frozenSpins.sum());
        m.put("cache.topup", cacheTopups.sum());
        m.put("cache.taken", cacheTaken.sum());
        m.put("cache.returned", cacheReturned.sum());
        m.put("prefault.blocks", prefaultBlocks.sum());
        m.put("prefault.already-mapped", prefaultAlreadyMapped.sum());
        m.put("age.young", ageYoung.sum());
        m.put("age.idle", ageIdle.sum());
        m.put("age.cmpxchg.lost", ageCmpxchgLost.sum());
        m.put("age.gfn", ageGfns.sum());
        m.put("fault.fast.acc-track", accessTrackRestored.sum());
        m.put("fault.emulate", faultEmulate.sum());
        m.put("memslot.change", memslotChanges.sum());
        return m;
    }
}
