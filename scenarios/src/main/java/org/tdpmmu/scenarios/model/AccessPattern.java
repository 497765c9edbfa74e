package org.tdpmmu.scenarios.model;

/** The order in which a vCPU touches the pages of its own memory region during a pass. */
public enum AccessPattern implements YamlNamed {
    /** Every page of the region once, in ascending guest-physical order (dirty_log_perf_test default). */
    SEQUENTIAL("sequential"),
    /** As many accesses as the region has pages, each to a uniformly random page (the {@code -a} flag). */
    RANDOM("random"),
    /** As many accesses as the region has pages, page popularity following a Zipf law. */
    ZIPF("zipf");

    private final String yamlName;

    AccessPattern(String yamlName) {
        this.yamlName = yamlName;
    }

    @Override
    public String yamlName() {
        return yamlName;
    }
}
