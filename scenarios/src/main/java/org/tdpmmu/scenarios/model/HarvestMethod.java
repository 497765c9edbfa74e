package org.tdpmmu.scenarios.model;

/**
 * How the dirty log is collected. KVM's choice is VM-wide (the manual-protect capability), so a
 * scenario uses one method throughout.
 */
public enum HarvestMethod implements YamlNamed {
    /**
     * KVM_GET_DIRTY_LOG without manual protect: copying the bitmap out also write-protects (or
     * clears D on) the pages it reports, in the same ioctl. One step: {@code get-dirty-log-N}.
     */
    GET("get"),
    /**
     * KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2: KVM_GET_DIRTY_LOG only copies the bitmap, then
     * KVM_CLEAR_DIRTY_LOG re-protects the reported pages. Two steps: {@code get-dirty-log-N} and
     * {@code clear-dirty-log-N}.
     */
    CLEAR("clear"),
    /**
     * The dirty ring (tracking {@code ring}): the VMM collects every vCPU's ring, then
     * KVM_RESET_DIRTY_RINGS re-protects the collected pages. Two steps:
     * {@code collect-dirty-ring-N} and {@code reset-dirty-rings-N}.
     */
    RING("ring");

    private final String yamlName;

    HarvestMethod(String yamlName) {
        this.yamlName = yamlName;
    }

    @Override
    public String yamlName() {
        return yamlName;
    }
}
