package org.tdpmmu.scenarios.model;

import java.util.Objects;

/**
 * The kernel-era switches of a scenario's VM, resolved: the preset named by {@code vm.kernel} (or
 * the newest release), then each switch the file sets explicitly. The presets themselves are one
 * table, {@code org.tdpmmu.core.KernelRelease}; the loader resolves them, this only carries the result.
 * What each switch models, with the release and commit: {@code org.tdpmmu.core.VmConfig}.
 *
 * @param release               the preset's release, e.g. "6.12" ("6.18" when the file names none)
 * @param suppressVeNonPresent  the 6.11+ SPTE layout (non-present and frozen values with bit 63)
 * @param spteNeedsAtomicUpdate write-locked writers by the 6.15 rule (spte_needs_atomic_update)
 * @param retryBeforeMmuLock    the 6.8 mmu_notifier check before the pfn lookup and mmu_lock
 * @param eagerPageSplit        the kernel has eager page splitting (2022); false: an
 *                              {@code enableDirtyLogging} with {@code eagerSplit: true} splits nothing
 * @param splitHugeOnFault      a fault below a huge leaf splits it (6.2); false: zaps it, maps one page
 * @param faultUnderWriteLock   faults take mmu_lock for write (before 5.12); false: for read
 */
public record KernelSwitches(String release, boolean suppressVeNonPresent, boolean spteNeedsAtomicUpdate,
                             boolean retryBeforeMmuLock, boolean eagerPageSplit, boolean splitHugeOnFault,
                             boolean faultUnderWriteLock) {

    /** The newest release's switches, the default of a VM that names no kernel (checked against the preset table by a test). */
    public static final KernelSwitches NEWEST = new KernelSwitches("6.18", true, true, true, true, true, false);

    public KernelSwitches {
        Objects.requireNonNull(release, "release");
    }
}
