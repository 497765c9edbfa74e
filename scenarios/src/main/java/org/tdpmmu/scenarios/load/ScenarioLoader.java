package org.tdpmmu.scenarios.load;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;
import org.tdpmmu.scenarios.model.AccessPattern;
import org.tdpmmu.scenarios.model.Backing;
import org.tdpmmu.scenarios.model.CostModel;
import org.tdpmmu.core.DirtyRing;
import org.tdpmmu.core.KernelRelease;
import org.tdpmmu.scenarios.model.KernelSwitches;
import org.tdpmmu.scenarios.model.DirtyLogMode;
import org.tdpmmu.scenarios.model.DirtyTracking;
import org.tdpmmu.scenarios.model.HarvestMethod;
import org.tdpmmu.scenarios.model.HostEvent;
import org.tdpmmu.scenarios.model.HostEventKind;
import org.tdpmmu.scenarios.model.Phase;
import org.tdpmmu.scenarios.model.RecoveryStrategy;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.model.ScenarioException;
import org.tdpmmu.scenarios.model.SlotConfig;
import org.tdpmmu.scenarios.model.Sizes;
import org.tdpmmu.scenarios.model.VmConfig;

/**
 * Loads and validates a scenario file (format: {@code scenarios/FORMAT.md}). The first problem found
 * is thrown as a {@link ScenarioException} whose message names the file, the line, the field path and
 * the allowed values or range:
 * <pre>small.yaml:7: vm.backing: "hugetlb" is not one of anonymous, anonymous_thp, anonymous_hugetlb_2mb, anonymous_hugetlb_1gb</pre>
 */
public final class ScenarioLoader {

    public static final int MAX_VCPUS = 512;
    /** KVM_USER_MEM_SLOTS on x86. */
    public static final int MAX_MEMSLOTS = 32764;
    public static final int MAX_ITERATIONS = 100_000;
    /** Ring entries when {@code ringEntries} is absent: the size QEMU's documentation uses (dirty-ring-size=4096). */
    public static final int DEFAULT_RING_ENTRIES = 4096;
    /** An age phase's pages per notifier call by default: one 2 MiB range, the unit of an MGLRU walk's PMD step. */
    public static final long DEFAULT_AGE_PAGES_PER_CALL = 512;
    /** Steps a scenario may expand into: each keeps a result, and the list itself is built in memory. */
    public static final long MAX_STEPS = 1_000_000;
    public static final double MAX_ZIPF_EXPONENT = 10.0;
    public static final double DEFAULT_ZIPF_EXPONENT = 0.99;
    public static final double MAX_HOST_RATE = 1_000_000.0;
    public static final long DEFAULT_PAGES_PER_EVENT = 512;

    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");
    private static final String[] ROOT_FIELDS = {"name", "description", "vm", "costModel", "phases", "host"};
    private static final String[] VM_FIELDS = {"vcpus", "memoryPerVcpu", "memslots", "backing", "rootLevel",
            "slotBaseGfn", "slots", "overlapVcpuMemory", "locklessAging",
            // kernel eras: the preset, then the switches it sets (explicit ones override it)
            "kernel", "suppressVeNonPresent", "spteNeedsAtomicUpdate", "retryBeforeMmuLock", "eagerPageSplit",
            "splitHugeOnFault", "faultUnderWriteLock",
            // the VMM's choice for memslot deletes and moves (KVM_CAP_DISABLE_QUIRKS2)
            "slotZapAllQuirk",
            // the host's scheduling of the vCPU threads
            "sliceAccesses"};
    private static final String[] SLOT_FIELDS = {"size", "pages", "backing", "baseGfn"};
    private static final String[] PASS_FIELDS = {"iterations", "writePercent", "pattern", "zipfExponent", "seed", "harvest"};
    private static final String[] SECOND_PASS_FIELDS = {"writePercent", "pattern", "zipfExponent", "seed"};
    private static final String[] MEMSLOT_CHANGE_FIELDS = {"changes", "writePercent", "pattern", "zipfExponent", "seed",
            "delayMicros"};
    private static final String[] CHANGE_FIELDS = {"op", "slot", "baseGfn", "pages", "size", "backing", "dirtyLogging"};
    /** The last slot id a memslotChange may use: the memslot host event has the one above (32763). */
    static final int MAX_CHANGE_SLOT = org.tdpmmu.core.Memslots.USER_MEM_SLOTS - 2;
    private static final String[] HOST_FIELDS = {"kind", "during", "ratePerSecond", "pagesPerEvent", "seed"};

    private final String file;
    private final Fields f;

    private ScenarioLoader(String file) {
        this.file = file;
        this.f = new Fields(file);
    }

    /** Loads {@code path}; messages name the path as given. */
    public static Scenario load(Path path) {
        String name = path.toString();
        return parse(ScenarioFile.read(path, name), name);
    }

    /** Parses {@code yaml}; {@code fileName} is used in messages and for the default scenario name. */
    public static Scenario parse(String yaml, String fileName) {
        return parse(yaml, fileName, List.of());
    }

    /**
     * Loads {@code path} with {@code overrides} put into its tree first ({@code run --set}, a sweep's
     * points): each value is checked as if the file held it; messages name the field.
     */
    public static Scenario load(Path path, List<FieldOverride> overrides) {
        String name = path.toString();
        return parse(ScenarioFile.read(path, name), name, overrides);
    }

    /** {@link #parse(String, String)} with {@code overrides} put into the tree first. */
    public static Scenario parse(String yaml, String fileName, List<FieldOverride> overrides) {
        ScenarioLoader l = new ScenarioLoader(fileName);
        YamlNode tree = new YamlTreeReader(fileName).read(yaml);
        return l.scenario(overrides.isEmpty() ? tree : new TreeOverrides(fileName).apply(tree, overrides));
    }

    // ---------------------------------------------------------------- root

    private Scenario scenario(YamlNode rootNode) {
        if (!(rootNode instanceof YamlNode.MapNode root)) {
            throw f.error(rootNode.line(), null, "expected a map with the fields " + String.join(", ", ROOT_FIELDS)
                    + ", found " + rootNode.describe());
        }
        f.allowOnly(root, "", ROOT_FIELDS);
        String name = f.string(root, "", "name", defaultName());
        if (!NAME.matcher(name).matches()) {
            throw f.error(f.lineOf(root, "name"), "name", "\"" + name
                    + "\" must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit (it names report files)");
        }
        String description = f.string(root, "", "description", "");
        YamlNode.Entry vmEntry = f.entry(root, "vm").orElseThrow(() ->
                f.missing(root, "", "vm", "a map with the fields " + String.join(", ", VM_FIELDS)));
        YamlNode.MapNode vmMap = f.map(vmEntry.value(), "vm");
        VmConfig vm = vm(vmMap);
        CostModel costs = costModel(root);
        YamlNode.Entry phasesEntry = f.entry(root, "phases").orElseThrow(() ->
                f.missing(root, "", "phases", "a list of phases: " + String.join(", ", Phase.YAML_NAMES)));
        List<Phase> phases = new PhaseReader(f, presetStrategy(kernelRelease(vmMap)))
                .read(f.list(phasesEntry.value(), "phases"));
        phases = new MemslotChanges(f, vm).resolve(phases);
        List<HostEvent> host = host(root, phases, vm);
        Scenario scenario = new Scenario(name, description, vm, costs, phases, host, file);
        long steps = scenario.stepCount();
        if (steps > MAX_STEPS) {
            throw f.error(phasesEntry.keyLine(), "phases", "expand into " + steps + " steps, more than the "
                    + MAX_STEPS + " a scenario may have (each dirtyPass iteration is 2 or 3 steps: pass, get, clear)");
        }
        return scenario;
    }

    private String defaultName() {
        String base = Path.of(file).getFileName() == null ? file : Path.of(file).getFileName().toString();
        int dot = base.lastIndexOf('.');
        String n = dot > 0 ? base.substring(0, dot) : base;
        return NAME.matcher(n).matches() ? n : "scenario";
    }

    // ---------------------------------------------------------------- vm

    private VmConfig vm(YamlNode.MapNode vm) {
        f.allowOnly(vm, "vm", VM_FIELDS);
        int vcpus = f.int32(vm, "vm", "vcpus", 1, MAX_VCPUS, null);
        int rootLevel = f.int32(vm, "vm", "rootLevel", 4, 5, 4);
        long baseGfn = f.integer(vm, "vm", "slotBaseGfn", 0, maxGfn(rootLevel) - 1, VmConfig.DEFAULT_SLOT_BASE_GFN);
        Backing backing = f.enumValue(vm, "vm", "backing", Backing.class, Backing.ANONYMOUS);
        Long perVcpu = memoryPerVcpu(vm);

        Optional<YamlNode.Entry> slotsEntry = f.entry(vm, "slots");
        List<SlotConfig> slots;
        if (slotsEntry.isPresent()) {
            f.entry(vm, "memslots").ifPresent(e -> {
                throw f.error(e.keyLine(), "vm.memslots", "not allowed together with vm.slots (list each slot in vm.slots instead)");
            });
            slots = slotList(f.list(slotsEntry.get().value(), "vm.slots"), backing, baseGfn, vm, rootLevel);
            int slotsLine = slotsEntry.get().keyLine();
            long total = slots.stream().mapToLong(SlotConfig::sizeBytes).sum();
            if (perVcpu == null) {
                perVcpu = total / vcpus / Sizes.KIB_4 * Sizes.KIB_4;
                if (perVcpu == 0) {
                    throw f.error(slotsLine, "vm.slots", "the slots' " + Sizes.human(total)
                            + " leave less than 4 KiB per vCPU for " + vcpus + " vCPUs");
                }
            } else if (Math.multiplyHigh(vcpus, perVcpu) != 0 || vcpus * perVcpu > total) {
                throw f.error(f.lineOf(vm, "memoryPerVcpu"), "vm.memoryPerVcpu", vcpus + " vCPUs x "
                        + Sizes.format(perVcpu) + " does not fit in the slots' " + Sizes.human(total));
            }
        } else {
            if (perVcpu == null) {
                throw f.missing(vm, "vm", "memoryPerVcpu", "a size, a multiple of 4 KiB, e.g. 64M");
            }
            int memslots = f.int32(vm, "vm", "memslots", 1, MAX_MEMSLOTS, 1);
            slots = uniformSlots(vm, vcpus, perVcpu, memslots, backing, baseGfn, rootLevel);
        }
        KernelRelease release = kernelRelease(vm);
        org.tdpmmu.core.VmConfig preset = release.apply(org.tdpmmu.core.VmConfig.small());
        KernelSwitches kernel = new KernelSwitches(release.version(),
                f.bool(vm, "vm", "suppressVeNonPresent", preset.suppressVeNonPresent()),
                f.bool(vm, "vm", "spteNeedsAtomicUpdate", preset.spteNeedsAtomicUpdate()),
                f.bool(vm, "vm", "retryBeforeMmuLock", preset.retryBeforeMmuLock()),
                f.bool(vm, "vm", "eagerPageSplit", preset.eagerPageSplit()),
                f.bool(vm, "vm", "splitHugeOnFault", preset.splitHugeOnFault()),
                f.bool(vm, "vm", "faultUnderWriteLock", preset.faultUnderWriteLock()));
        return new VmConfig(vcpus, perVcpu, rootLevel, slots, f.bool(vm, "vm", "overlapVcpuMemory", false),
                f.bool(vm, "vm", "locklessAging", preset.locklessAging()), kernel,
                f.bool(vm, "vm", "slotZapAllQuirk", true),
                f.int32(vm, "vm", "sliceAccesses", 1, VmConfig.MAX_SLICE_ACCESSES, VmConfig.DEFAULT_SLICE_ACCESSES));
    }

    /** {@code vm.kernel}: a preset release, or the newest when absent; an unknown one lists the known. */
    private KernelRelease kernelRelease(YamlNode.MapNode vm) {
        String name = f.string(vm, "vm", "kernel", null);
        if (name == null) {
            return KernelRelease.NEWEST;
        }
        try {
            return KernelRelease.parse(name);
        } catch (IllegalArgumentException e) {
            throw f.error(f.lineOf(vm, "kernel"), "vm.kernel", e.getMessage());
        }
    }

    /** The recovery strategy of a disableDirtyLogging phase that names none: the preset's (same constant names). */
    public static RecoveryStrategy presetStrategy(KernelRelease release) {
        return RecoveryStrategy.valueOf(release.recovery().name());
    }

    /** One past the last gfn a root of {@code rootLevel} levels translates. */
    private static long maxGfn(int rootLevel) {
        return 1L << (VmConfig.guestPhysBits(rootLevel) - 12);
    }

    private static String pastTheSpace(long base, long pages, int rootLevel) {
        int bits = VmConfig.guestPhysBits(rootLevel);
        return String.format("%s of guest memory from gfn 0x%x ends at gfn 0x%x, beyond the %d-bit guest physical "
                + "space of a %d-level root (gfns below 0x%x)", Sizes.human(pages * Sizes.KIB_4), base, base + pages,
                bits, rootLevel, maxGfn(rootLevel));
    }

    /** The fewest equal slots {@code pages} splits into within KVM's memslot size limit. */
    private static long minSlots(long pages) {
        return (pages + SlotConfig.MAX_PAGES - 1) / SlotConfig.MAX_PAGES;
    }

    private Long memoryPerVcpu(YamlNode.MapNode vm) {
        Long v = f.size(vm, "vm", "memoryPerVcpu");
        if (v == null) {
            return null;
        }
        int line = f.lineOf(vm, "memoryPerVcpu");
        if (v <= 0) {
            throw f.error(line, "vm.memoryPerVcpu", v + " is out of range: must be greater than 0 (a multiple of 4 KiB)");
        }
        if (v % Sizes.KIB_4 != 0) {
            throw f.error(line, "vm.memoryPerVcpu", v + " bytes is not a multiple of 4 KiB (4096 bytes)");
        }
        return v;
    }

    private List<SlotConfig> uniformSlots(YamlNode.MapNode vm, int vcpus, long perVcpu, int memslots,
                                          Backing backing, long baseGfn, int rootLevel) {
        long total;
        try {
            total = Math.multiplyExact(vcpus, perVcpu);
        } catch (ArithmeticException e) {
            throw f.error(f.lineOf(vm, "memoryPerVcpu"), "vm.memoryPerVcpu", "guest memory of " + vcpus
                    + " vCPUs x " + perVcpu + " bytes overflows");
        }
        long pages = total / Sizes.KIB_4;
        if (pages % memslots != 0) {
            throw f.error(f.lineOf(vm, "memslots"), "vm.memslots", Sizes.human(total)
                    + " of guest memory does not split into " + memslots + " equal slots of whole 4 KiB pages");
        }
        long perSlot = pages / memslots * Sizes.KIB_4;
        long maxGfn = maxGfn(rootLevel);
        if (pages > maxGfn - baseGfn) {
            // When the memory alone fits the space, the base the user chose pushed it out.
            boolean blameBase = vm.get("slotBaseGfn") != null && pages <= maxGfn;
            throw f.error(f.lineOf(vm, blameBase ? "slotBaseGfn" : "memoryPerVcpu"),
                    blameBase ? "vm.slotBaseGfn" : "vm.memoryPerVcpu",
                    pastTheSpace(baseGfn, pages, rootLevel)
                            + (blameBase ? String.format("; for %s the base can be at most 0x%x", Sizes.human(total),
                                    maxGfn - pages) : rootLevel == 4 ? "; use rootLevel: 5 or less memory" : ""));
        }
        if (pages / memslots > SlotConfig.MAX_PAGES) {
            boolean given = vm.get("memslots") != null;
            throw f.error(f.lineOf(vm, given ? "memslots" : "memoryPerVcpu"), given ? "vm.memslots" : "vm.memoryPerVcpu",
                    (memslots == 1 ? "the slot" : "each of the " + memslots + " slots") + " would hold "
                            + Sizes.human(perSlot) + ", more than " + SlotConfig.MAX_PAGES_TEXT
                            + "; use memslots: " + minSlots(pages) + " or more");
        }
        if (perSlot % backing.pageSize() != 0) {
            String where = memslots == 1 ? "the slot" : "each of the " + memslots + " slots";
            throw f.error(f.lineOf(vm, "backing"), "vm.backing", where + " would hold " + Sizes.human(perSlot)
                    + " (" + vcpus + (vcpus == 1 ? " vCPU x " : " vCPUs x ") + Sizes.format(perVcpu) + (memslots == 1 ? "" : " / " + memslots)
                    + "), not a multiple of the " + backing.yamlName() + " page size (" + Sizes.human(backing.pageSize())
                    + "); a slot size must be a multiple of its backing page size");
        }
        return VmConfig.uniform(vcpus, perVcpu, memslots, backing, 4, baseGfn).slots();
    }

    private List<SlotConfig> slotList(YamlNode.ListNode list, Backing dfltBacking, long firstBase,
                                      YamlNode.MapNode vm, int rootLevel) {
        long maxGfn = maxGfn(rootLevel);
        if (list.items().isEmpty()) {
            throw f.error(list.line(), "vm.slots", "must list at least one slot");
        }
        if (list.items().size() > MAX_MEMSLOTS) {
            throw f.error(list.line(), "vm.slots", list.items().size() + " slots is out of range 1.." + MAX_MEMSLOTS);
        }
        List<SlotConfig> slots = new ArrayList<>();
        List<Integer> lines = new ArrayList<>();
        long next = firstBase;
        for (int i = 0; i < list.items().size(); i++) {
            String path = "vm.slots[" + i + "]";
            YamlNode.MapNode m = f.map(list.items().get(i), path);
            f.allowOnly(m, path, SLOT_FIELDS);
            Backing backing = f.enumValue(m, path, "backing", Backing.class, dfltBacking);
            Long size = f.size(m, path, "size");
            boolean hasPages = f.entry(m, "pages").isPresent();
            if (size != null && hasPages) {
                throw f.error(m.get("pages").keyLine(), path + ".pages", "give either size or pages, not both");
            }
            long pages;
            String sizeField = path + (hasPages ? ".pages" : ".size");
            int sizeLine = f.lineOf(m, hasPages ? "pages" : "size");
            if (hasPages) {
                pages = f.integer(m, path, "pages", 1, SlotConfig.MAX_PAGES, null);
            } else if (size != null) {
                if (size <= 0 || size % Sizes.KIB_4 != 0) {
                    throw f.error(sizeLine, sizeField, size + " bytes is not a positive multiple of 4 KiB (4096 bytes)");
                }
                pages = size / Sizes.KIB_4;
                if (pages > SlotConfig.MAX_PAGES) {
                    throw f.error(sizeLine, sizeField, Sizes.human(size) + " is more than " + SlotConfig.MAX_PAGES_TEXT
                            + "; split it into slots of at most 8 TiB - " + Sizes.human((1L << 43) - (SlotConfig.MAX_PAGES * Sizes.KIB_4 & -backing.pageSize())));
                }
            } else {
                throw f.error(m.line(), path, "missing size (e.g. size: 1G) or pages (4 KiB pages)");
            }
            if (pages % backing.pageFrames() != 0) {
                throw f.error(sizeLine, sizeField, Sizes.human(pages * Sizes.KIB_4) + " is not a multiple of the "
                        + backing.yamlName() + " page size (" + Sizes.human(backing.pageSize())
                        + "); a slot size must be a multiple of its backing page size");
            }
            long base = f.integer(m, path, "baseGfn", 0, maxGfn - 1, next);
            if (pages > maxGfn - base) {
                // Blame the number that put the slot there: its own base if given, else the first
                // slot's vm.slotBaseGfn, else its size (it follows the previous slot).
                boolean ownBase = f.entry(m, "baseGfn").isPresent();
                boolean vmBase = !ownBase && i == 0 && vm.get("slotBaseGfn") != null;
                String field = ownBase ? path + ".baseGfn" : vmBase ? "vm.slotBaseGfn" : sizeField;
                int line = ownBase ? f.lineOf(m, "baseGfn") : vmBase ? f.lineOf(vm, "slotBaseGfn") : sizeLine;
                throw f.error(line, field, pastTheSpace(base, pages, rootLevel));
            }
            SlotConfig slot = new SlotConfig(i, base, pages, backing);
            for (int j = 0; j < slots.size(); j++) {
                SlotConfig o = slots.get(j);
                if (slot.baseGfn() < o.endGfn() && o.baseGfn() < slot.endGfn()) {
                    throw f.error(f.lineOf(m, "baseGfn"), path, String.format(
                            "gfns [0x%x, 0x%x) overlap vm.slots[%d] [0x%x, 0x%x) at line %d",
                            slot.baseGfn(), slot.endGfn(), j, o.baseGfn(), o.endGfn(), lines.get(j)));
                }
            }
            slots.add(slot);
            lines.add(m.line());
            next = slot.endGfn();
        }
        return slots;
    }

    // ---------------------------------------------------------------- costModel

    private CostModel costModel(YamlNode.MapNode root) {
        Optional<YamlNode.Entry> e = f.entry(root, "costModel");
        if (e.isEmpty()) {
            return CostModel.defaults();
        }
        YamlNode.MapNode m = f.map(e.get().value(), "costModel");
        f.allowOnly(m, "costModel", CostModel.keys().toArray(new String[0]));
        Map<String, Long> overrides = new LinkedHashMap<>();
        for (String key : m.entries().keySet()) {
            overrides.put(key, f.integer(m, "costModel", key, 0, CostModel.MAX_UNIT_NANOS, null));
        }
        return CostModel.defaults().withOverrides(overrides);
    }

    // ---------------------------------------------------------------- host

    private List<HostEvent> host(YamlNode.MapNode root, List<Phase> phases, VmConfig vm) {
        Optional<YamlNode.Entry> e = f.entry(root, "host");
        if (e.isEmpty()) {
            return List.of();
        }
        Set<String> present = new LinkedHashSet<>();
        for (Phase p : phases) {
            present.add(p.yamlName());
            if (p instanceof Phase.DirtyPass) {
                present.add("harvest");
            }
        }
        present.remove("teardown");
        long smallest = vm.slots().stream().mapToLong(SlotConfig::pages).min().orElseThrow();
        List<String> allowedDuring = new ArrayList<>();
        allowedDuring.add(HostEvent.ALL);
        allowedDuring.addAll(Arrays.asList(Phase.YAML_NAMES).subList(0, Phase.YAML_NAMES.length - 1));

        YamlNode.ListNode list = f.list(e.get().value(), "host");
        List<HostEvent> events = new ArrayList<>();
        for (int i = 0; i < list.items().size(); i++) {
            String path = "host[" + i + "]";
            YamlNode.MapNode m = f.map(list.items().get(i), path);
            f.allowOnly(m, path, HOST_FIELDS);
            HostEventKind kind = f.enumValue(m, path, "kind", HostEventKind.class, null);
            String during = f.string(m, path, "during", null);
            if (during == null) {
                throw f.missing(m, path, "during", "one of " + String.join(", ", allowedDuring));
            }
            int line = f.lineOf(m, "during");
            if (!allowedDuring.contains(during)) {
                throw f.error(line, path + ".during", "\"" + during + "\" is not one of " + String.join(", ", allowedDuring));
            }
            if (!during.equals(HostEvent.ALL) && !present.contains(during)) {
                throw f.error(line, path + ".during", "this scenario has no " + during
                        + " phase; phases present: " + String.join(", ", present));
            }
            double rate = f.decimal(m, path, "ratePerSecond", 0, MAX_HOST_RATE, null);
            long pages = f.integer(m, path, "pagesPerEvent", 1, smallest, Math.min(DEFAULT_PAGES_PER_EVENT, smallest));
            long seed = f.integer(m, path, "seed", 0, Long.MAX_VALUE, 1L);
            events.add(new HostEvent(kind, during, rate, pages, seed));
        }
        return events;
    }

    // ---------------------------------------------------------------- phases

    /** Reads {@code phases:}: each entry, then the harvest method and the order rules. */
    private static final class PhaseReader {
        private final Fields f;
        /** The strategy of a disableDirtyLogging phase without one: the kernel preset's. */
        private final RecoveryStrategy defaultStrategy;

        PhaseReader(Fields f, RecoveryStrategy defaultStrategy) {
            this.f = f;
            this.defaultStrategy = defaultStrategy;
        }

        private record Raw(String kind, YamlNode.MapNode fields, String path, int line) {
        }

        List<Phase> read(YamlNode.ListNode list) {
            if (list.items().isEmpty()) {
                throw f.error(list.line(), "phases", "must list at least one phase: " + String.join(", ", Phase.YAML_NAMES));
            }
            List<Raw> raws = new ArrayList<>();
            for (int i = 0; i < list.items().size(); i++) {
                raws.add(raw(list.items().get(i), "phases[" + i + "]"));
            }
            HarvestMethod method = harvestMethod(raws);
            List<Phase> phases = new ArrayList<>();
            for (Raw r : raws) {
                phases.add(build(r, method));
            }
            checkOrder(raws, phases, method);
            return phases;
        }

        private Raw raw(YamlNode item, String path) {
            String kind;
            YamlNode.MapNode fields;
            int line;
            if (item instanceof YamlNode.Scalar s) {
                kind = s.text();
                fields = new YamlNode.MapNode(s.line(), Map.of());
                line = s.line();
            } else if (item instanceof YamlNode.MapNode m && m.entries().size() == 1) {
                YamlNode.Entry e = m.entries().values().iterator().next();
                kind = e.key();
                line = e.keyLine();
                fields = f.map(e.value(), path + "." + kind);
            } else if (item instanceof YamlNode.MapNode m) {
                throw f.error(m.line(), path, "expected exactly one phase per list entry, found "
                        + m.entries().size() + " keys (" + String.join(", ", m.entries().keySet())
                        + "); start each phase with its own '- '");
            } else {
                throw f.error(item.line(), path, "expected a phase such as '- dirtyPass: { iterations: 2 }', found "
                        + item.describe());
            }
            if (!Arrays.asList(Phase.YAML_NAMES).contains(kind)) {
                throw f.error(line, path, "\"" + kind + "\" is not a phase; phases are " + String.join(", ", Phase.YAML_NAMES));
            }
            return new Raw(kind, fields, path + "." + kind, line);
        }

        /** The one harvest method of the scenario: the explicit ones must agree; default clear. */
        private HarvestMethod harvestMethod(List<Raw> raws) {
            HarvestMethod found = null;
            String foundAt = null;
            for (Raw r : raws) {
                String key = r.kind().equals("dirtyPass") ? "harvest" : r.kind().equals("harvest") ? "method" : null;
                if (key == null || f.entry(r.fields(), key).isEmpty()) {
                    continue;
                }
                HarvestMethod m = f.enumValue(r.fields(), r.path(), key, HarvestMethod.class, null);
                int line = f.lineOf(r.fields(), key);
                if (found != null && m != found) {
                    throw f.error(line, Fields.join(r.path(), key), "\"" + m.yamlName() + "\" conflicts with \""
                            + found.yamlName() + "\" at " + foundAt
                            + "; KVM's manual-protect mode is VM-wide, so a scenario harvests one way throughout");
                }
                if (found == null) {
                    found = m;
                    foundAt = "line " + line + " (" + Fields.join(r.path(), key) + ")";
                }
            }
            if (found == null) {
                // Ring tracking harvests the rings; the bitmap's default is manual protect.
                boolean ring = raws.stream().anyMatch(r -> r.kind().equals("enableDirtyLogging")
                        && f.entry(r.fields(), "tracking").isPresent()
                        && f.enumValue(r.fields(), r.path(), "tracking", DirtyTracking.class, null) == DirtyTracking.RING);
                return ring ? HarvestMethod.RING : HarvestMethod.CLEAR;
            }
            return found;
        }

        private Phase build(Raw r, HarvestMethod method) {
            YamlNode.MapNode m = r.fields();
            String p = r.path();
            switch (r.kind()) {
                case "populate":
                    f.allowOnly(m, p);
                    return new Phase.Populate();
                case "enableDirtyLogging": {
                    f.allowOnly(m, p, "mode", "eagerSplit", "initiallySet", "tracking", "ringEntries");
                    DirtyTracking tracking = f.enumValue(m, p, "tracking", DirtyTracking.class, DirtyTracking.BITMAP);
                    return new Phase.EnableDirtyLogging(
                            f.enumValue(m, p, "mode", DirtyLogMode.class, DirtyLogMode.WRPROT),
                            f.bool(m, p, "eagerSplit", false),
                            f.bool(m, p, "initiallySet", false),
                            tracking, ringEntries(m, p, tracking));
                }
                case "dirtyPass": {
                    f.allowOnly(m, p, PASS_FIELDS);
                    int iterations = f.int32(m, p, "iterations", 1, MAX_ITERATIONS, 1);
                    int write = f.int32(m, p, "writePercent", 0, 100, 100);
                    AccessPattern pattern = f.enumValue(m, p, "pattern", AccessPattern.class, AccessPattern.SEQUENTIAL);
                    double zipf = zipf(m, p, pattern);
                    long seed = f.integer(m, p, "seed", 0, Long.MAX_VALUE, 1L);
                    return new Phase.DirtyPass(iterations, write, pattern, zipf, seed, method);
                }
                case "harvest":
                    f.allowOnly(m, p, "method");
                    return new Phase.Harvest(method);
                case "disableDirtyLogging":
                    f.allowOnly(m, p, "strategy", "vcpusRunning");
                    return new Phase.DisableDirtyLogging(
                            f.enumValue(m, p, "strategy", RecoveryStrategy.class, defaultStrategy),
                            f.bool(m, p, "vcpusRunning", false));
                case "secondPass":
                    f.allowOnly(m, p, SECOND_PASS_FIELDS);
                    return workload(m, p, 0);
                case "age":
                    f.allowOnly(m, p, "flush", "pagesPerCall");
                    return new Phase.Age(f.bool(m, p, "flush", false),
                            f.integer(m, p, "pagesPerCall", 1, 1L << 30, DEFAULT_AGE_PAGES_PER_CALL));
                case "memslotChange": {
                    f.allowOnly(m, p, MEMSLOT_CHANGE_FIELDS);
                    Phase.SecondPass w = workload(m, p, 100);
                    long delay = f.integer(m, p, "delayMicros", 0, 10_000_000, 0L);
                    YamlNode.Entry ce = f.entry(m, "changes").orElseThrow(() -> f.missing(m, p, "changes",
                            "a list of changes such as { op: create, slot: 10, baseGfn: 0x200000, pages: 512 }"));
                    YamlNode.ListNode list = f.list(ce.value(), p + ".changes");
                    if (list.items().isEmpty()) {
                        throw f.error(ce.keyLine(), p + ".changes", "must list at least one change");
                    }
                    List<Phase.MemslotChange.Change> changes = new ArrayList<>();
                    for (int i = 0; i < list.items().size(); i++) {
                        changes.add(memslotChange(f.map(list.items().get(i), p + ".changes[" + i + "]"),
                                p + ".changes[" + i + "]"));
                    }
                    return new Phase.MemslotChange(changes, w.writePercent(), w.pattern(), w.zipfExponent(), w.seed(), delay);
                }
                case "teardown":
                    f.allowOnly(m, p);
                    return new Phase.Teardown();
                default:
                    throw new IllegalStateException(r.kind());
            }
        }

        /** A pass's workload fields ({@code writePercent}, {@code pattern}, {@code zipfExponent}, {@code seed}). */
        private Phase.SecondPass workload(YamlNode.MapNode m, String p, int defaultWrite) {
            int write = f.int32(m, p, "writePercent", 0, 100, defaultWrite);
            AccessPattern pattern = f.enumValue(m, p, "pattern", AccessPattern.class, AccessPattern.SEQUENTIAL);
            double zipf = zipf(m, p, pattern);
            long seed = f.integer(m, p, "seed", 0, Long.MAX_VALUE, 1L);
            return new Phase.SecondPass(write, pattern, zipf, seed);
        }

        /** One entry of a memslotChange's {@code changes}: its fields, each only where its op takes it. */
        private Phase.MemslotChange.Change memslotChange(YamlNode.MapNode m, String p) {
            f.allowOnly(m, p, CHANGE_FIELDS);
            Phase.MemslotChange.Op op = f.enumValue(m, p, "op", Phase.MemslotChange.Op.class, null);
            int slot = f.int32(m, p, "slot", 0, MAX_CHANGE_SLOT, null);
            boolean place = op == Phase.MemslotChange.Op.CREATE || op == Phase.MemslotChange.Op.MOVE;
            for (String field : new String[] {"baseGfn", "pages", "size", "backing", "dirtyLogging"}) {
                boolean takes = switch (field) {
                    case "baseGfn" -> place;
                    case "pages", "size", "backing" -> op == Phase.MemslotChange.Op.CREATE;
                    default -> op == Phase.MemslotChange.Op.FLAGS;
                };
                if (!takes && f.entry(m, field).isPresent()) {
                    throw f.error(f.lineOf(m, field), p + "." + field, "not taken by op " + op.yamlName()
                            + " (create: slot, baseGfn, pages or size, backing; move: slot, baseGfn; flags: slot, "
                            + "dirtyLogging; delete, recreate: slot)");
                }
            }
            long base = place ? f.integer(m, p, "baseGfn", 0, Long.MAX_VALUE, null) : 0;
            long pages = 0;
            Backing backing = null;
            if (op == Phase.MemslotChange.Op.CREATE) {
                backing = f.enumValue(m, p, "backing", Backing.class, Backing.ANONYMOUS);
                Long size = f.size(m, p, "size");
                boolean hasPages = f.entry(m, "pages").isPresent();
                if (size != null && hasPages) {
                    throw f.error(f.lineOf(m, "pages"), p + ".pages", "give either size or pages, not both");
                }
                String field = p + (hasPages ? ".pages" : ".size");
                if (hasPages) {
                    pages = f.integer(m, p, "pages", 1, SlotConfig.MAX_PAGES, null);
                } else if (size != null) {
                    if (size <= 0 || size % Sizes.KIB_4 != 0 || size / Sizes.KIB_4 > SlotConfig.MAX_PAGES) {
                        throw f.error(f.lineOf(m, "size"), field, size + " bytes is not a positive multiple of 4 KiB "
                                + "of at most " + SlotConfig.MAX_PAGES_TEXT + " (KVM_SET_USER_MEMORY_REGION: -EINVAL)");
                    }
                    pages = size / Sizes.KIB_4;
                } else {
                    throw f.error(m.line(), p, "missing pages (4 KiB pages) or size for op create");
                }
                if (pages % backing.pageFrames() != 0) {
                    throw f.error(f.lineOf(m, hasPages ? "pages" : "size"), field, Sizes.human(pages * Sizes.KIB_4)
                            + " is not a multiple of the " + backing.yamlName() + " page size ("
                            + Sizes.human(backing.pageSize()) + ")");
                }
            }
            boolean log = op == Phase.MemslotChange.Op.FLAGS
                    && f.entry(m, "dirtyLogging").isEmpty()
                    ? missingDirtyLogging(m, p) : f.bool(m, p, "dirtyLogging", false);
            return new Phase.MemslotChange.Change(op, slot, base, pages, backing, log, m.line(), p);
        }

        private boolean missingDirtyLogging(YamlNode.MapNode m, String p) {
            throw f.missing(m, p, "dirtyLogging", "true (set KVM_MEM_LOG_DIRTY_PAGES) or false (clear it)");
        }

        /** {@code ringEntries}: only with ring tracking, a size the kernel accepts (default {@value #DEFAULT_RING_ENTRIES}). */
        private int ringEntries(YamlNode.MapNode m, String p, DirtyTracking tracking) {
            if (tracking != DirtyTracking.RING) {
                if (f.entry(m, "ringEntries").isPresent()) {
                    throw f.error(f.lineOf(m, "ringEntries"), p + ".ringEntries",
                            "only allowed with tracking: ring (tracking is " + tracking.yamlName() + ")");
                }
                return 0;
            }
            int entries = f.int32(m, p, "ringEntries", DirtyRing.minEntries(DirtyRing.PML_ENTRIES), DirtyRing.MAX_ENTRIES,
                    DEFAULT_RING_ENTRIES);
            if (Integer.bitCount(entries) != 1) {
                throw f.error(f.lineOf(m, "ringEntries"), p + ".ringEntries", entries + " is not a power of two "
                        + "(KVM_CAP_DIRTY_LOG_RING takes a power-of-two size)");
            }
            return entries;
        }

        private double zipf(YamlNode.MapNode m, String p, AccessPattern pattern) {
            if (pattern != AccessPattern.ZIPF) {
                if (f.entry(m, "zipfExponent").isPresent()) {
                    throw f.error(f.lineOf(m, "zipfExponent"), p + ".zipfExponent",
                            "only allowed with pattern: zipf (pattern is " + pattern.yamlName() + ")");
                }
                return 0;
            }
            return f.decimal(m, p, "zipfExponent", 0, MAX_ZIPF_EXPONENT, DEFAULT_ZIPF_EXPONENT);
        }

        /** Dirty logging must be on to harvest, pass or disable; off to enable; nothing after teardown. */
        private void checkOrder(List<Raw> raws, List<Phase> phases, HarvestMethod method) {
            Raw enabledBy = null;
            Raw teardown = null;
            Raw ringBy = null;
            int ringEntries = 0;
            for (int i = 0; i < phases.size(); i++) {
                Phase phase = phases.get(i);
                Raw r = raws.get(i);
                if (teardown != null) {
                    throw f.error(r.line(), r.path(), "no phase may follow teardown (" + teardown.path()
                            + " at line " + teardown.line() + ")");
                }
                if (phase instanceof Phase.EnableDirtyLogging e) {
                    if (enabledBy != null) {
                        throw f.error(r.line(), r.path(), "dirty logging is already enabled (by " + enabledBy.path()
                                + " at line " + enabledBy.line() + "); disable it first");
                    }
                    if ((e.tracking() == DirtyTracking.RING) != (method == HarvestMethod.RING)) {
                        throw f.error(r.line(), r.path(), e.tracking() == DirtyTracking.RING
                                ? "tracking: ring harvests with the ring method, but this scenario harvests with "
                                        + method.yamlName()
                                : "the ring harvest method needs tracking: ring here (tracking is bitmap)");
                    }
                    if (ringBy != null && e.ringEntries() != ringEntries) {
                        throw f.error(r.line(), r.path(), "ringEntries " + e.ringEntries() + " differs from the "
                                + ringEntries + " of " + ringBy.path() + " at line " + ringBy.line()
                                + "; the ring size is VM-wide and set once (KVM_CAP_DIRTY_LOG_RING)");
                    }
                    if (e.tracking() == DirtyTracking.RING) {
                        ringBy = r;
                        ringEntries = e.ringEntries();
                    }
                    if (e.initiallySet() && method != HarvestMethod.CLEAR) {
                        throw f.error(f.lineOf(r.fields(), "initiallySet"), r.path() + ".initiallySet",
                                "true requires the clear harvest method (KVM_DIRTY_LOG_INITIALLY_SET needs manual protect), "
                                        + "but this scenario harvests with " + method.yamlName());
                    }
                    enabledBy = r;
                } else if (phase instanceof Phase.DisableDirtyLogging) {
                    if (enabledBy == null) {
                        throw f.error(r.line(), r.path(), "dirty logging is not enabled here; add an enableDirtyLogging phase before it");
                    }
                    enabledBy = null;
                } else if (phase instanceof Phase.DirtyPass || phase instanceof Phase.Harvest) {
                    if (enabledBy == null) {
                        throw f.error(r.line(), r.path(), "requires dirty logging to be enabled; add an enableDirtyLogging phase before it");
                    }
                } else if (phase instanceof Phase.Teardown) {
                    teardown = r;
                }
            }
        }
    }
}
