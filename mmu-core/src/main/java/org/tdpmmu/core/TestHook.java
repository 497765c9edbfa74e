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
        /** vCPU: translation done, about to read/write the host frame. */
        ACCESS_BEFORE_FRAME,
        /** promotion: huge SPTE built, about to cmpxchg it in. */
        PROMOTE_BEFORE_SET,
        /** get-dirty-log: the bitmap words were taken, re-protection not yet done. */
        HARVEST_AFTER_XCHG,
        /** aging: a young leaf read, about to clear A or access-track it. */
        AGE_BEFORE_CLEAR
    }

    TestHook NONE = (point, gfn) ->
    {
    };

    /** Called on the thread reaching {@code point}, for the entry covering {@code gfn}. */
    void at(Point point, long gfn);
}
