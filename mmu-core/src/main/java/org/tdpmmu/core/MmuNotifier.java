package org.tdpmmu.core;

/**
 * The host's side of the mmu_notifier: what the host calls around changing the host pages behind
 * a gfn range (kernel: kvm_mmu_notifier_invalidate_range_start / _end).
 */
public interface MmuNotifier
{
    /** Marks [start, end) under invalidation and removes every translation of it (SPTEs and TLBs). */
    void invalidateRangeStart(long startGfn, long endGfn);

    /** Ends the invalidation: bumps the sequence so faults that raced with it retry. */
    void invalidateRangeEnd(long startGfn, long endGfn);
}
