package org.tdpmmu.scenarios.model;

/** A host-side event that changes the host mapping of guest memory, or asks which of it was used, behind the MMU's back. */
public enum HostEventKind implements YamlNamed {
    /**
     * Page migration: an mmu_notifier invalidation of the range, then the range's host frames move
     * to new pfns (their content words are copied); later faults must map the new pfns.
     */
    MIGRATE("migrate"),
    /**
     * A bare mmu_notifier invalidation (reclaim, NUMA hinting, mprotect): invalidate_range_start
     * zaps the range's leaves, invalidate_range_end bumps the sequence; pfns stay the same.
     */
    INVALIDATE("invalidate"),
    /**
     * Aging, as MGLRU and idle page tracking do: mmu_notifier clear_young over the range (kernel:
     * kvm_tdp_mmu_age_gfn_range), A cleared without a TLB flush, under mmu_lock held for write or,
     * with {@code vm.locklessAging}, under RCU alone; pages found young or idle are counted.
     */
    AGE("age"),
    /**
     * A memslot changing while the vCPUs run (KVM_SET_USER_MEMORY_REGION): a slot of
     * {@code pagesPerEvent} pages of its own, above the scenario's slots, cycles through create,
     * move, delete and recreate, one change per event; with the default KVM_X86_QUIRK_SLOT_ZAP_ALL
     * every delete and move zaps the whole VM, so the workload refaults (kernel:
     * memslot_modification_stress_test's dummy slot, here also moved).
     */
    MEMSLOT("memslot");

    private final String yamlName;

    HostEventKind(String yamlName) {
        this.yamlName = yamlName;
    }

    @Override
    public String yamlName() {
        return yamlName;
    }
}
