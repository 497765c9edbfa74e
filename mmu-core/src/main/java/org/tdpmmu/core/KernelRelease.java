package org.tdpmmu.core;

import java.util.Locale;

/**
 * The kernel releases tdpmmu has presets for, and the one table of which behaviour each release has
 * ({@link #apply}, {@link #recovery}). Each switch is a {@link VmConfig} component documented with the
 * release and commit or series that changed it; a preset sets every switch, and explicit switches
 * given after it override it (the scenario loader and the CLI apply the preset first).
 *
 * <p>The LTS releases a KVM engineer runs (5.15, 6.1, 6.6, 6.12) and the newest one modelled (6.18).
 * Switches that changed between two presets take the value of the later preset's release: a
 * behaviour from 6.8 is off in 6.6 and on in 6.12.
 */
public enum KernelRelease
{
    V5_15(5, 15),
    V6_1(6, 1),
    V6_6(6, 6),
    V6_12(6, 12),
    V6_18(6, 18);

    /** The default of every switch: the newest release's behaviour. */
    public static final KernelRelease NEWEST = V6_18;
    public static final KernelRelease OLDEST = V5_15;
    /** The system property and environment variable that choose the preset of the race suites. */
    public static final String PROPERTY = "tdpmmu.kernel";
    public static final String ENVIRONMENT = "TDPMMU_KERNEL";

    private final int major;
    private final int minor;

    KernelRelease(final int major, final int minor)
    {
        this.major = major;
        this.minor = minor;
    }

    /** "6.12". */
    public String version()
    {
        return major + "." + minor;
    }

    /** True if this release has what {@code major.minor} introduced. */
    public boolean atLeast(final int major, final int minor)
    {
        return this.major > major || (this.major == major && this.minor >= minor);
    }

    /**
     * {@code config} with every kernel-era switch as this release has it. One line per switch, the
     * release that changed it in the call: a new switch is one more line here.
     */
    public VmConfig apply(final VmConfig config)
    {
        return config
            // 2022, a3fe5dbda0a4 (after 5.15, before 6.1): module parameter eager_page_split, default Y.
            .withEagerPageSplit(atLeast(6, 1))
            // 6.8, d02c357e5bfa: mmu_invalidate_retry_gfn_unsafe before the pfn lookup and mmu_lock.
            .withRetryBeforeMmuLock(atLeast(6, 8))
            // 6.9, "KVM: x86/mmu: Allow TDP MMU (un)load to run in parallel": root load under the read lock.
            .withRootAllocUnderWriteLock(!atLeast(6, 9))
            // 6.11, TDX MMU preparation: SHADOW_NONPRESENT_VALUE = bit 63, FROZEN_SPTE with it.
            .withSuppressVeNonPresent(atLeast(6, 11))
            // 6.15, "KVM: x86/mmu: Age sptes locklessly": aging under RCU alone ...
            .withLocklessAging(atLeast(6, 15))
            // ... and spte_has_volatile_bits replaced by spte_needs_atomic_update.
            .withSpteNeedsAtomicUpdate(atLeast(6, 15))
            // 5.12, a2855afc7ee8 "Allow parallel page faults for the TDP MMU": faults under the read
            // lock (every preset; the switch models the kernels before it).
            .withFaultUnderWriteLock(!atLeast(5, 12))
            // 6.2, c4b33d28ea51 "Split huge pages mapped by the TDP MMU on fault": before it a fault
            // below a huge leaf zapped it.
            .withSplitHugeOnFault(atLeast(6, 2));
    }

    /**
     * How this release recovers huge pages when dirty logging is disabled: zap each collapsible 4 KiB
     * leaf (up to 2022), zap the non-leaf at the huge level (5ba7c4c6d1c7 "KVM: x86/mmu: Zap non-leaf
     * SPTEs when disabling dirty logging", 2022, after 5.15 and before 6.1), promote in place (6.13,
     * 13237fb40c74, kvm_tdp_mmu_recover_huge_pages).
     */
    public RecoveryStrategy recovery()
    {
        if (atLeast(6, 13))
        {
            return RecoveryStrategy.PROMOTE_IN_PLACE;
        }
        return atLeast(6, 1) ? RecoveryStrategy.ZAP_HUGE : RecoveryStrategy.ZAP_LEAFS;
    }

    /** The known releases, "5.15, 6.1, 6.6, 6.12, 6.18", for messages and help. */
    public static String known()
    {
        final StringBuilder sb = new StringBuilder();
        for (final KernelRelease r : values())
        {
            if (sb.length() > 0)
            {
                sb.append(", ");
            }
            sb.append(r.version());
        }
        return sb.toString();
    }

    /**
     * Parses "6.12" (also "v6.12", "6.12.0", "V6_12").
     *
     * @throws IllegalArgumentException for an unknown release, listing the known ones.
     */
    public static KernelRelease parse(final String text)
    {
        String t = text == null ? "" : text.trim().toLowerCase(Locale.ROOT).replace('_', '.');
        if (t.startsWith("v"))
        {
            t = t.substring(1);
        }
        if (t.endsWith(".0") && t.chars().filter(c -> c == '.').count() == 2)
        {
            t = t.substring(0, t.length() - 2);
        }
        for (final KernelRelease r : values())
        {
            if (r.version().equals(t))
            {
                return r;
            }
        }
        throw new IllegalArgumentException("unknown kernel release \"" + text + "\"; known: " + known());
    }

    /**
     * The preset the race suites (jcstress, the model checker) run in: the system property
     * {@value #PROPERTY}, else the environment variable {@value #ENVIRONMENT}, else {@link #NEWEST}.
     *
     * @throws IllegalArgumentException for an unknown release, listing the known ones.
     */
    public static KernelRelease fromEnvironment()
    {
        String v = System.getProperty(PROPERTY);
        if (v == null || v.isBlank())
        {
            v = System.getenv(ENVIRONMENT);
        }
        return v == null || v.isBlank() ? NEWEST : parse(v);
    }

    @Override
    public String toString()
    {
        return version();
    }
}
