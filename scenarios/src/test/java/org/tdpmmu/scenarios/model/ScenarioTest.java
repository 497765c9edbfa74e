package org.tdpmmu.scenarios.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class ScenarioTest {

    private static Scenario scenario(HarvestMethod m, List<Phase> phases) {
        VmConfig vm = VmConfig.uniform(2, 4L << 20, 1, Backing.ANONYMOUS_HUGETLB_2MB, 4, VmConfig.DEFAULT_SLOT_BASE_GFN);
        return new Scenario("t", "", vm, CostModel.defaults(), phases, List.of(), null);
    }

    @Test
    void stepNamesFollowTheKernelTestsSequence() {
        Scenario s = scenario(HarvestMethod.CLEAR, List.of(
                new Phase.Populate(),
                new Phase.EnableDirtyLogging(DirtyLogMode.WRPROT, false, false),
                new Phase.DirtyPass(2, 100, AccessPattern.SEQUENTIAL, 0, 1, HarvestMethod.CLEAR),
                new Phase.Harvest(HarvestMethod.CLEAR),
                new Phase.DirtyPass(1, 50, AccessPattern.RANDOM, 0, 2, HarvestMethod.CLEAR),
                new Phase.DisableDirtyLogging(RecoveryStrategy.ZAP_HUGE, false),
                new Phase.SecondPass(0, AccessPattern.SEQUENTIAL, 0, 1),
                new Phase.EnableDirtyLogging(DirtyLogMode.DBIT, true, false),
                new Phase.DisableDirtyLogging(RecoveryStrategy.ZAP_HUGE, false),
                new Phase.Teardown()));
        assertEquals(List.of("populate", "enable-dirty-logging",
                "dirty-pass-1", "get-dirty-log-1", "clear-dirty-log-1",
                "dirty-pass-2", "get-dirty-log-2", "clear-dirty-log-2",
                "get-dirty-log-3", "clear-dirty-log-3",
                "dirty-pass-3", "get-dirty-log-4", "clear-dirty-log-4",
                "disable-dirty-logging", "second-pass", "enable-dirty-logging-2", "disable-dirty-logging-2",
                "teardown"), s.steps().stream().map(Step::name).toList());
        Step clear3 = s.steps().get(9);
        assertEquals(StepKind.CLEAR_DIRTY_LOG, clear3.kind());
        assertEquals(3, clear3.index());
        assertEquals(3, clear3.phaseIndex());
        assertEquals(new Phase.Harvest(HarvestMethod.CLEAR), clear3.phase());
    }

    @Test
    void getMethodHasNoClearSteps() {
        Scenario s = scenario(HarvestMethod.GET, List.of(
                new Phase.EnableDirtyLogging(DirtyLogMode.WRPROT, false, false),
                new Phase.DirtyPass(2, 100, AccessPattern.SEQUENTIAL, 0, 1, HarvestMethod.GET)));
        assertEquals(List.of("enable-dirty-logging", "dirty-pass-1", "get-dirty-log-1", "dirty-pass-2", "get-dirty-log-2"),
                s.steps().stream().map(Step::name).toList());
        assertEquals(Optional.of(HarvestMethod.GET), s.harvestMethod());
    }

    @Test
    void withStrategyReplacesEveryDisable() {
        Scenario s = scenario(HarvestMethod.CLEAR, List.of(
                new Phase.EnableDirtyLogging(DirtyLogMode.WRPROT, false, false),
                new Phase.DisableDirtyLogging(RecoveryStrategy.ZAP_LEAFS, true)));
        Scenario t = s.withStrategy(RecoveryStrategy.PROMOTE_IN_PLACE);
        assertEquals(Optional.of(RecoveryStrategy.PROMOTE_IN_PLACE), t.strategy());
        assertEquals(new Phase.DisableDirtyLogging(RecoveryStrategy.PROMOTE_IN_PLACE, true), t.phases().get(1));
        assertEquals(Optional.of(RecoveryStrategy.ZAP_LEAFS), s.strategy());
        assertFalse(scenario(HarvestMethod.CLEAR, List.of(new Phase.Populate())).disablesDirtyLogging());
    }

    @Test
    void uniformVmSplitsIntoEqualSlots() {
        VmConfig vm = VmConfig.uniform(4, 64L << 20, 2, Backing.ANONYMOUS_HUGETLB_2MB, 4, 0x100000);
        assertEquals(2, vm.memslots());
        assertEquals(new SlotConfig(1, 0x100000 + 32768, 32768, Backing.ANONYMOUS_HUGETLB_2MB), vm.slots().get(1));
        assertEquals(256L << 20, vm.totalBytes());
        assertEquals(16384, vm.pagesPerVcpu());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> VmConfig.uniform(1, 6L << 20, 2, Backing.ANONYMOUS_HUGETLB_2MB, 4, 0));
        assertTrue(e.getMessage().contains("2 MiB"), e.getMessage());
    }

    @Test
    void slotMaxLevelFollowsBackingAndAlignment() {
        assertEquals(3, new SlotConfig(0, 0x100000, 262144, Backing.ANONYMOUS_HUGETLB_1GB).maxLevel());
        assertEquals(2, new SlotConfig(0, 0x100200, 262144, Backing.ANONYMOUS_HUGETLB_1GB).maxLevel());
        assertEquals(1, new SlotConfig(0, 0x100001, 262144, Backing.ANONYMOUS_HUGETLB_1GB).maxLevel());
        assertEquals(2, new SlotConfig(0, 0x100000, 512, Backing.ANONYMOUS_THP).maxLevel());
        assertEquals(1, new SlotConfig(0, 0x100000, 512, Backing.ANONYMOUS).maxLevel());
    }

    @Test
    void hostEventsApplyToTheirPhaseKind() {
        Scenario s = scenario(HarvestMethod.GET, List.of(
                new Phase.EnableDirtyLogging(DirtyLogMode.WRPROT, false, false),
                new Phase.DirtyPass(1, 100, AccessPattern.SEQUENTIAL, 0, 1, HarvestMethod.GET),
                new Phase.Teardown()));
        HostEvent h = new HostEvent(HostEventKind.MIGRATE, "harvest", 10, 1, 1);
        assertEquals(List.of("get-dirty-log-1"),
                s.steps().stream().filter(h::appliesTo).map(Step::name).toList());
        HostEvent all = new HostEvent(HostEventKind.INVALIDATE, HostEvent.ALL, 10, 1, 1);
        assertEquals(3, s.steps().stream().filter(all::appliesTo).count(), "all but teardown");
    }
}
