package org.tdpmmu.explore;

import org.tdpmmu.core.Backing;
import org.tdpmmu.core.FaultInjection;
import org.tdpmmu.core.Memslot;
import org.tdpmmu.core.Spte;
import org.tdpmmu.core.TdpIter;
import org.tdpmmu.core.TdpMmu;
import org.tdpmmu.core.TdpMmuRoots;
import org.tdpmmu.core.Vm;
import org.tdpmmu.core.VmConfig;
import org.tdpmmu.stress.StressVm;

/**
 * The set-up every cut-down twin shares: the race tests' tiny VM ({@link StressVm}, the seeded
 * bugs of the exploration) with one memslot at gfn 0, and the MMU's steps the twins call directly
 * instead of a whole guest access (a bare page fault, the split of one huge page). A twin keeps
 * only the fields of its own race.
 */
final class OneSlotVm
{
    /**
     * The tiny VM's host physical address width: the narrowest accepted, so a zap of the whole root
     * (a fast invalidation's, four passes) walks one root entry instead of all 512 of them, each a
     * step the checker schedules around; the slot at gfn 0 is far inside it.
     */
    static final int HOST_MAX_PHYS_ADDR = Vm.MIN_PHYS_ADDR_BITS;

    /** The cut-down twins' slot: one level-1 table of 4 KiB pages, or one 2 MiB page. */
    static final long PAGES = 512;

    final Vm vm;
    final Memslot slot;

    private OneSlotVm(final Vm vm, final Memslot slot)
    {
        this.vm = vm;
        this.slot = slot;
    }

    /** {@value #PAGES} pages added at set-up (no ioctl): a race that never changes its slot. */
    static OneSlotVm added(final Backing backing)
    {
        return added(StressVm.config(StressVm.seededBugs()), backing);
    }

    /** As {@link #added(Backing)} on a VM of {@code config} (a race that needs a switch of its own). */
    static OneSlotVm added(final VmConfig config, final Backing backing)
    {
        final Vm vm = new Vm(config, FaultInjection.NONE, HOST_MAX_PHYS_ADDR);
        return new OneSlotVm(vm, vm.addMemslot(0, PAGES, backing));
    }

    /**
     * Slot {@code id} of {@code pages} 4 KiB pages created through KVM_SET_USER_MEMORY_REGION, with
     * KVM_X86_QUIRK_SLOT_ZAP_ALL off first (a delete or move flushes the slot's range, as in the
     * catalogue's memslot races: with the quirk on, the fast invalidation's stale-root check would
     * hide a missing SRCU wait, and its zap of the invalidated root is a walk of whole tables).
     */
    static OneSlotVm region(final VmConfig config, final int id, final long pages)
    {
        final Vm vm = new Vm(config, FaultInjection.NONE, HOST_MAX_PHYS_ADDR);
        vm.memoryRegions().setSlotZapAll(false);
        return new OneSlotVm(vm, vm.memoryRegions().create(id, 0, pages, Backing.PAGE_4K));
    }

    /** Looks a bounded wait takes: above every twin's {@link LoopsBeforeSwitch}, below the checker's livelock bound. */
    static final int WAIT_BOUND = 3000;

    /**
     * A bounded wait for a forced window (a twin's test hook, the jcstress race's latch in the
     * checker's terms): under the model checker a loop that sees no progress is an active lock
     * after {@link LoopsBeforeSwitch} iterations and another thread runs; under real threads it
     * gives up after {@value #WAIT_BOUND} looks.
     */
    static void waitFor(final java.util.function.BooleanSupplier done)
    {
        for (int i = 0; i < WAIT_BOUND && !done.getAsBoolean(); i++)
        {
            Thread.onSpinWait();
        }
    }

    /** A reference on the valid root, as a vCPU's entry takes it (kernel: kvm_mmu_load). */
    TdpMmuRoots.Root loadRoot()
    {
        return vm.mmu().roots().load();
    }

    /**
     * The page-fault handler called directly until it stops asking for a retry (kernel: the exit
     * handler re-entering on RET_PF_RETRY), with an iterator of the calling thread's own.
     *
     * @return the handler's last result ({@link TdpMmu#RET_PF_EMULATE} once the slot is gone).
     */
    int faultUntilDone(final long gfn, final boolean write)
    {
        final TdpIter iter = new TdpIter(vm.store());
        int r;
        while ((r = vm.mmu().pageFault(iter, gfn, write)) == TdpMmu.RET_PF_RETRY)
        {
            Thread.onSpinWait();
        }
        return r;
    }

    /**
     * Eager splitting's per-entry step over the one 2 MiB page at {@code gfn} (kernel:
     * tdp_mmu_split_huge_page under mmu_lock for read, inside an RCU section, the link a cmpxchg
     * retried while the entry is still a huge leaf), in {@code root} (a reference the split holds,
     * put before the lock is dropped, as for_each_valid_tdp_mmu_root_yield_safe puts it) or, if
     * null, the MMU's root; {@code child} was allocated before the lock
     * (tdp_mmu_alloc_sp_for_split) and is freed here if it was not linked. {@code atHuge} runs once
     * the walk stands at the huge entry, before the split reads it (a twin's bounded wait).
     *
     * @return true if {@code child} was linked in place of the huge leaf.
     */
    boolean splitHuge(final TdpMmuRoots.Root root, final long gfn, final long child, final Runnable atHuge)
    {
        final TdpMmu mmu = vm.mmu();
        boolean split = false;
        mmu.lock().readLock();
        mmu.rcu().readLock();
        try
        {
            final TdpIter iter = new TdpIter(vm.store());
            iter.start(root != null ? root.pfn() : mmu.rootPfn(), mmu.rootLevel(), Spte.PG_LEVEL_2M, gfn,
                gfn + Spte.ENTRIES_PER_TABLE);
            while (iter.valid() && iter.level() > Spte.PG_LEVEL_2M)
            {
                iter.next();
            }
            atHuge.run();
            while (iter.valid() && Spte.isPresentLeaf(iter.oldSpte(), iter.level()) && !split)
            {
                split = mmu.splitHugePage(iter, child);
            }
            return split;
        }
        finally
        {
            mmu.rcu().readUnlock();
            if (root != null)
            {
                mmu.roots().put(root);
            }
            mmu.lock().readUnlock();
            if (!split)
            {
                mmu.freeUnlinkedTable(child);
            }
        }
    }
}
