package org.tdpmmu.scenarios.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.tdpmmu.scenarios.engine.PhaseResult;
import org.tdpmmu.scenarios.engine.ProgressListener;
import org.tdpmmu.scenarios.engine.RunResult;
import org.tdpmmu.scenarios.load.ScenarioLoader;
import org.tdpmmu.scenarios.model.Phase;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.model.ScenarioException;

/**
 * The {@code memslotChange} phase (every change made, while the vCPUs run, checks held) and the
 * {@code vm.slotZapAllQuirk} choice (the same safety, different zaps); the loader's refusals.
 */
class MemslotChangePhaseTest
{
    private static final String CHANGES = ""
        + "      changes:\n"
        + "        - { op: create, slot: 4, baseGfn: 0x200000, pages: 512 }\n"
        + "        - { op: move, slot: 4, baseGfn: 0x200400 }\n"
        + "        - { op: flags, slot: 4, dirtyLogging: true }\n"
        + "        - { op: flags, slot: 4, dirtyLogging: false }\n"
        + "        - { op: delete, slot: 4 }\n"
        + "        - { op: recreate, slot: 4 }\n";

    /** {@code changes}: the phase's {@code changes:} block, indented by 6. */
    private static String yaml(final boolean quirk, final String changes)
    {
        return "name: change\n"
            + "vm:\n"
            + "  vcpus: 2\n"
            + "  memoryPerVcpu: 4M\n"
            + "  backing: anonymous_thp\n"
            + "  slotZapAllQuirk: " + quirk + "\n"
            + "phases:\n"
            + "  - populate: {}\n"
            + "  - memslotChange:\n"
            + "      writePercent: 100\n"
            + changes
            + "  - teardown: {}\n";
    }

    private static RunResult run(final boolean quirk) throws Exception
    {
        final Scenario s = ScenarioLoader.parse(yaml(quirk, CHANGES), "change.yaml");
        return new MmuEngine().run(s, ProgressListener.NONE);
    }

    @Test
    void everyChangeIsMadeWhileTheVcpusRunAndTheChecksHold() throws Exception
    {
        final RunResult r = run(true);
        assertTrue(r.ok(), r.violations().toString());
        final PhaseResult step = r.phase("memslot-change").orElseThrow();
        assertEquals(6, step.counter("memslot.change"), "one KVM_SET_USER_MEMORY_REGION per change: " + step.counters());
        // Populate mapped 8 MiB on THP: 4 huge pages, which the quirk's zap of every delete and move takes.
        assertTrue(step.counter("zap.leaf") >= 4, step.counters().toString());
    }

    @Test
    void theQuirkOffZapsOnlyTheSlotSameSafety() throws Exception
    {
        final RunResult on = run(true);
        final RunResult off = run(false);
        assertTrue(on.ok(), on.violations().toString());
        assertTrue(off.ok(), off.violations().toString());
        final PhaseResult stepOn = on.phase("memslot-change").orElseThrow();
        final PhaseResult stepOff = off.phase("memslot-change").orElseThrow();
        assertEquals(stepOn.counter("memslot.change"), stepOff.counter("memslot.change"));
        // No vCPU touches slot 4: with the quirk off its delete and move zap no leaf of the workload.
        assertEquals(0, stepOff.counter("zap.leaf"), stepOff.counters().toString());
        assertTrue(stepOn.counter("zap.leaf") > stepOff.counter("zap.leaf"), stepOn.counters().toString());
        assertTrue(stepOn.counter("fault.installed") > stepOff.counter("fault.installed"),
            "the vCPUs refault what the quirk zapped: " + stepOn.counters() + " / " + stepOff.counters());
    }

    @Test
    void theQuirkDefaultsOnAndARecreateIsResolved()
    {
        final Scenario s = ScenarioLoader.parse(yaml(true, CHANGES).replace("  slotZapAllQuirk: true\n", ""), "c.yaml");
        assertTrue(s.vm().slotZapAllQuirk(), "the kernel's default: quirk on");
        final Phase.MemslotChange m = (Phase.MemslotChange)s.phases().get(1);
        final Phase.MemslotChange.Change recreate = m.changes().get(5);
        assertEquals(0x200400, recreate.baseGfn(), "recreated where it was deleted");
        assertEquals(512, recreate.pages());
        assertEquals(0x200600, s.memslotChangeEndGfn());
    }

    private static String refusal(final String change)
    {
        return assertThrows(ScenarioException.class,
            () -> ScenarioLoader.parse(yaml(true, "      changes:\n" + change.replace("  - {", "        - {")), "bad.yaml")).getMessage();
    }

    @Test
    void badRequestsAreRefusedWithTheLineAndField()
    {
        // The changes start at line 12 of the file.
        assertEquals("bad.yaml:12: phases[1].memslotChange.changes[0].slot: delete of a slot that does not exist " +
            "(slot 9; -EINVAL)", refusal("  - { op: delete, slot: 9 }\n"));
        assertTrue(refusal("  - { op: create, slot: 0, baseGfn: 0x300000, pages: 1 }\n")
            .contains("changes[0].slot: slot 0 is one of vm's 1 slots"));
        assertTrue(refusal("  - { op: create, slot: 5, baseGfn: 0x100100, pages: 1 }\n")
            .contains("bad.yaml:12: phases[1].memslotChange.changes[0].baseGfn: slot 5 at gfn 0x100100 + 1 pages " +
                "overlaps slot 0 (gfn 0x100000 + 2048 pages; -EEXIST)"));
        assertTrue(refusal("  - { op: create, slot: 5, baseGfn: 0x300000, pages: 1 }\n" +
            "  - { op: flags, slot: 5, dirtyLogging: true }\n  - { op: move, slot: 5, baseGfn: 0x300010 }\n")
            .contains("bad.yaml:14: phases[1].memslotChange.changes[2].op: cannot move slot 5 with dirty logging on"));
        assertTrue(refusal("  - { op: recreate, slot: 5 }\n").contains("which no earlier change deleted"));
        assertTrue(refusal("  - { op: create, slot: 5, baseGfn: 0x300000, pages: 3, backing: anonymous_thp }\n")
            .contains("changes[0].pages: 12 KiB is not a multiple of the anonymous_thp page size (2 MiB)"));
        assertTrue(refusal("  - { op: delete, slot: 5, baseGfn: 1 }\n").contains("changes[0].baseGfn: not taken by op delete"));
        assertTrue(refusal("  - { op: flags, slot: 5 }\n").contains("dirtyLogging"));
        assertTrue(refusal("  - { op: create, slot: 5, baseGfn: 0x300000, pages: 512, backing: anonymous_thp }\n" +
            "  - { op: move, slot: 5, baseGfn: 0x300001 }\n").contains("does not keep the slot's offset"));
    }
}
