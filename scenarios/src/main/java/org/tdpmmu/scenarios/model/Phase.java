package org.tdpmmu.scenarios.model;

import java.util.Objects;

/**
 * One entry of a scenario's {@code phases:} list. A phase expands into one or more {@link Step}s
 * (see {@link Scenario#steps()}); engines execute steps, not phases.
 */
public sealed interface Phase permits Phase.Populate, Phase.EnableDirtyLogging, Phase.DirtyPass,
        Phase.Harvest, Phase.DisableDirtyLogging, Phase.SecondPass, Phase.Age, Phase.Teardown {

    /** The key that introduces this phase in a scenario file ({@code dirtyPass}, ...). */
    String yamlName();

    /** Every phase key, in the order phases usually appear. */
    String[] YAML_NAMES = {"populate", "enableDirtyLogging", "dirtyPass", "harvest",
            "disableDirtyLogging", "secondPass", "age", "teardown"};

    /**
     * Every vCPU writes each page of its own region once, faulting the memory in
     * (dirty_log_perf_test's "iteration 0", "Populate memory time").
     */
    record Populate() implements Phase {
        @Override
        public String yamlName() {
            return "populate";
        }
    }

    /**
     * KVM_SET_USER_MEMORY_REGION with KVM_MEM_LOG_DIRTY_PAGES on every slot
     * ("Enabling dirty logging time").
     *
     * @param mode         write-protect or D-bit tracking
     * @param eagerSplit   split huge mappings down to 4 KiB now (KVM's eager_page_split), rather than
     *                     one write fault at a time
     * @param initiallySet KVM_DIRTY_LOG_INITIALLY_SET: do not protect at enable; the bitmap starts all
     *                     ones and the first KVM_CLEAR_DIRTY_LOG of a range protects (and eagerly
     *                     splits) it. Requires the {@code clear} harvest method.
     * @param tracking     bitmap, or per-vCPU dirty rings (VM-wide: every enable of a scenario agrees)
     * @param ringEntries  entries of each vCPU's ring with ring tracking (a power of two the kernel
     *                     accepts), else 0
     */
    record EnableDirtyLogging(DirtyLogMode mode, boolean eagerSplit, boolean initiallySet, DirtyTracking tracking,
                              int ringEntries) implements Phase {
        public EnableDirtyLogging {
            Objects.requireNonNull(mode, "mode");
            Objects.requireNonNull(tracking, "tracking");
            if ((tracking == DirtyTracking.RING) != (ringEntries > 0)) {
                throw new IllegalArgumentException("ringEntries " + ringEntries + " with tracking " + tracking.yamlName());
            }
        }

        /** Bitmap tracking. */
        public EnableDirtyLogging(DirtyLogMode mode, boolean eagerSplit, boolean initiallySet) {
            this(mode, eagerSplit, initiallySet, DirtyTracking.BITMAP, 0);
        }

        @Override
        public String yamlName() {
            return "enableDirtyLogging";
        }
    }

    /**
     * {@code iterations} rounds of: every vCPU makes one pass over its region, then the dirty log
     * is harvested ("Iteration N dirty memory time", "Iteration N get/clear dirty log time").
     *
     * @param iterations   1..100000
     * @param writePercent 0..100: the chance, per access, that it is a write (else a read)
     * @param pattern      access order
     * @param zipfExponent the Zipf exponent {@code s > 0} when {@code pattern} is zipf, else 0
     * @param seed         seed of the per-vCPU random streams (dirty_log_perf_test {@code -r})
     * @param harvest      how each iteration's dirty log is collected
     */
    record DirtyPass(int iterations, int writePercent, AccessPattern pattern, double zipfExponent,
                     long seed, HarvestMethod harvest) implements Phase {
        public DirtyPass {
            Objects.requireNonNull(pattern, "pattern");
            Objects.requireNonNull(harvest, "harvest");
            if (iterations < 1 || writePercent < 0 || writePercent > 100) {
                throw new IllegalArgumentException("iterations " + iterations + ", writePercent " + writePercent);
            }
        }

        @Override
        public String yamlName() {
            return "dirtyPass";
        }
    }

    /**
     * One harvest of the dirty log outside a dirty pass (KVM_GET_DIRTY_LOG, plus KVM_CLEAR_DIRTY_LOG
     * with the {@code clear} method).
     *
     * @param method get or clear
     */
    record Harvest(HarvestMethod method) implements Phase {
        public Harvest {
            Objects.requireNonNull(method, "method");
        }

        @Override
        public String yamlName() {
            return "harvest";
        }
    }

    /**
     * KVM_SET_USER_MEMORY_REGION clearing KVM_MEM_LOG_DIRTY_PAGES on every slot, then huge-page
     * recovery ("Disabling dirty logging time").
     *
     * @param strategy     how huge mappings are recovered
     * @param vcpusRunning dirty_log_perf_test {@code -e}: vCPUs keep running the last pass's workload
     *                     while logging is disabled, racing the recovery
     */
    record DisableDirtyLogging(RecoveryStrategy strategy, boolean vcpusRunning) implements Phase {
        public DisableDirtyLogging {
            Objects.requireNonNull(strategy, "strategy");
        }

        @Override
        public String yamlName() {
            return "disableDirtyLogging";
        }
    }

    /**
     * One more pass by every vCPU, typically after disabling dirty logging: its fault counters show
     * what the recovery strategy left for the vCPUs to refault. No harvest follows.
     *
     * @param writePercent 0..100
     * @param pattern      access order
     * @param zipfExponent as in {@link DirtyPass}
     * @param seed         as in {@link DirtyPass}
     */
    record SecondPass(int writePercent, AccessPattern pattern, double zipfExponent, long seed) implements Phase {
        public SecondPass {
            Objects.requireNonNull(pattern, "pattern");
            if (writePercent < 0 || writePercent > 100) {
                throw new IllegalArgumentException("writePercent " + writePercent);
            }
        }

        @Override
        public String yamlName() {
            return "secondPass";
        }
    }

    /**
     * Destroy the VM: zap all roots, free every table (through RCU), then an RCU barrier; the
     * no-leak property is checked after it.
     */
    /**
     * The host asks which guest pages were used since it last asked: one mmu_notifier aging call
     * per {@code pagesPerCall} pages over every slot, from the VMM's thread with the vCPUs stopped,
     * as an MGLRU walk or an idle-page scan does (kernel: kvm_mmu_notifier_clear_young, or
     * clear_flush_young, → kvm_tdp_mmu_age_gfn_range). The locking follows
     * {@code vm.locklessAging}; pages found young and idle are counted ({@code age.young},
     * {@code age.idle}).
     *
     * @param flush        clear_flush_young (a remote TLB flush after a call that found a young
     *                     page) instead of clear_young (no flush)
     * @param pagesPerCall 4 KiB pages per notifier call; with mmu_lock the lock is held for one call
     */
    record Age(boolean flush, long pagesPerCall) implements Phase {
        public Age {
            if (pagesPerCall < 1) {
                throw new IllegalArgumentException("pagesPerCall " + pagesPerCall + " < 1");
            }
        }

        @Override
        public String yamlName() {
            return "age";
        }
    }

    record Teardown() implements Phase {
        @Override
        public String yamlName() {
            return "teardown";
        }
    }
}
