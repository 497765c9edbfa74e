package org.tdpmmu.scenarios.model;

/** Where KVM reports the pages vCPUs dirty: the memslot bitmap, or per-vCPU dirty rings. VM-wide. */
public enum DirtyTracking implements YamlNamed {
    /** The memslot's dirty bitmap, collected with KVM_GET_DIRTY_LOG (and KVM_CLEAR_DIRTY_LOG). */
    BITMAP("bitmap"),
    /**
     * KVM_CAP_DIRTY_LOG_RING_ACQ_REL: one ring of dirty-page entries per vCPU, collected by the
     * VMM and recycled with KVM_RESET_DIRTY_RINGS; a vCPU whose ring is soft full exits
     * (KVM_EXIT_DIRTY_RING_FULL) until it is reset.
     */
    RING("ring");

    private final String yamlName;

    DirtyTracking(String yamlName) {
        this.yamlName = yamlName;
    }

    @Override
    public String yamlName() {
        return yamlName;
    }
}
