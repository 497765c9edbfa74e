package org.tdpmmu.core;

/**
 * A guard the kernel relies on, which a test can turn off to show that the race test guarding it
 * catches its absence. Off by default; enabled only through {@link VmConfig#withSeededBugs}, which
 * the public CLI never calls (tests and the seeded-bug check do).
 */
public enum SeededBug
{
    /** Install a fault's SPTE without the mmu_invalidate_retry_gfn check (stale pfn installed). */
    SKIP_INVALIDATION_RETRY,
    /** handle_removed_pt reads child entries without freezing them (leaks, lost A/D bits). */
    NO_FREEZE_IN_REMOVED_PT,
    /** Free unlinked tables at once instead of through call_rcu (use after free by walkers). */
    NO_RCU_DEFERRED_FREE,
    /** Skip the remote TLB flush after zapping a leaf (stale translation, lost write). */
    NO_FLUSH_AFTER_ZAP,
    /** set_spte_atomic does read-check-store instead of cmpxchg (lost updates). */
    PLAIN_STORE_INSTEAD_OF_CMPXCHG,
    /** The fault path installs over a frozen entry instead of retrying. */
    NO_FROZEN_CHECK_BEFORE_INSTALL,
    /** A zapped or removed dirty leaf's D bit is not carried to the dirty log. */
    NO_DIRTY_CARRY_ON_ZAP,
    /** Get-dirty-log returns before write-protecting / clearing D on the harvested pages. */
    NO_REPROTECT_BEFORE_HARVEST,
    /** In-place promotion runs while an invalidation is in progress over the range. */
    PROMOTE_DURING_INVALIDATION,
    /** A fault that loses the race to link a table does not free its table (leak). */
    LEAK_LOSER_TABLE,
    /** A dirty-ring push publishes DIRTY before slot and offset (the collector reads a stale entry: a lost page). */
    RING_DIRTY_BEFORE_ENTRY,
    /** The fast fault pushes its ring entry before restoring W (a reset in between re-protects nothing: a missed page). */
    RING_PUSH_BEFORE_WRITABLE,
    /** After KVM_EXIT_DIRTY_RING_FULL the vCPU re-enters at once, before its ring was reset. */
    RING_REENTER_BEFORE_RESET,
    /** Lockless aging walks outside an RCU read-side section (a table freed under the walker). */
    LOCKLESS_AGE_WITHOUT_RCU,
    /** Lockless aging clears A by storing its snapshot back (drops a D or W set meanwhile). */
    AGE_PLAIN_STORE,

    // Aging races, the rest of issue 18's point 6.
    /**
     * test_young tests is_last_spte but not is_shadow_present_pte: an entry an atomic zap has
     * frozen (its A bit among the frozen bits) reads as a young leaf.
     */
    TEST_YOUNG_WITHOUT_PRESENT_CHECK,
    /**
     * Lockless access tracking (EPT without A/D bits) stores the marked snapshot instead of its
     * one cmpxchg: a table an eager split linked there meanwhile is overwritten (leaked, and a
     * huge leaf is back in a logged slot).
     */
    AGE_TRACK_PLAIN_STORE,

    // memslot changes at runtime (KvmSetMemoryRegion)
    /** A memslot delete or move flushes without synchronize_srcu (a fault that found the slot installs after the flush). */
    MEMSLOT_FLUSH_WITHOUT_SRCU_SYNC,
    /** KVM_GET_DIRTY_LOG / KVM_CLEAR_DIRTY_LOG skip slots_lock and the slot re-lookup (a delete frees the bitmap under the harvest). */
    HARVEST_WITHOUT_SLOTS_LOCK,
    /** The fast page fault stores its fix instead of cmpxchg (a leaf a slot move zapped comes back at the old gfn). */
    FAST_PF_PLAIN_STORE,

    // Roots (TdpMmuRoots, TdpMmu#zapAllFast).
    /**
     * A fault skips is_page_fault_stale's root check: a vCPU that has not reloaded yet installs
     * into its invalidated root after the zap passed, and those tables leak when the root goes.
     */
    SKIP_STALE_ROOT_CHECK,
    /**
     * The zap of an invalidated root (mmu_lock for read) stores non-present instead of cmpxchg: an
     * eager split that linked a table there meanwhile is overwritten and its table leaks.
     */
    INVALID_ROOT_ZAP_NOT_ATOMIC
}
