package org.tdpmmu.scenarios.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.tdpmmu.core.KernelRelease;
import org.tdpmmu.scenarios.model.KernelSwitches;
import org.tdpmmu.scenarios.model.VmConfig;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.tdpmmu.scenarios.model.AccessPattern;
import org.tdpmmu.scenarios.model.Backing;
import org.tdpmmu.scenarios.model.CostModel;
import org.tdpmmu.scenarios.model.DirtyLogMode;
import org.tdpmmu.scenarios.model.HarvestMethod;
import org.tdpmmu.scenarios.model.HostEvent;
import org.tdpmmu.scenarios.model.HostEventKind;
import org.tdpmmu.scenarios.model.Phase;
import org.tdpmmu.scenarios.model.RecoveryStrategy;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.model.ScenarioException;
import org.tdpmmu.scenarios.model.SlotConfig;
import org.tdpmmu.scenarios.model.Step;
import org.tdpmmu.scenarios.support.Shipped;

class ScenarioLoaderTest {

    /** Line numbers matter: tests below replace single lines of this text. */
    private static final String BASE = String.join("\n",
            "name: t",                                          // 1
            "vm:",                                              // 2
            "  vcpus: 4",                                       // 3
            "  memoryPerVcpu: 64M",                             // 4
            "  memslots: 1",                                    // 5
            "  backing: anonymous_hugetlb_2mb",                 // 6
            "phases:",                                          // 7
            "  - populate: {}",                                 // 8
            "  - enableDirtyLogging: { mode: wrprot }",         // 9
            "  - dirtyPass: { iterations: 2 }",                 // 10
            "  - disableDirtyLogging: { strategy: zap_huge }",  // 11
            "  - teardown: {}",                                 // 12
            "");

    private static String replace(int line, String text) {
        List<String> lines = new java.util.ArrayList<>(List.of(BASE.split("\n", -1)));
        lines.set(line - 1, text);
        return String.join("\n", lines);
    }

    private static String insertAfter(int line, String text) {
        List<String> lines = new java.util.ArrayList<>(List.of(BASE.split("\n", -1)));
        lines.add(line, text);
        return String.join("\n", lines);
    }

    private static ScenarioException fail(String yaml) {
        return assertThrows(ScenarioException.class, () -> ScenarioLoader.parse(yaml, "bad.yaml"));
    }

    private static void assertMessage(String yaml, String expected) {
        assertEquals(expected, fail(yaml).getMessage());
    }

    private static void assertContains(String yaml, String... parts) {
        String m = fail(yaml).getMessage();
        for (String p : parts) {
            assertTrue(m.contains(p), () -> "message <" + m + "> lacks <" + p + ">");
        }
        assertFalse(m.contains("\n"), "one line: " + m);
    }

    // ------------------------------------------------------------------ happy paths

    @Test
    void baseParses() {
        Scenario s = ScenarioLoader.parse(BASE, "base.yaml");
        assertEquals("t", s.name());
        assertEquals(4, s.vm().vcpus());
        assertEquals(64L << 20, s.vm().memoryPerVcpu());
        assertEquals(List.of(new SlotConfig(0, 0x100000, 65536, Backing.ANONYMOUS_HUGETLB_2MB)), s.vm().slots());
        assertEquals(4, s.vm().rootLevel());
        assertEquals(CostModel.defaults(), s.costModel());
        assertEquals(List.of(new Phase.Populate(),
                new Phase.EnableDirtyLogging(DirtyLogMode.WRPROT, false, false),
                new Phase.DirtyPass(2, 100, AccessPattern.SEQUENTIAL, 0, 1, HarvestMethod.CLEAR),
                new Phase.DisableDirtyLogging(RecoveryStrategy.ZAP_HUGE, false),
                new Phase.Teardown()), s.phases());
        assertEquals(List.of(), s.host());
        assertEquals("base.yaml", s.source());
    }

    static List<String> shipped() {
        return Shipped.NAMES;
    }

    @ParameterizedTest
    @MethodSource("shipped")
    void everyShippedScenarioLoads(String name) {
        Scenario s = ScenarioLoader.load(Shipped.path(name));
        assertEquals(name.replace(".yaml", ""), s.name());
        assertFalse(s.description().isEmpty());
        assertTrue(s.disablesDirtyLogging(), "each shipped scenario disables dirty logging (compare needs it)");
        assertEquals("teardown", s.steps().get(s.steps().size() - 1).name());
    }

    @Test
    void smallDefaultIsWhatItSays() {
        Scenario s = ScenarioLoader.load(Shipped.path("small-default.yaml"));
        assertEquals(4, s.vm().vcpus());
        assertEquals(64L << 20, s.vm().memoryPerVcpu());
        assertEquals(Optional.of(Backing.ANONYMOUS_HUGETLB_2MB), s.vm().uniformBacking());
        assertEquals(Optional.of(RecoveryStrategy.PROMOTE_IN_PLACE), s.strategy());
        assertEquals(new Phase.EnableDirtyLogging(DirtyLogMode.WRPROT, false, false), s.phases().get(1));
        assertEquals(List.of("populate", "enable-dirty-logging", "dirty-pass-1", "get-dirty-log-1", "clear-dirty-log-1",
                "dirty-pass-2", "get-dirty-log-2", "clear-dirty-log-2", "disable-dirty-logging", "second-pass", "teardown"),
                s.steps().stream().map(Step::name).toList());
    }

    @Test
    void kernelSizedIs96By1G() {
        Scenario s = ScenarioLoader.load(Shipped.path("kernel-sized.yaml"));
        assertEquals(96, s.vm().vcpus());
        assertEquals(96L << 30, s.vm().totalBytes());
        assertTrue(((Phase.EnableDirtyLogging) s.phases().get(1)).eagerSplit());
        assertEquals(2, ((Phase.DirtyPass) s.phases().get(2)).iterations());
    }

    @Test
    void migrationRaceHasHostEvents() {
        Scenario s = ScenarioLoader.load(Shipped.path("migration-race.yaml"));
        assertEquals(List.of(new HostEvent(HostEventKind.MIGRATE, "dirtyPass", 200, 512, 3),
                new HostEvent(HostEventKind.INVALIDATE, "disableDirtyLogging", 500, 16, 4)), s.host());
        assertTrue(((Phase.DisableDirtyLogging) s.phases().get(3)).vcpusRunning());
    }

    @Test
    void mixedBackingSlotsAreNotGigabyteAligned() {
        Scenario s = ScenarioLoader.load(Shipped.path("mixed-backing.yaml"));
        List<SlotConfig> slots = s.vm().slots();
        assertEquals(4, slots.size());
        assertEquals(new SlotConfig(0, 0x100200, 262144, Backing.ANONYMOUS_HUGETLB_1GB), slots.get(0));
        assertEquals(new SlotConfig(1, 0x140200, 65536, Backing.ANONYMOUS_HUGETLB_2MB), slots.get(1));
        assertEquals(new SlotConfig(2, 0x150600, 16384, Backing.ANONYMOUS_THP), slots.get(2));
        assertEquals(new SlotConfig(3, 0x160001, 4096, Backing.ANONYMOUS), slots.get(3));
        assertTrue(slots.stream().noneMatch(x -> x.baseGfn() % 0x40000 == 0));
        assertEquals(2, slots.get(0).maxLevel());
        assertEquals((1360L << 20) / 4, s.vm().memoryPerVcpu());
        assertEquals(4000, s.costModel().unit("tlb.flush.vcpus"));
        assertEquals(Optional.of(HarvestMethod.GET), s.harvestMethod());
        assertEquals(new Phase.DirtyPass(2, 60, AccessPattern.ZIPF, 1.1, 5, HarvestMethod.GET), s.phases().get(2));
        assertEquals(new Phase.Populate(), s.phases().get(0), "a bare phase name is a phase with defaults");
    }

    @Test
    void hexAndPlainNumbersAndDefaults() {
        Scenario s = ScenarioLoader.parse(String.join("\n",
                "vm: { vcpus: 2, memoryPerVcpu: 0x400000, slotBaseGfn: 0x80000, rootLevel: 5 }",
                "phases: [ populate, secondPass ]"), "dir/my-test.yaml");
        assertEquals("my-test", s.name(), "name defaults to the file name");
        assertEquals(4L << 20, s.vm().memoryPerVcpu());
        assertEquals(0x80000, s.vm().slots().get(0).baseGfn());
        assertEquals(Backing.ANONYMOUS, s.vm().slots().get(0).backing());
        assertEquals(5, s.vm().rootLevel());
        assertEquals(new Phase.SecondPass(0, AccessPattern.SEQUENTIAL, 0, 1), s.phases().get(1));
        assertEquals(Optional.empty(), s.strategy());
    }

    @Test
    void harvestMethodDefaultsToTheOneGiven() {
        Scenario s = ScenarioLoader.parse(insertAfter(10, "  - harvest: { method: get }"), "x.yaml");
        assertEquals(HarvestMethod.GET, ((Phase.DirtyPass) s.phases().get(2)).harvest());
    }

    // ------------------------------------------------------------------ bad input: one clear message

    @Test
    void locklessAging() {
        assertTrue(ScenarioLoader.parse(BASE, "base.yaml").vm().locklessAging(), "lockless by default, as the newest kernel");
        assertFalse(ScenarioLoader.parse(insertAfter(6, "  locklessAging: false"), "l.yaml").vm().locklessAging());
        assertTrue(ScenarioLoader.parse(insertAfter(6, "  locklessAging: true"), "l.yaml").vm().locklessAging());
        assertMessage(insertAfter(6, "  locklessAging: 1"), "bad.yaml:7: vm.locklessAging: 1 is not one of true, false");
    }

    @Test
    void kernelPresetSetsEverySwitchAndExplicitSwitchesOverrideIt() {
        VmConfig newest = ScenarioLoader.parse(BASE, "base.yaml").vm();
        assertEquals(KernelSwitches.NEWEST, newest.kernel(), "the newest release by default");
        assertEquals(KernelRelease.NEWEST.version(), KernelSwitches.NEWEST.release());
        org.tdpmmu.core.VmConfig core = KernelRelease.NEWEST.apply(org.tdpmmu.core.VmConfig.small());
        assertEquals(new KernelSwitches(KernelRelease.NEWEST.version(), core.suppressVeNonPresent(),
                core.spteNeedsAtomicUpdate(), core.retryBeforeMmuLock(), core.eagerPageSplit(), core.splitHugeOnFault(),
                core.faultUnderWriteLock()), KernelSwitches.NEWEST,
                "the model's default is the preset table's newest row");
        VmConfig old = ScenarioLoader.parse(insertAfter(6, "  kernel: 5.15"), "k.yaml").vm();
        assertEquals(new KernelSwitches("5.15", false, false, false, false, false, false), old.kernel());
        VmConfig before512 = ScenarioLoader.parse(insertAfter(6, "  kernel: 5.15\n  faultUnderWriteLock: true"), "k.yaml").vm();
        assertTrue(before512.kernel().faultUnderWriteLock(), "no preset has it: only explicitly");
        assertFalse(old.locklessAging());
        VmConfig v612 = ScenarioLoader.parse(insertAfter(6, "  kernel: 6.12\n  eagerPageSplit: false\n  locklessAging: true"),
                "k.yaml").vm();
        assertEquals(new KernelSwitches("6.12", true, false, true, false, true, false), v612.kernel(), "explicit eagerPageSplit wins");
        assertTrue(v612.locklessAging(), "explicit locklessAging wins");
        assertMessage(insertAfter(6, "  kernel: 6.7"),
                "bad.yaml:7: vm.kernel: unknown kernel release \"6.7\"; known: 5.15, 6.1, 6.6, 6.12, 6.18");
    }

    @Test
    void aDisableWithoutAStrategyTakesThePresetsAndAnExplicitOneStays() {
        String noStrategy = replace(11, "  - disableDirtyLogging: {}");
        assertEquals(Optional.of(RecoveryStrategy.PROMOTE_IN_PLACE), ScenarioLoader.parse(noStrategy, "s.yaml").strategy());
        String v515 = noStrategy.replace("  backing: anonymous_hugetlb_2mb", "  backing: anonymous_hugetlb_2mb\n  kernel: 5.15");
        assertEquals(Optional.of(RecoveryStrategy.ZAP_LEAFS), ScenarioLoader.parse(v515, "s.yaml").strategy());
        assertEquals(Optional.of(RecoveryStrategy.ZAP_HUGE), ScenarioLoader.parse(
                v515.replace("kernel: 5.15", "kernel: 6.6"), "s.yaml").strategy());
        assertEquals(Optional.of(RecoveryStrategy.ZAP_HUGE), ScenarioLoader.parse(insertAfter(6, "  kernel: 6.18"),
                "s.yaml").strategy(), "the file's zap_huge");
    }

    @Test
    void overlapVcpuMemory() {
        assertFalse(ScenarioLoader.parse(BASE, "base.yaml").vm().overlapVcpuMemory(), "each vCPU on its own region by default");
        Scenario s = ScenarioLoader.parse(insertAfter(6, "  overlapVcpuMemory: true"), "o.yaml");
        assertTrue(s.vm().overlapVcpuMemory());
        assertEquals(4 * 16384, s.vm().pagesPerVcpuPass(), "every vCPU goes over all 256 MiB");
        assertMessage(insertAfter(6, "  overlapVcpuMemory: yes"),
                "bad.yaml:7: vm.overlapVcpuMemory: yes is not one of true, false");
    }

    @Test
    void backingNotOneOf() {
        assertMessage(replace(6, "  backing: hugetlb"),
                "bad.yaml:6: vm.backing: \"hugetlb\" is not one of anonymous, anonymous_thp, anonymous_hugetlb_2mb, anonymous_hugetlb_1gb");
    }

    @Test
    void sliceAccessesDefaultsToABaseSliceAndIsRangeChecked() {
        assertEquals(VmConfig.DEFAULT_SLICE_ACCESSES, ScenarioLoader.parse(BASE, "base.yaml").vm().sliceAccesses());
        assertEquals(1, ScenarioLoader.parse(insertAfter(6, "  sliceAccesses: 1"), "s.yaml").vm().sliceAccesses());
        assertEquals(1 << 24, ScenarioLoader.parse(insertAfter(6, "  sliceAccesses: 16777216"), "s.yaml").vm().sliceAccesses());
        assertMessage(insertAfter(6, "  sliceAccesses: 0"), "bad.yaml:7: vm.sliceAccesses: 0 is out of range 1..16777216");
        assertMessage(insertAfter(6, "  sliceAccesses: 16777217"),
                "bad.yaml:7: vm.sliceAccesses: 16777217 is out of range 1..16777216");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ScenarioLoader.parse(BASE, "base.yaml").vm().withSliceAccesses(0));
        assertTrue(e.getMessage().startsWith("vm.sliceAccesses: 0 is out of range 1..16777216"), e.getMessage());
    }

    @Test
    void vcpusOutOfRange() {
        assertMessage(replace(3, "  vcpus: 0"), "bad.yaml:3: vm.vcpus: 0 is out of range 1..512");
        assertMessage(replace(3, "  vcpus: 513"), "bad.yaml:3: vm.vcpus: 513 is out of range 1..512");
        assertMessage(replace(3, "  vcpus: four"), "bad.yaml:3: vm.vcpus: \"four\" is not an integer (allowed: 1..512)");
        assertMessage(replace(3, "  vcpus: [1, 2]"), "bad.yaml:3: vm.vcpus: expected an integer in 1..512, found a list");
    }

    @Test
    void unknownFieldsListTheAllowedOnes() {
        assertMessage(replace(3, "  vcpu: 4"), "bad.yaml:3: vm.vcpu: unknown field; allowed fields of vm: "
                + "vcpus, memoryPerVcpu, memslots, backing, rootLevel, slotBaseGfn, slots, overlapVcpuMemory, locklessAging, kernel, "
                + "suppressVeNonPresent, spteNeedsAtomicUpdate, retryBeforeMmuLock, eagerPageSplit, splitHugeOnFault, faultUnderWriteLock, slotZapAllQuirk, sliceAccesses");
        assertMessage(replace(1, "nmae: t"), "bad.yaml:1: nmae: unknown field; allowed fields: "
                + "name, description, vm, costModel, phases, host");
        assertMessage(replace(10, "  - dirtyPass: { iteration: 2 }"), "bad.yaml:10: phases[2].dirtyPass.iteration: "
                + "unknown field; allowed fields of phases[2].dirtyPass: iterations, writePercent, pattern, zipfExponent, seed, harvest");
        assertContains(replace(8, "  - populate: { writePercent: 5 }"), "bad.yaml:8:", "phases[0].populate.writePercent: unknown field");
    }

    @Test
    void sizes() {
        assertMessage(replace(4, "  memoryPerVcpu: 64X"), "bad.yaml:4: vm.memoryPerVcpu: \"64X\" is not a size "
                + "(a number of bytes, optionally followed by K, M, G or T (e.g. 4096, 64M, 1G))");
        assertMessage(replace(4, "  memoryPerVcpu: 5000"), "bad.yaml:4: vm.memoryPerVcpu: 5000 bytes is not a multiple of 4 KiB (4096 bytes)");
        assertContains(replace(4, "  memoryPerVcpu: 0"), "bad.yaml:4: vm.memoryPerVcpu: 0 is out of range", "greater than 0");
        assertMessage(replace(4, "  memoryPerVcpu: 1_000_000_000_000_000T"), "bad.yaml:4: vm.memoryPerVcpu: "
                + "\"1_000_000_000_000_000T\" is too large (sizes stop below 8 EiB, 2^63 bytes; guest memory must also "
                + "fit in the 48-bit (rootLevel 4) or 57-bit (rootLevel 5) guest physical space)");
        assertContains(replace(4, "  memoryPerVcpu: 0x10000000000000000"), "bad.yaml:4: vm.memoryPerVcpu:", "is too large");
        assertContains(replace(4, "  memoryPerVcpu: " + "9".repeat(100_000)), "bad.yaml:4: vm.memoryPerVcpu:", "is too large");
    }

    @Test
    void overflowingIntegersAreTooLargeNotMalformed() {
        assertMessage(replace(3, "  vcpus: 99999999999999999999999"),
                "bad.yaml:3: vm.vcpus: 99999999999999999999999 is too large (allowed: 1..512)");
        assertMessage(replace(3, "  vcpus: -99999999999999999999999"),
                "bad.yaml:3: vm.vcpus: -99999999999999999999999 is too small (allowed: 1..512)");
        assertMessage(replace(3, "  vcpus: 0xffffffffffffffffff"),
                "bad.yaml:3: vm.vcpus: 0xffffffffffffffffff is too large (allowed: 1..512)");
        assertMessage(replace(3, "  vcpus: 12abc"), "bad.yaml:3: vm.vcpus: \"12abc\" is not an integer (allowed: 1..512)");
    }

    @Test
    void slotSizeMustBeAMultipleOfTheBackingPage() {
        assertContains(replace(3, "  vcpus: 3").replace("64M", "1M"),
                "bad.yaml:6: vm.backing: the slot would hold 3 MiB", "not a multiple of the anonymous_hugetlb_2mb page size (2 MiB)");
        assertContains(replace(5, "  memslots: 3"),
                "bad.yaml:5: vm.memslots:", "does not split into 3 equal slots");
        assertContains(replace(5, "  memslots: 256"),
                "bad.yaml:6: vm.backing: each of the 256 slots would hold 1 MiB", "(2 MiB)");
        assertContains(replace(6, "  backing: anonymous_hugetlb_1gb"),
                "bad.yaml:6: vm.backing: the slot would hold 256 MiB", "anonymous_hugetlb_1gb page size (1 GiB)");
    }

    @Test
    void slotsList() {
        String head = "vm:\n  vcpus: 1\n  slots:\n";
        String tail = "\nphases: [populate]\n";
        assertContains(head + "    - { size: 3M, backing: anonymous_hugetlb_2mb }" + tail,
                "bad.yaml:4: vm.slots[0].size: 3 MiB is not a multiple of the anonymous_hugetlb_2mb page size (2 MiB)");
        assertContains(head + "    - { size: 4M, pages: 1024 }" + tail, "bad.yaml:4: vm.slots[0].pages: give either size or pages");
        assertContains(head + "    - { backing: anonymous }" + tail, "bad.yaml:4: vm.slots[0]: missing size");
        assertContains(head + "    - { size: 4M, baseGfn: 0x1000 }\n    - { size: 4M, baseGfn: 0x1200 }" + tail,
                "bad.yaml:5: vm.slots[1]: gfns [0x1200, 0x1600) overlap vm.slots[0] [0x1000, 0x1400) at line 4");
        assertContains("vm:\n  vcpus: 1\n  memslots: 2\n  slots:\n    - { size: 4M }" + tail,
                "bad.yaml:3: vm.memslots: not allowed together with vm.slots");
        assertContains("vm:\n  vcpus: 4\n  memoryPerVcpu: 2M\n  slots:\n    - { size: 4M }" + tail,
                "bad.yaml:3: vm.memoryPerVcpu: 4 vCPUs x 2M does not fit in the slots' 4 MiB");
        assertContains(head + "    - { size: 4M, color: red }" + tail,
                "bad.yaml:4: vm.slots[0].color: unknown field; allowed fields of vm.slots[0]: size, pages, backing, baseGfn");
    }

    @Test
    void addressSpace() {
        // the base pushes memory that would fit out of the space: the base is to blame
        assertMessage(replace(2, "vm:\n  slotBaseGfn: 0xffffff000"), "bad.yaml:3: vm.slotBaseGfn: 256 MiB of guest "
                + "memory from gfn 0xffffff000 ends at gfn 0x100000f000, beyond the 48-bit guest physical space of a "
                + "4-level root (gfns below 0x1000000000); for 256 MiB the base can be at most 0xfffff0000");
        assertContains(replace(2, "vm:\n  slotBaseGfn: 0x1000000000"), "bad.yaml:3: vm.slotBaseGfn: 0x1000000000 is out "
                + "of range 0..68719476735");
        // memory that cannot fit anywhere is blamed on its size
        assertContains(replace(3, "  vcpus: 512").replace("64M", "1T").replace("memslots: 1", "memslots: 128"),
                "bad.yaml:4: vm.memoryPerVcpu: 512 TiB of guest memory from gfn 0x100000", "beyond the 48-bit guest physical "
                        + "space of a 4-level root", "rootLevel: 5");
        // slots: their own baseGfn, the vm's slotBaseGfn for the first, else the size of the one that ends past
        String head = "vm:\n  vcpus: 1\n";
        String tail = "\nphases: [populate]\n";
        assertContains(head + "  slots:\n    - { size: 4M }\n    - { size: 4M, baseGfn: 0xfffffff00 }" + tail,
                "bad.yaml:5: vm.slots[1].baseGfn: 4 MiB of guest memory from gfn 0xfffffff00 ends at gfn 0x1000000300");
        assertContains(head + "  slotBaseGfn: 0xfffffff00\n  slots:\n    - { size: 4M }" + tail,
                "bad.yaml:3: vm.slotBaseGfn: 4 MiB of guest memory from gfn 0xfffffff00");
        assertContains(head + "  slots:\n    - { size: 4M, baseGfn: 0xffffff000 }\n    - { size: 8G }" + tail,
                "bad.yaml:5: vm.slots[1].size: 8 GiB of guest memory from gfn 0xffffff400");
        assertContains(head + "  slots:\n    - { size: 4M, baseGfn: 0x1000000000 }" + tail,
                "bad.yaml:4: vm.slots[0].baseGfn: 0x1000000000 is out of range 0..68719476735");
        assertMessage(replace(2, "vm:\n  rootLevel: 6"), "bad.yaml:3: vm.rootLevel: 6 is out of range 4..5");
    }

    @Test
    void phaseOrder() {
        assertMessage(replace(9, "  - secondPass: {}"),
                "bad.yaml:10: phases[2].dirtyPass: requires dirty logging to be enabled; add an enableDirtyLogging phase before it");
        assertMessage(replace(9, "  - populate").replace("  - dirtyPass: { iterations: 2 }", "  - secondPass"),
                "bad.yaml:11: phases[3].disableDirtyLogging: dirty logging is not enabled here; add an enableDirtyLogging phase before it");
        assertMessage(replace(8, "  - harvest: {}"),
                "bad.yaml:8: phases[0].harvest: requires dirty logging to be enabled; add an enableDirtyLogging phase before it");
        assertMessage(insertAfter(9, "  - enableDirtyLogging: {}"),
                "bad.yaml:10: phases[2].enableDirtyLogging: dirty logging is already enabled (by phases[1].enableDirtyLogging at line 9); disable it first");
        assertMessage(insertAfter(12, "  - populate"),
                "bad.yaml:13: phases[5].populate: no phase may follow teardown (phases[4].teardown at line 12)");
    }

    @Test
    void phaseShapes() {
        assertMessage(replace(10, "  - dirtypass: {}"), "bad.yaml:10: phases[2]: \"dirtypass\" is not a phase; phases are "
                + "populate, enableDirtyLogging, dirtyPass, harvest, disableDirtyLogging, secondPass, age, memslotChange, teardown");
        assertContains(replace(10, "  - dirtyPass: {}\n    harvest: {}"),
                "bad.yaml:10: phases[2]: expected exactly one phase per list entry, found 2 keys (dirtyPass, harvest)");
        assertMessage(BASE.substring(0, BASE.indexOf("phases:")) + "phases: { populate: {} }\n",
                "bad.yaml:7: phases: expected a list, found a map");
        assertMessage("vm: { vcpus: 1, memoryPerVcpu: 4K }\nphases: []\n",
                "bad.yaml:2: phases: must list at least one phase: populate, enableDirtyLogging, dirtyPass, harvest, "
                        + "disableDirtyLogging, secondPass, age, memslotChange, teardown");
    }

    @Test
    void phaseFieldValues() {
        assertMessage(replace(10, "  - dirtyPass: { writePercent: 101 }"),
                "bad.yaml:10: phases[2].dirtyPass.writePercent: 101 is out of range 0..100");
        assertMessage(replace(10, "  - dirtyPass: { pattern: zigzag }"),
                "bad.yaml:10: phases[2].dirtyPass.pattern: \"zigzag\" is not one of sequential, random, zipf");
        assertMessage(replace(10, "  - dirtyPass: { zipfExponent: 1.2 }"),
                "bad.yaml:10: phases[2].dirtyPass.zipfExponent: only allowed with pattern: zipf (pattern is sequential)");
        assertMessage(replace(10, "  - dirtyPass: { pattern: zipf, zipfExponent: 0 }"),
                "bad.yaml:10: phases[2].dirtyPass.zipfExponent: 0 is out of range: must be greater than 0 and at most 10");
        assertMessage(replace(9, "  - enableDirtyLogging: { mode: pml }"),
                "bad.yaml:9: phases[1].enableDirtyLogging.mode: \"pml\" is not one of wrprot, dbit");
        assertMessage(replace(9, "  - enableDirtyLogging: { eagerSplit: maybe }"),
                "bad.yaml:9: phases[1].enableDirtyLogging.eagerSplit: \"maybe\" is not one of true, false");
        assertMessage(replace(11, "  - disableDirtyLogging: { strategy: zap }"),
                "bad.yaml:11: phases[3].disableDirtyLogging.strategy: \"zap\" is not one of zap_leafs, zap_huge, promote_in_place");
        assertMessage(replace(10, "  - dirtyPass: { iterations: 0 }"),
                "bad.yaml:10: phases[2].dirtyPass.iterations: 0 is out of range 1..100000");
    }

    @Test
    void harvestMethodIsVmWide() {
        assertMessage(replace(10, "  - dirtyPass: { harvest: clear }\n  - harvest: { method: get }"),
                "bad.yaml:11: phases[3].harvest.method: \"get\" conflicts with \"clear\" at line 10 "
                        + "(phases[2].dirtyPass.harvest); KVM's manual-protect mode is VM-wide, so a scenario harvests one way throughout");
        assertContains(replace(9, "  - enableDirtyLogging: { initiallySet: true }")
                        .replace("{ iterations: 2 }", "{ iterations: 2, harvest: get }"),
                "bad.yaml:9: phases[1].enableDirtyLogging.initiallySet: true requires the clear harvest method");
    }

    @Test
    void costModel() {
        assertMessage(insertAfter(1, "costModel: { faults: 10 }"), "bad.yaml:2: costModel.faults: unknown field; "
                + "allowed fields of costModel: " + String.join(", ", CostModel.keys()));
        assertMessage(insertAfter(1, "costModel: { fault: -1 }"), "bad.yaml:2: costModel.fault: -1 is out of range 0..1000000000");
        assertEquals(2000, ScenarioLoader.parse(insertAfter(1, "costModel:\n  fault: 2000"), "x.yaml").costModel().unit("fault"));
    }

    @Test
    void hostEvents() {
        String h = BASE + "host:\n";
        assertMessage(h + "  - { kind: swap, during: dirtyPass, ratePerSecond: 1 }",
                "bad.yaml:14: host[0].kind: \"swap\" is not one of migrate, invalidate, age, memslot");
        assertMessage(h + "  - { kind: migrate, during: harvesting, ratePerSecond: 1 }",
                "bad.yaml:14: host[0].during: \"harvesting\" is not one of all, populate, enableDirtyLogging, dirtyPass, "
                        + "harvest, disableDirtyLogging, secondPass, age, memslotChange");
        assertMessage(h + "  - { kind: migrate, during: secondPass, ratePerSecond: 1 }",
                "bad.yaml:14: host[0].during: this scenario has no secondPass phase; phases present: "
                        + "populate, enableDirtyLogging, dirtyPass, harvest, disableDirtyLogging");
        assertMessage(h + "  - { kind: migrate, during: dirtyPass }",
                "bad.yaml:14: host[0].ratePerSecond: missing (required: a number greater than 0 and at most 1000000)");
        assertMessage(h + "  - { kind: migrate, during: all, ratePerSecond: 5, pagesPerEvent: 70000 }",
                "bad.yaml:14: host[0].pagesPerEvent: 70000 is out of range 1..65536");
        Scenario s = ScenarioLoader.parse(h + "  - { kind: invalidate, during: harvest, ratePerSecond: 2.5 }", "x.yaml");
        assertEquals(new HostEvent(HostEventKind.INVALIDATE, "harvest", 2.5, 512, 1), s.host().get(0));
    }

    @Test
    void requiredFields() {
        assertMessage("phases: [populate]\n", "bad.yaml:1: vm: missing (required: a map with the fields "
                + "vcpus, memoryPerVcpu, memslots, backing, rootLevel, slotBaseGfn, slots, overlapVcpuMemory, locklessAging, kernel, "
                + "suppressVeNonPresent, spteNeedsAtomicUpdate, retryBeforeMmuLock, eagerPageSplit, splitHugeOnFault, faultUnderWriteLock, slotZapAllQuirk, sliceAccesses)");
        assertMessage("vm:\n  memoryPerVcpu: 4K\nphases: [populate]\n",
                "bad.yaml:2: vm.vcpus: missing (required: an integer in 1..512)");
        assertMessage("vm:\n  vcpus: 1\nphases: [populate]\n",
                "bad.yaml:2: vm.memoryPerVcpu: missing (required: a size, a multiple of 4 KiB, e.g. 64M)");
        assertContains("vm: { vcpus: 1, memoryPerVcpu: 4K }\n", "bad.yaml:1: phases: missing");
        assertMessage("vm:\n  vcpus:\n  memoryPerVcpu: 4K\nphases: [populate]\n",
                "bad.yaml:2: vm.vcpus: empty (required: an integer in 1..512)");
        assertContains("name: \"has space\"\nvm: { vcpus: 1, memoryPerVcpu: 4K }\nphases: [populate]\n",
                "bad.yaml:1: name: \"has space\" must be 1-64 letters");
    }

    @Test
    void yamlProblems() {
        assertContains("vm:\n  vcpus: 1\n   memoryPerVcpu: 4K\nphases: [populate\n", "bad.yaml:3: YAML syntax error:",
                "mapping values are not allowed here");
        assertMessage("", "bad.yaml: the file is empty (a scenario needs at least vm: and phases:)");
        assertMessage("vm:\n  vcpus: 1\n  vcpus: 2\n", "bad.yaml:3: duplicate key \"vcpus\" (first at line 2)");
        assertContains("- a\n- b\n", "bad.yaml:1: expected a map with the fields name, description, vm");
    }

    @Test
    void kvmMemslotSizeLimit() {
        // KVM_MEM_MAX_NR_PAGES: 2^31 - 1 pages in one slot; 64 TiB in one slot once overflowed the dirty bitmap
        assertMessage("vm: { vcpus: 1, memoryPerVcpu: 64T, backing: anonymous_hugetlb_1gb }\nphases: [populate]\n",
                "bad.yaml:1: vm.memoryPerVcpu: the slot would hold 64 TiB, more than KVM allows in one memslot "
                        + "(KVM_MEM_MAX_NR_PAGES: 2^31 - 1 pages, 8 TiB - 4 KiB); use memslots: 9 or more");
        assertContains("vm: { vcpus: 1, memoryPerVcpu: 64T, memslots: 4 }\nphases: [populate]\n",
                "bad.yaml:1: vm.memslots: each of the 4 slots would hold 16 TiB", "use memslots: 9 or more");
        assertContains("vm:\n  vcpus: 1\n  slots:\n    - { size: 8T }\nphases: [populate]\n",
                "bad.yaml:4: vm.slots[0].size: 8 TiB is more than KVM allows in one memslot", "of at most 8 TiB - 4 KiB");
        assertContains("vm:\n  vcpus: 1\n  slots:\n    - { size: 8T, backing: anonymous_hugetlb_1gb }\nphases: [populate]\n",
                "of at most 8 TiB - 1 GiB");
        assertContains("vm:\n  vcpus: 1\n  slots:\n    - { pages: 0x80000000 }\nphases: [populate]\n",
                "bad.yaml:4: vm.slots[0].pages: 0x80000000 is out of range 1..2147483647");
        // the largest slot KVM allows is accepted, at the top of the 5-level space too
        Scenario s = ScenarioLoader.parse("vm:\n  vcpus: 1\n  rootLevel: 5\n  slots:\n    - { pages: 0x7fffffff, baseGfn: "
                + "0x1fff80000001 }\nphases: [populate]\n", "x.yaml");
        assertEquals(1L << 45, s.vm().slots().get(0).endGfn());
    }

    @Test
    void stepsAreCappedBeforeTheyAreBuilt() {
        String many = "vm: { vcpus: 1, memoryPerVcpu: 4K }\nphases:\n  - enableDirtyLogging\n"
                + "  - dirtyPass: { iterations: 100000 }\n".repeat(4);
        assertMessage(many, "bad.yaml:2: phases: expand into 1200001 steps, more than the 1000000 a scenario may have "
                + "(each dirtyPass iteration is 2 or 3 steps: pass, get, clear)");
    }

    @Test
    void anchorsAliasesAndMergeKeysAreRefused() {
        // an alias used to be read as the anchor's name: this named the scenario "d"
        assertMessage("x: &d foo\nname: *d\nvm: { vcpus: 1, memoryPerVcpu: 4K }\nphases: [populate]\n",
                "bad.yaml:1: YAML anchor &d is not allowed in a scenario file; anchors, aliases and merge keys are not "
                        + "supported: write each value out");
        assertMessage("vm: &v { vcpus: 1, memoryPerVcpu: 4K }\nphases: [populate]\n",
                "bad.yaml:1: YAML anchor &v is not allowed in a scenario file; anchors, aliases and merge keys are not "
                        + "supported: write each value out");
        assertMessage("name: *d\nvm: { vcpus: 1, memoryPerVcpu: 4K }\nphases: [populate]\n",
                "bad.yaml:1: name: YAML alias *d is not allowed in a scenario file; anchors, aliases and merge keys are "
                        + "not supported: write each value out");
        assertMessage("vm:\n  <<: { vcpus: 1 }\n  memoryPerVcpu: 4K\nphases: [populate]\n",
                "bad.yaml:2: vm.<<: YAML merge keys (<<) are not allowed in a scenario file; anchors, aliases and merge "
                        + "keys are not supported: write each value out");
        // an ampersand in a string is not an anchor
        assertEquals("a & b", ScenarioLoader.parse("name: x\ndescription: \"a & b\"\nvm: { vcpus: 1, memoryPerVcpu: 4K }\n"
                + "phases: [populate]\n", "x.yaml").description());
    }

    @Test
    void hugeValuesAndDeepNestingGiveShortMessages() {
        String m = fail("name: " + "a".repeat(900_000) + "-\nvm: { vcpus: 1, memoryPerVcpu: 4K }\nphases: [populate]\n")
                .getMessage();
        assertTrue(m.length() < 700 && m.startsWith("bad.yaml:1: name: \"aaaa") && m.contains("characters left out]")
                && m.endsWith("starting with a letter or digit (it names report files)"), m);
        assertMessage("vm: { vcpus: 1, memoryPerVcpu: 4K }\nphases: " + "[".repeat(5000) + "]".repeat(5000) + "\n",
                "bad.yaml: YAML syntax error: lists and maps are nested more than 1000 levels deep");
    }

    @Test
    void binaryInputIsNotUtf8() throws Exception {
        ScenarioException e = assertThrows(ScenarioException.class, () ->
                ScenarioFile.decode("name: x\nvm: \u00e9\n\u0000".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1), "bin.yaml"));
        assertEquals("bin.yaml:2: not UTF-8 text (byte 0xe9 at offset 12); a scenario is a YAML text file in UTF-8",
                e.getMessage());
        assertEquals("caf\u00e9", ScenarioFile.decode("caf\u00e9".getBytes(java.nio.charset.StandardCharsets.UTF_8), "u.yaml"));
    }

    @Test
    void onlySmallRegularFilesAreRead(@TempDir Path dir) throws Exception {
        assertEquals(dir + ": is a directory, not a scenario file",
                assertThrows(ScenarioException.class, () -> ScenarioLoader.load(dir)).getMessage());
        Path zero = Path.of("/dev/zero");
        if (Files.exists(zero)) {
            // once read until the heap ran out
            assertEquals("/dev/zero: is not a regular file (a device, FIFO or socket); a scenario is a YAML text file",
                    assertThrows(ScenarioException.class, () -> ScenarioLoader.load(zero)).getMessage());
        }
        Path fifo = dir.resolve("fifo.yaml");
        if (new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor() == 0) {
            // once blocked forever on open, waiting for a writer
            assertEquals(fifo + ": is not a regular file (a device, FIFO or socket); a scenario is a YAML text file",
                    assertThrows(ScenarioException.class, () -> ScenarioLoader.load(fifo)).getMessage());
        }
        Path big = dir.resolve("big.yaml");
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(big.toFile(), "rw")) {
            f.setLength(25L << 20); // sparse: refused from its size, never read
        }
        assertEquals(big + ": is 26214400 bytes, more than the 3145728 (3 MiB) a scenario file may have",
                assertThrows(ScenarioException.class, () -> ScenarioLoader.load(big)).getMessage());
        Path binary = dir.resolve("binary.yaml");
        Files.write(binary, new byte[] {(byte) 0xff, (byte) 0xfe, 0, 'n'});
        assertEquals(binary + ":1: not UTF-8 text (byte 0xff at offset 0); a scenario is a YAML text file in UTF-8",
                assertThrows(ScenarioException.class, () -> ScenarioLoader.load(binary)).getMessage());
    }

    @Test
    void permissionDeniedIsSaid(@TempDir Path dir) throws Exception {
        // tests may run as root, who reads anything: check the mapping directly, then the file if we can
        assertEquals("permission denied", ScenarioFile.ioProblem(new java.nio.file.AccessDeniedException("x.yaml")));
        assertEquals("no such file", ScenarioFile.ioProblem(new java.nio.file.NoSuchFileException("x.yaml")));
        Path locked = dir.resolve("locked.yaml");
        Files.writeString(locked, BASE);
        Files.setPosixFilePermissions(locked, java.util.Set.of());
        if (!Files.isReadable(locked)) {
            assertEquals(locked + ": permission denied",
                    assertThrows(ScenarioException.class, () -> ScenarioLoader.load(locked)).getMessage());
        }
    }

    @Test
    void fileErrorsNameTheFile(@TempDir Path dir) throws Exception {
        Path missing = dir.resolve("nope.yaml");
        ScenarioException e = assertThrows(ScenarioException.class, () -> ScenarioLoader.load(missing));
        assertEquals(missing + ": no such file", e.getMessage());
        Path small = dir.resolve("small.yaml");
        Files.writeString(small, replace(6, "  backing: hugetlb"));
        e = assertThrows(ScenarioException.class, () -> ScenarioLoader.load(small));
        assertTrue(e.getMessage().startsWith(small + ":6: vm.backing: \"hugetlb\" is not one of"), e.getMessage());
        assertEquals(6, e.line());
        assertEquals("vm.backing", e.field());
        assertEquals(small.toString(), e.file());
    }
}
