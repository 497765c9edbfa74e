package org.tdpmmu.scenarios.sim;

import org.tdpmmu.core.Backing;
import org.tdpmmu.core.KvmSetMemoryRegion;
import org.tdpmmu.core.Memslot;
import org.tdpmmu.core.Memslots;
import org.tdpmmu.core.Vm;

/**
 * The {@code memslot} host event: one slot of its own (the last user slot id, so it never meets
 * the scenario's), placed 2 MiB-aligned above the scenario's slots, that each event changes once,
 * in the cycle create at A, move to B, delete, recreate at A, move to B, delete, ... Touched by no
 * vCPU: the change's cost to the workload is the flush (with KVM_X86_QUIRK_SLOT_ZAP_ALL, the default,
 * every SPTE of the VM). Each change is one KVM_SET_USER_MEMORY_REGION ({@link KvmSetMemoryRegion}).
 */
final class MemslotChurn {

    static final int SLOT_ID = Memslots.USER_MEM_SLOTS - 1;

    private final KvmSetMemoryRegion regions;
    private final long pages;
    private final long gfnA;
    private final long gfnB;
    private int step;

    /** {@code aboveGfn}: the end of every slot a memslotChange phase places, so the two never meet. */
    MemslotChurn(Vm vm, Memslot[] slots, long pages, long aboveGfn) {
        this.regions = vm.memoryRegions();
        this.pages = pages;
        long end = aboveGfn;
        for (Memslot s : slots) {
            end = Math.max(end, s.endGfn());
        }
        this.gfnA = (end + 1023) & -512L;
        this.gfnB = (gfnA + pages + 1023) & -512L;
    }

    /** Makes the next change of the cycle. */
    void next() {
        switch (step) {
            case 0 -> regions.create(SLOT_ID, gfnA, pages, Backing.PAGE_4K);
            case 1 -> regions.move(SLOT_ID, gfnB);
            default -> regions.delete(SLOT_ID);
        }
        step = (step + 1) % 3;
    }

    @Override
    public String toString() {
        return "slot " + SLOT_ID + " of " + pages + " pages at gfn 0x" + Long.toHexString(gfnA) + " / 0x"
                + Long.toHexString(gfnB) + ", step " + step;
    }
}
