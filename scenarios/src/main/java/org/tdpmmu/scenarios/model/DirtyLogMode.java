package org.tdpmmu.scenarios.model;

/** How writes are tracked while dirty logging is on. */
public enum DirtyLogMode implements YamlNamed {
    /**
     * Write protection: clear W (keep MMU-writable) on each leaf, so the first write to a page is
     * a (fast) write fault that restores W and marks the page dirty.
     */
    WRPROT("wrprot"),
    /**
     * D-bit tracking (the PML flavour): leave W set and clear the hardware dirty bit; the hardware
     * walk sets D on the first write and get/clear dirty log reaps it.
     */
    DBIT("dbit");

    private final String yamlName;

    DirtyLogMode(String yamlName) {
        this.yamlName = yamlName;
    }

    @Override
    public String yamlName() {
        return yamlName;
    }
}
