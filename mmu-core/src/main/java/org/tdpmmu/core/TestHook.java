package org.tdpmmu.core;

/**
 * A pause point inside the MMU for tests that force one interleaving of a race with latches
 * (the deterministic half of the seeded-bug check). Never set outside tests; the default does
 * nothing and costs one field read.
 */
@FunctionalInterface
public interface TestHook
{
    /** Named places where a test may stop a thread. */
    enum Point
    {
        /** pageFault, or a pre-fault block: the pfn was resolved, the MMU lock not yet taken. */
        FAULT_AFTER_PFN_RESOLVED,
        /** set_spte_atomic: about to cmpxchg (or, with the seeded bug, to store). */
        BEFORE_SET_SPTE,
        /** zap_spte_atomic: the entry is frozen, the flush not yet done. */
        ZAP_AFTER_FREEZE,
        /** handle_removed_pt: about to take ownership of one child entry. */
        REMOVED_PT_BEFORE_ENTRY,
        /** vCPU walk: read a non-leaf entry, about to read the child table. */
        WALK_BEFORE_CHILD_READ,
        /** vCPU walk: read the leaf, about to set its A/D bits with cmpxchg. */
        WALK_BEFORE_AD_SET,
        /** vCPU: translation done, about to read/write the host frame. */
        ACCESS_BEFORE_FRAME,
        /** promotion: huge SPTE built, about to cmpxchg it in. */
        PROMOTE_BEFORE_SET,
        /** get-dirty-log: a bitmap word was seen non-zero, not yet exchanged. */
        HARVEST_BEFORE_XCHG,
        /** get-dirty-log: the bitmap words were taken, re-protection not yet done. */
        HARVEST_AFTER_XCHG,
        /**
         * dirty-ring push, half done: slot and offset written, DIRTY not yet (with
         * RING_DIRTY_BEFORE_ENTRY the other way round). The gfn argument is the slot-relative offset.
         */
        RING_PUSH_BEFORE_ENTRY,
        /** fast page fault: about to cmpxchg W back (with RING_PUSH_BEFORE_WRITABLE, the ring entry already pushed). */
        FAST_PF_BEFORE_CMPXCHG,
        /** vCPU: about to re-enter after a KVM_EXIT_DIRTY_RING_FULL exit (the gfn is -1). */
        RING_FULL_EXIT,
        /** aging: a young leaf read, about to clear A or access-track it. */
        AGE_BEFORE_CLEAR,
        // memslot changes at runtime (KvmSetMemoryRegion); the gfn is the slot's base gfn
        /** delete / move: the invalid copy is published, synchronize_srcu not yet called. */
        MEMSLOT_AFTER_SWAP,
        /** delete / move: SRCU readers waited out, the slot's flush not yet done. */
        MEMSLOT_BEFORE_FLUSH,
        /** get-dirty-log: the slot looked up (under slots_lock), its bitmap not yet read or locked for write. */
        HARVEST_SLOT_LOOKED_UP,
        // Roots (TdpMmuRoots, TdpMmu#zapAllFast).
        /** zapAllFast: roots invalidated and the reload requested, the zap not begun (the gfn is -1). */
        FAST_ZAP_AFTER_INVALIDATE,
        /** zap of a root: a present entry read, about to replace it (cmpxchg, or the seeded bug's store). */
        ROOT_ZAP_BEFORE_SET,
        /** vCPU: its invalidated root put, the new one not yet loaded (the gfn is -1). */
        VCPU_ROOT_UNLOADED,
        /** eager split: at an entry, past the yield check, before looking at it. */
        SPLIT_AT_ENTRY,
        // Mutant killers (mutants/, JCSTRESS.md "Mutants").
        /** root load (6.9+, mmu_lock for read): no valid root found, the pages lock not yet taken (the gfn is -1). */
        ROOT_LOAD_BEFORE_ALLOC,
        /**
         * vCPU: a fault returned RET_PF_RETRY, the vCPU is about to re-enter and fault again. A vCPU
         * retries without limit, as in the kernel; a race whose mistake makes every retry fail (a
         * stale root reloaded for ever) counts them here and gives up, rather than hang its actor.
         */
        FAULT_RETRY
    }

    TestHook NONE = (point, gfn) ->
    {
    };

    /** Called on the thread reaching {@code point}, for the entry covering {@code gfn}. */
    void at(Point point, long gfn);
}
