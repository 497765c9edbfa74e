package org.tdpmmu.core;

/**
 * An allocation the model can fail ran out: a page-table page ({@link OutOfTablesException}) or a
 * host frame (kernel analogue: -ENOMEM). Thrown only where nothing has changed yet for the
 * operation that needed the memory, so the MMU stays consistent: a fault fails in its memory-cache
 * top-up before it takes the MMU lock (kvm_mmu_topup_memory_cache returns -ENOMEM, the fault
 * returns the error to the vCPU and KVM_RUN to userspace), a migration fails before it touches the
 * host page it could not replace (migrate_pages leaves that page where it is).
 *
 * <p>Eager splitting absorbs it instead (kernel: tdp_mmu_split_huge_pages_root stops at the first
 * failed tdp_mmu_alloc_sp_for_split and the remaining huge pages are split by their first write
 * fault). Anything else that reaches a scenario run stops the run in order (vCPU threads stopped,
 * teardown, RCU barrier, the safety checks on what was done) and the CLI exits 4 with one line.
 *
 * <p>What cannot fail by design: the RCU callback queue ({@code Rcu#callRcu} is unbounded, as the
 * kernel's call_rcu needs no allocation) and the frees of handle_removed_pt, which allocate no
 * page table; a Java heap or direct-memory exhaustion there is an {@link OutOfMemoryError}, not this.
 */
public class ResourceExhaustedException extends RuntimeException
{
    private static final long serialVersionUID = 1L;

    public ResourceExhaustedException(final String message)
    {
        super(message);
    }

    /** The same failure seen one layer up, with that layer's context in {@code message}. */
    public ResourceExhaustedException(final String message, final Throwable cause)
    {
        super(message, cause);
    }
}
