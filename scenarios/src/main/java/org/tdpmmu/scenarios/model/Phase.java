package org.tdpmmu.scenarios.model;

import java.util.List;
import java.util.Objects;

/**
 * One entry of a scenario's {@code phases:} list. A phase expands into one or more {@link Step}s
 * (see {@link Scenario#steps()}); engines execute steps, not phases.
 */
public sealed interface Phase permits Phase.Populate, Phase.EnableDirtyLogging, Phase.DirtyPass,
        Phase.Harvest, Phase.DisableDirtyLogging, Phase.SecondPass, Phase.Age, Phase.Teardown,
        Phase.MemslotChange {

    /** The key that introduces this phase in a scenario file ({@code dirtyPass}, ...). */
    String yamlName();

    /** Every phase key, in the order phases usually appear. */
    String[] YAML_NAMES = {"populate", "enableDirtyLogging", "dirtyPass", "harvest",
            "disableDirtyLogging", "secondPass", "age", "memslotChange", "teardown"};

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

    /**
     * KVM_SET_USER_MEMORY_REGION requests applied in order by the VMM's thread while every vCPU
     * makes passes over its own region ({@code writePercent}, {@code pattern}, {@code seed} as a
     * second pass has them): at least one pass each, and more until the last change returned.
     * Each change is one {@code org.tdpmmu.core.KvmSetMemoryRegion} call, on a slot of the
     * phase's own (never one of {@code vm}'s, which the workload uses). The loader replays the
     * whole scenario's changes against the slots as they will be and refuses, with the line and
     * field, every request KVM would refuse, so none fails at run time.
     *
     * @param changes      at least one, in order
     * @param delayMicros  pause before each change, in microseconds (memslot_modification_stress_test -d)
     */
    record MemslotChange(List<Change> changes, int writePercent, AccessPattern pattern, double zipfExponent,
                         long seed, long delayMicros) implements Phase {
        public MemslotChange {
            changes = List.copyOf(changes);
            Objects.requireNonNull(pattern, "pattern");
            if (changes.isEmpty() || writePercent < 0 || writePercent > 100 || delayMicros < 0) {
                throw new IllegalArgumentException(changes.size() + " changes, writePercent " + writePercent
                        + ", delayMicros " + delayMicros);
            }
        }

        @Override
        public String yamlName() {
            return "memslotChange";
        }

        /** What one request does (kernel: enum kvm_mr_change, plus recreate). */
        public enum Op implements YamlNamed {
            /** KVM_MR_CREATE: a new slot at {@code baseGfn} of {@code pages}, logging off. */
            CREATE("create"),
            /** KVM_MR_DELETE: memory_size 0. */
            DELETE("delete"),
            /** KVM_MR_MOVE: the slot at a new {@code baseGfn}, size, backing and flags kept. */
            MOVE("move"),
            /** KVM_MR_CREATE of a slot deleted earlier, where and as it was when deleted. */
            RECREATE("recreate"),
            /** KVM_MR_FLAGS_ONLY: KVM_MEM_LOG_DIRTY_PAGES set or cleared ({@code dirtyLogging}). */
            FLAGS("flags");

            private final String yamlName;

            Op(String yamlName) {
                this.yamlName = yamlName;
            }

            @Override
            public String yamlName() {
                return yamlName;
            }
        }

        /**
         * One request, resolved by the loader: for a recreate or a move the slot's size and
         * backing are filled in, for a recreate its base gfn too.
         *
         * @param line the line of the file that wrote it, and {@code path} its field path, for messages
         */
        public record Change(Op op, int slot, long baseGfn, long pages, Backing backing, boolean dirtyLogging,
                             int line, String path) {
            public Change {
                Objects.requireNonNull(op, "op");
                Objects.requireNonNull(path, "path");
            }

            /** This change with the slot's place, size and backing filled in. */
            public Change resolved(long base, long npages, Backing b) {
                return new Change(op, slot, base, npages, b, dirtyLogging, line, path);
            }
        }
    }

    record Teardown() implements Phase {
        @Override
        public String yamlName() {
            return "teardown";
        }
    }
}
