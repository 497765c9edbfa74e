/**
 * The concurrency model under the simulated TDP MMU; it knows nothing of page tables.
 * <ul>
 *   <li>{@link org.tdpmmu.concurrency.Rcu}: read-side sections, callRcu, grace periods (kernel/rcu).</li>
 *   <li>{@link org.tdpmmu.concurrency.MmuLock}: kvm->mmu_lock as an rwlock.</li>
 *   <li>{@link org.tdpmmu.concurrency.InvalidationSequence}: the mmu_notifier sequence and retry check.</li>
 *   <li>{@link org.tdpmmu.concurrency.RemoteRequests}: requests to vCPUs with acknowledgement
 *       (kvm_make_all_cpus_request, KVM_REQ_TLB_FLUSH).</li>
 * </ul>
 * Every class states its memory-ordering argument where the ordering matters; hot paths (RCU read-side
 * entry and exit, the vCPU's request check) take no lock and allocate nothing.
 */
package org.tdpmmu.concurrency;
