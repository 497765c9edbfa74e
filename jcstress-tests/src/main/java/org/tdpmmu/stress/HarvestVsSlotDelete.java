package org.tdpmmu.stress;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.L_Result;
import org.tdpmmu.core.Backing;
import org.tdpmmu.core.DirtyLogging;
import org.tdpmmu.core.Memslot;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;

/**
 * KVM_GET_DIRTY_LOG of a memslot against its deletion. The harvest takes kvm->slots_lock and
 * looks the slot up by id, as kvm_vm_ioctl_get_dirty_log does; the delete holds the same lock
 * from its first swap to freeing the slot's bitmap. So the harvest either runs wholly before the
 * delete (and reports the written pages) or finds the slot gone (-ENOENT); it never reads or
 * exchanges a word of a freed bitmap.
 */
@JCStressTest
@Description("A dirty-log harvest against a delete of its memslot: the harvest never touches the freed bitmap.")
@Outcome(id = "harvest-first", expect = ACCEPTABLE, desc = "The harvest ran before the delete and reported the written page.")
@Outcome(id = "delete-first", expect = ACCEPTABLE, desc = "The harvest found the slot deleted (-ENOENT).")
@Outcome(id = Probe.USE_AFTER_FREE, expect = FORBIDDEN,
    desc = "The harvest read or exchanged a word of the bitmap the delete had freed: it ran without slots_lock.")
@Outcome(id = Probe.LOST_DIRTY, expect = FORBIDDEN, desc = "The harvest returned without the page written before it.")
@Outcome(expect = FORBIDDEN, desc = "Any other exception, or a leaked table.")
@State
public class HarvestVsSlotDelete
{
    private static final long PAGE = 5;

    private final Vm vm = StressVm.create();
    private final Rendezvous rendezvous = new Rendezvous();
    private final DirtyLogging log = new DirtyLogging(vm);
    private final Memslot slot;
    private final long[] out;
    private String harvest;
    private String hostFailure;

    public HarvestVsSlotDelete()
    {
        this(true, 1024);
    }

    /**
     * With {@code slotZapAll} false the delete flushes by zapping the slot's range
     * (KVM_X86_QUIRK_SLOT_ZAP_ALL off) instead of the fast invalidation: the model checker's
     * cut-down (mmu-explore), whose walk of the invalidated root's tables is the part its loop
     * heuristic cannot finish. The race is the same: the flush runs between the swap and the free
     * of the bitmap, under slots_lock either way. {@code pages}: the slot's size (the cut-down's is
     * one bitmap word, so the flush's walk of its range is short).
     */
    protected HarvestVsSlotDelete(final boolean slotZapAll, final long pages)
    {
        slot = vm.memoryRegions().create(1, 0, pages, Backing.PAGE_4K);
        out = new long[slot.dirtyBitmap().words()];
        vm.memoryRegions().setSlotZapAll(slotZapAll);
        log.enable(slot, Memslot.LOG_WRPROT, false);
        final Vcpu vcpu = vm.createVcpu();
        vcpu.write(PAGE, 1);
        vcpu.exitGuest();
    }

    @Actor
    public void harvest()
    {
        rendezvous.meet(0);
        try
        {
            log.getDirtyLog(slot, false, out);
            harvest = Probe.dirty(out, PAGE) ? "harvest-first" : Probe.LOST_DIRTY;
        }
        catch (final IllegalArgumentException e)
        {
            harvest = e.getMessage().contains("-ENOENT") ? "delete-first" : Probe.classify(e);
        }
        catch (final Throwable t)
        {
            harvest = Probe.classify(t);
        }
    }

    @Actor
    public void delete()
    {
        rendezvous.meet(1);
        hostFailure = Probe.failureOf(() -> vm.memoryRegions().delete(1));
    }

    @Arbiter
    public void arbiter(final L_Result r)
    {
        r.r1 = Probe.outcome(hostFailure, null, () -> Probe.leakedAfterDestroy(vm) != 0 ? Probe.LEAK : harvest);
    }
}
