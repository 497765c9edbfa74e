package org.tdpmmu.scenarios.model;

/** A host-side event that changes the host mapping of guest memory behind the MMU's back. */
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
    INVALIDATE("invalidate");

    private final String yamlName;

    HostEventKind(String yamlName) {
        this.yamlName = yamlName;
    }

    @Override
    public String yamlName() {
        return yamlName;
    }
}
