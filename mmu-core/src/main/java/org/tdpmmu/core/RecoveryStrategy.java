package org.tdpmmu.core;

/** The shipped {@link HugePageRecovery} strategies, by kernel generation. */
public enum RecoveryStrategy
{
    /** 2021 kernels: zap each 4 KiB leaf that could be mapped larger, a TLB flush per zap. */
    ZAP_LEAFS(new ZapLeafsRecovery()),
    /** 2022 kernels (kvm_tdp_mmu_zap_collapsible_sptes): zap the non-leaf at the huge level. */
    ZAP_HUGE(new ZapHugeRecovery()),
    /** 6.13+ (kvm_tdp_mmu_recover_huge_pages): install the huge SPTE in place, one flush per slot. */
    PROMOTE_IN_PLACE(new PromoteInPlaceRecovery());

    private final HugePageRecovery recovery;

    RecoveryStrategy(final HugePageRecovery recovery)
    {
        this.recovery = recovery;
    }

    public HugePageRecovery recovery()
    {
        return recovery;
    }

    /** Parses zap_leafs / zap_huge / promote_in_place (any case, '-' or '_'). */
    public static RecoveryStrategy parse(final String name)
    {
        final String n = name.trim().toUpperCase(java.util.Locale.ROOT).replace('-', '_');
        for (final RecoveryStrategy s : values())
        {
            if (s.name().equals(n))
            {
                return s;
            }
        }
        throw new IllegalArgumentException("strategy \"" + name + "\" is not one of zap_leafs, zap_huge, promote_in_place");
    }
}
