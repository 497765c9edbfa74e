package org.tdpmmu.scenarios.model;

/**
 * What the TDP MMU does with the 4 KiB mappings left behind when dirty logging is disabled on a
 * slot whose backing allows huge pages.
 */
public enum RecoveryStrategy implements YamlNamed {
    /**
     * 2021 kernels: zap every 4 KiB leaf, with a TLB flush per zap; vCPUs refault everything,
     * at huge size.
     */
    ZAP_LEAFS("zap_leafs", "zap every 4 KiB leaf (2021 kernels)"),
    /**
     * 2022 kernels until 6.13 ({@code kvm_tdp_mmu_zap_collapsible_sptes}): zap each non-leaf entry
     * where a huge page is allowed, one flush per batch; vCPUs refault huge pages.
     */
    ZAP_HUGE("zap_huge", "zap at the huge level (2022 kernels)"),
    /**
     * 6.13 and later ({@code kvm_tdp_mmu_recover_huge_pages}): build the huge SPTE from the first
     * present leaf of each child table and install it in place; one flush per memslot; no refaults.
     */
    PROMOTE_IN_PLACE("promote_in_place", "recover huge pages in place (6.13)");

    private final String yamlName;
    private final String summary;

    RecoveryStrategy(String yamlName, String summary) {
        this.yamlName = yamlName;
        this.summary = summary;
    }

    @Override
    public String yamlName() {
        return yamlName;
    }

    /** One line for help texts and reports. */
    public String summary() {
        return summary;
    }
}
