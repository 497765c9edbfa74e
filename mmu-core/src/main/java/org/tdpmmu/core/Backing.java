package org.tdpmmu.core;

/**
 * Host backing page size of a memslot. It bounds the largest mapping level (kernel:
 * host_pfn_mapping_level, the hugetlb/THP page size behind the slot's userspace address).
 */
public enum Backing
{
    /** anonymous: 4 KiB host pages. */
    PAGE_4K(Spte.PG_LEVEL_4K),
    /** anonymous_thp or anonymous_hugetlb_2mb: 2 MiB host pages. */
    PAGE_2M(Spte.PG_LEVEL_2M),
    /** anonymous_hugetlb_1gb: 1 GiB host pages. */
    PAGE_1G(Spte.PG_LEVEL_1G);

    private final int level;

    Backing(final int level)
    {
        this.level = level;
    }

    /** Largest mapping level the host page allows. */
    public int level()
    {
        return level;
    }

    /** 4 KiB frames in one host page. */
    public long pages()
    {
        return Spte.pagesPerLevel(level);
    }

    /** The backing named as the kernel's selftests name it (-s). */
    public static Backing fromKernelName(final String name)
    {
        switch (name)
        {
            case "anonymous":
                return PAGE_4K;
            case "anonymous_thp":
            case "anonymous_hugetlb_2mb":
                return PAGE_2M;
            case "anonymous_hugetlb_1gb":
                return PAGE_1G;
            default:
                throw new IllegalArgumentException("backing \"" + name + "\" is not one of anonymous, " +
                    "anonymous_thp, anonymous_hugetlb_2mb, anonymous_hugetlb_1gb");
        }
    }
}
