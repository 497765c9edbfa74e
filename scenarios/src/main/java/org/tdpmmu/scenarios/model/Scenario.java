package org.tdpmmu.scenarios.model;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * A loaded, validated scenario: a VM, a sequence of phases, host events racing them, and the unit
 * costs of modeled time. Build one with {@link org.tdpmmu.scenarios.load.ScenarioLoader} from a file
 * or directly (the {@code perf} command does); the constructor checks only nulls and structure, the
 * loader checks everything (phase order, ranges).
 *
 * @param name        short identifier, used in reports and file names
 * @param description free text, may be empty
 * @param vm          the VM
 * @param costModel   unit costs, the defaults with the file's {@code costModel:} overrides
 * @param phases      at least one
 * @param host        host events, may be empty
 * @param source      where the scenario came from (the file name as given, or {@code <perf flags>})
 */
public record Scenario(String name, String description, VmConfig vm, CostModel costModel,
                       List<Phase> phases, List<HostEvent> host, String source) {

    public Scenario {
        Objects.requireNonNull(name, "name");
        description = description == null ? "" : description;
        Objects.requireNonNull(vm, "vm");
        Objects.requireNonNull(costModel, "costModel");
        phases = List.copyOf(phases);
        host = List.copyOf(host);
        source = source == null ? name : source;
        if (phases.isEmpty()) {
            throw new IllegalArgumentException("a scenario needs at least one phase");
        }
    }

    /**
     * The steps an engine runs, in order, with their result names (see {@link Step}). A dirty pass
     * of N iterations gives, per iteration, {@code dirty-pass-i}, {@code get-dirty-log-j} and, with
     * the clear method, {@code clear-dirty-log-j}; a harvest phase gives {@code get-dirty-log-j}
     * (and {@code clear-dirty-log-j}).
     */
    public List<Step> steps() {
        List<Step> steps = new ArrayList<>();
        Map<StepKind, Integer> seen = new HashMap<>();
        int pass = 0;
        int harvest = 0;
        for (int p = 0; p < phases.size(); p++) {
            Phase phase = phases.get(p);
            if (phase instanceof Phase.DirtyPass d) {
                Phase.Harvest h = new Phase.Harvest(d.harvest());
                for (int i = 0; i < d.iterations(); i++) {
                    pass++;
                    steps.add(new Step("dirty-pass-" + pass, StepKind.DIRTY_PASS, d, pass, p));
                    harvest++;
                    addHarvest(steps, h, harvest, p);
                }
            } else if (phase instanceof Phase.Harvest h) {
                harvest++;
                addHarvest(steps, h, harvest, p);
            } else {
                StepKind kind = kindOf(phase);
                int n = seen.merge(kind, 1, Integer::sum);
                String base = baseName(kind);
                steps.add(new Step(n == 1 ? base : base + "-" + n, kind, phase, n, p));
            }
        }
        return steps;
    }

    /** How many steps {@link #steps} has, counted without building them (saturating at Long.MAX_VALUE). */
    public long stepCount() {
        long n = 0;
        for (Phase phase : phases) {
            long k;
            if (phase instanceof Phase.DirtyPass d) {
                k = (long) d.iterations() * (1 + harvestSteps(d.harvest()));
            } else if (phase instanceof Phase.Harvest h) {
                k = harvestSteps(h.method());
            } else {
                k = 1;
            }
            n = n > Long.MAX_VALUE - k ? Long.MAX_VALUE : n + k;
        }
        return n;
    }

    /** Steps one harvest takes: get alone; get and clear; collect and reset. */
    public static int harvestSteps(HarvestMethod method) {
        return method == HarvestMethod.GET ? 1 : 2;
    }

    /** The ring size of the scenario's dirty rings, or 0 when it tracks with the bitmap. */
    public int dirtyRingEntries() {
        for (Phase p : phases) {
            if (p instanceof Phase.EnableDirtyLogging e && e.tracking() == DirtyTracking.RING) {
                return e.ringEntries();
            }
        }
        return 0;
    }

    private static void addHarvest(List<Step> steps, Phase.Harvest h, int n, int p) {
        if (h.method() == HarvestMethod.RING) {
            steps.add(new Step("collect-dirty-ring-" + n, StepKind.COLLECT_DIRTY_RING, h, n, p));
            steps.add(new Step("reset-dirty-rings-" + n, StepKind.RESET_DIRTY_RINGS, h, n, p));
            return;
        }
        steps.add(new Step("get-dirty-log-" + n, StepKind.GET_DIRTY_LOG, h, n, p));
        if (h.method() == HarvestMethod.CLEAR) {
            steps.add(new Step("clear-dirty-log-" + n, StepKind.CLEAR_DIRTY_LOG, h, n, p));
        }
    }

    private static StepKind kindOf(Phase phase) {
        if (phase instanceof Phase.Populate) {
            return StepKind.POPULATE;
        } else if (phase instanceof Phase.EnableDirtyLogging) {
            return StepKind.ENABLE_DIRTY_LOGGING;
        } else if (phase instanceof Phase.DisableDirtyLogging) {
            return StepKind.DISABLE_DIRTY_LOGGING;
        } else if (phase instanceof Phase.SecondPass) {
            return StepKind.SECOND_PASS;
        } else if (phase instanceof Phase.Age) {
            return StepKind.AGE;
        } else if (phase instanceof Phase.MemslotChange) {
            return StepKind.MEMSLOT_CHANGE;
        } else if (phase instanceof Phase.Teardown) {
            return StepKind.TEARDOWN;
        }
        throw new IllegalStateException("not a single-step phase: " + phase);
    }

    private static String baseName(StepKind kind) {
        return switch (kind) {
            case POPULATE -> "populate";
            case ENABLE_DIRTY_LOGGING -> "enable-dirty-logging";
            case DISABLE_DIRTY_LOGGING -> "disable-dirty-logging";
            case SECOND_PASS -> "second-pass";
            case AGE -> "age";
            case MEMSLOT_CHANGE -> "memslot-change";
            case TEARDOWN -> "teardown";
            default -> throw new IllegalStateException(kind.name());
        };
    }

    /**
     * The first gfn above every slot a {@code memslotChange} phase places (0 without one), so the
     * {@code memslot} host event's own slot goes above them.
     */
    public long memslotChangeEndGfn() {
        long end = 0;
        for (Phase p : phases) {
            if (p instanceof Phase.MemslotChange m) {
                for (Phase.MemslotChange.Change c : m.changes()) {
                    if (c.op() != Phase.MemslotChange.Op.DELETE && c.op() != Phase.MemslotChange.Op.FLAGS) {
                        end = Math.max(end, c.baseGfn() + c.pages());
                    }
                }
            }
        }
        return end;
    }

    /** The recovery strategy of the first disableDirtyLogging phase, if there is one. */
    public Optional<RecoveryStrategy> strategy() {
        return phases.stream().filter(p -> p instanceof Phase.DisableDirtyLogging)
                .map(p -> ((Phase.DisableDirtyLogging) p).strategy()).findFirst();
    }

    /** Whether some phase disables dirty logging (so the recovery strategy matters). */
    public boolean disablesDirtyLogging() {
        return strategy().isPresent();
    }

    /** This scenario with every disableDirtyLogging phase using {@code strategy}. */
    public Scenario withStrategy(RecoveryStrategy strategy) {
        Objects.requireNonNull(strategy, "strategy");
        List<Phase> list = new ArrayList<>(phases.size());
        for (Phase p : phases) {
            list.add(p instanceof Phase.DisableDirtyLogging d
                    ? new Phase.DisableDirtyLogging(strategy, d.vcpusRunning()) : p);
        }
        return new Scenario(name, description, vm, costModel, list, host, source);
    }

    /** The harvest method the scenario uses (KVM's manual-protect choice is VM-wide), if it harvests. */
    public Optional<HarvestMethod> harvestMethod() {
        for (Phase p : phases) {
            if (p instanceof Phase.DirtyPass d) {
                return Optional.of(d.harvest());
            }
            if (p instanceof Phase.Harvest h) {
                return Optional.of(h.method());
            }
        }
        return Optional.empty();
    }
}
