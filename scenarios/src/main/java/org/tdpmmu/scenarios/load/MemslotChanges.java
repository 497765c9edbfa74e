package org.tdpmmu.scenarios.load;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.tdpmmu.scenarios.model.Backing;
import org.tdpmmu.scenarios.model.Phase;
import org.tdpmmu.scenarios.model.Phase.MemslotChange.Change;
import org.tdpmmu.scenarios.model.Phase.MemslotChange.Op;
import org.tdpmmu.scenarios.model.SlotConfig;
import org.tdpmmu.scenarios.model.VmConfig;

/**
 * The loader's replay of every {@code memslotChange} of a scenario, in order, against the slots as
 * they will be at that point: each request KVM_SET_USER_MEMORY_REGION would refuse (the checks of
 * {@code org.tdpmmu.core.KvmSetMemoryRegion}, which runs them again) is an error naming the line
 * and the field, so nothing is allocated for a scenario that would fail half way. Also resolves
 * what a move keeps and what a recreate restores.
 */
final class MemslotChanges {

    /** A slot as the replay has it: where, how big, on what, logging on or off. */
    private record Slot(long base, long pages, Backing backing, boolean logging) {
        long end() {
            return base + pages;
        }
    }

    private final Fields f;
    private final long gfnLimit;
    private final int scenarioSlots;
    private final Map<Integer, Slot> live = new HashMap<>();
    /** Each slot's place and size when it was last deleted, for a recreate. */
    private final Map<Integer, Slot> deleted = new HashMap<>();

    MemslotChanges(Fields f, VmConfig vm) {
        this.f = f;
        this.gfnLimit = 1L << (VmConfig.guestPhysBits(vm.rootLevel()) - 12);
        this.scenarioSlots = vm.slots().size();
        for (SlotConfig s : vm.slots()) {
            live.put(s.id(), new Slot(s.baseGfn(), s.pages(), s.backing(), false));
        }
    }

    /** {@code phases} with every change checked and resolved. */
    List<Phase> resolve(List<Phase> phases) {
        List<Phase> out = new ArrayList<>(phases.size());
        for (Phase p : phases) {
            if (p instanceof Phase.MemslotChange m) {
                List<Change> changes = new ArrayList<>();
                for (Change c : m.changes()) {
                    changes.add(apply(c));
                }
                out.add(new Phase.MemslotChange(changes, m.writePercent(), m.pattern(), m.zipfExponent(), m.seed(),
                        m.delayMicros()));
            } else {
                out.add(p);
            }
        }
        return out;
    }

    private Change apply(Change c) {
        if (c.slot() < scenarioSlots) {
            throw f.error(c.line(), c.path() + ".slot", "slot " + c.slot() + " is one of vm's " + scenarioSlots
                    + " slots (ids 0.." + (scenarioSlots - 1) + "), which the vCPUs' workload uses; a memslotChange "
                    + "changes slots of its own, ids " + scenarioSlots + ".." + ScenarioLoader.MAX_CHANGE_SLOT);
        }
        Slot old = live.get(c.slot());
        switch (c.op()) {
            case CREATE -> {
                mustNotExist(c, old);
                Slot s = new Slot(c.baseGfn(), c.pages(), c.backing(), false);
                place(c, s, ".baseGfn");
                live.put(c.slot(), s);
                return c;
            }
            case RECREATE -> {
                mustNotExist(c, old);
                Slot was = deleted.get(c.slot());
                if (was == null) {
                    throw f.error(c.line(), c.path() + ".op", "recreate of slot " + c.slot()
                            + ", which no earlier change deleted (use op: create with its baseGfn and pages)");
                }
                Slot s = new Slot(was.base(), was.pages(), was.backing(), false);
                place(c, s, ".op");
                live.put(c.slot(), s);
                return c.resolved(s.base(), s.pages(), s.backing());
            }
            case DELETE -> {
                mustExist(c, old, "delete of a slot that does not exist");
                live.remove(c.slot());
                deleted.put(c.slot(), old);
                return c.resolved(old.base(), old.pages(), old.backing());
            }
            case MOVE -> {
                mustExist(c, old, "move of a slot that does not exist");
                if (old.logging()) {
                    throw f.error(c.line(), c.path() + ".op", "cannot move slot " + c.slot()
                            + " with dirty logging on (turn it off first with op: flags, dirtyLogging: false; -EINVAL)");
                }
                long align = old.backing().pageFrames();
                if (((c.baseGfn() ^ old.base()) & (align - 1)) != 0) {
                    throw f.error(c.line(), c.path() + ".baseGfn", String.format("0x%x does not keep the slot's offset "
                            + "within its %s pages (now at 0x%x); a move keeps it", c.baseGfn(), old.backing().yamlName(),
                            old.base()));
                }
                live.remove(c.slot());
                Slot s = new Slot(c.baseGfn(), old.pages(), old.backing(), false);
                place(c, s, ".baseGfn");
                live.put(c.slot(), s);
                return c.resolved(s.base(), s.pages(), s.backing());
            }
            case FLAGS -> {
                mustExist(c, old, "flags change of a slot that does not exist");
                live.put(c.slot(), new Slot(old.base(), old.pages(), old.backing(), c.dirtyLogging()));
                return c.resolved(old.base(), old.pages(), old.backing());
            }
            default -> throw new IllegalStateException(c.op().name());
        }
    }

    private void mustNotExist(Change c, Slot old) {
        if (old != null) {
            throw f.error(c.line(), c.path() + ".slot", String.format("slot %d already exists at gfn 0x%x (%d pages); "
                    + "a %s needs a slot id not in use (-EINVAL: a change of an existing slot must keep its size)",
                    c.slot(), old.base(), old.pages(), c.op().yamlName()));
        }
    }

    private void mustExist(Change c, Slot old, String what) {
        if (old == null) {
            throw f.error(c.line(), c.path() + ".slot", what + " (slot " + c.slot() + "; -EINVAL)");
        }
    }

    /** Inside the guest-physical space of the root, and overlapping no live slot (-EEXIST). */
    private void place(Change c, Slot s, String field) {
        if (s.base() >= gfnLimit || s.pages() > gfnLimit - s.base()) {
            throw f.error(c.line(), c.path() + field, String.format("slot %d at gfn 0x%x + %d pages ends past the "
                    + "guest-physical space of the root (gfns below 0x%x; -EINVAL)", c.slot(), s.base(), s.pages(), gfnLimit));
        }
        for (Map.Entry<Integer, Slot> e : live.entrySet()) {
            Slot o = e.getValue();
            if (s.base() < o.end() && o.base() < s.end()) {
                throw f.error(c.line(), c.path() + field, String.format("slot %d at gfn 0x%x + %d pages overlaps slot %d "
                        + "(gfn 0x%x + %d pages; -EEXIST)", c.slot(), s.base(), s.pages(), e.getKey(), o.base(), o.pages()));
            }
        }
    }
}
