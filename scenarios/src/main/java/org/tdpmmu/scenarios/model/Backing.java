package org.tdpmmu.scenarios.model;

/**
 * Host memory backing a memslot, named as the kernel selftests name it (the {@code -s} flag of
 * dirty_log_perf_test, {@code enum vm_mem_backing_src_type}). The backing page size bounds the
 * largest mapping the TDP MMU may install for the slot.
 */
public enum Backing implements YamlNamed {
    /** Anonymous memory in 4 KiB pages: 4 KiB mappings only. */
    ANONYMOUS("anonymous", Sizes.KIB_4, 1),
    /** Anonymous memory with transparent huge pages: up to 2 MiB mappings. */
    ANONYMOUS_THP("anonymous_thp", Sizes.MIB_2, 2),
    /** hugetlbfs 2 MiB pages: up to 2 MiB mappings. */
    ANONYMOUS_HUGETLB_2MB("anonymous_hugetlb_2mb", Sizes.MIB_2, 2),
    /** hugetlbfs 1 GiB pages: up to 1 GiB mappings. */
    ANONYMOUS_HUGETLB_1GB("anonymous_hugetlb_1gb", Sizes.GIB_1, 3);

    private final String yamlName;
    private final long pageSize;
    private final int maxLevel;

    Backing(String yamlName, long pageSize, int maxLevel) {
        this.yamlName = yamlName;
        this.pageSize = pageSize;
        this.maxLevel = maxLevel;
    }

    @Override
    public String yamlName() {
        return yamlName;
    }

    /** The host page size in bytes (4 KiB, 2 MiB or 1 GiB). */
    public long pageSize() {
        return pageSize;
    }

    /** The host page size in 4 KiB guest frames (1, 512 or 262144). */
    public long pageFrames() {
        return pageSize / Sizes.KIB_4;
    }

    /** The largest paging level a mapping of this backing may use: 1 (4K), 2 (2M) or 3 (1G). */
    public int maxLevel() {
        return maxLevel;
    }
}
