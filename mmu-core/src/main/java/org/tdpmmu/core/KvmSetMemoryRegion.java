package org.tdpmmu.core;

import java.util.concurrent.locks.ReentrantLock;

import org.tdpmmu.concurrency.Srcu;

/**
 * KVM_SET_USER_MEMORY_REGION while vCPUs run (kernel: __kvm_set_memory_region, kvm_set_memslot,
 * virt/kvm/kvm_main.c): create, delete, move (a new base gfn) and flag changes of one memslot.
 *
 * <p>The memslot set is replaced as a whole, never edited. A delete or a move runs as the kernel's
 * does: publish a set in which the slot is an {@linkplain Memslot#invalid() invalid} copy
 * (kvm_invalidate_memslot), wait for every SRCU reader of the old set ({@link Srcu#synchronize},
 * inside kvm_swap_active_memslots), flush the slot (kvm_arch_flush_shadow_memslot), publish the
 * final set without the slot or with the moved copy, wait again, and only then free what the old
 * slot owned (its dirty bitmap; for a delete, its host pages). So:
 * <ul>
 * <li>a fault that found the slot valid held SRCU from its lookup to its install; the flush runs
 * after it and zaps what it installed;</li>
 * <li>a fault that starts after the first swap finds the invalid copy and retries
 * ({@link TdpMmu#RET_PF_RETRY}), and once the slot is gone finds no slot and emulates
 * ({@link TdpMmu#RET_PF_EMULATE}): nothing maps a gfn without a slot or a deleted slot's frames;</li>
 * <li>the dirty-log ioctls hold the slots lock, as the kernel's do, so no harvest runs while a
 * change is in flight, and a harvest of a slot that is gone fails (-ENOENT) instead of touching
 * its freed bitmap.</li>
 * </ul>
 *
 * <p>The flush: with KVM_X86_QUIRK_SLOT_ZAP_ALL (the default) every SPTE of the VM goes
 * ({@link TdpMmu#zapAllFast}); with the quirk disabled (KVM_CAP_DISABLE_QUIRKS2, 6.12) only the
 * slot's range is zapped ({@link TdpMmu#zapMemslot}).
 *
 * <p>Bad requests fail before anything changes, with the kernel's errno in the message: a size or
 * address not a multiple of 4 KiB, an unknown flag or KVM_MEM_READONLY (not modeled), a slot id
 * out of range, a delete of a slot that does not exist, a resize or a backing change of an
 * existing slot (-EINVAL), an overlap (-EEXIST). Decision: a move of a slot with dirty logging on,
 * or one that turns logging on, is refused too (-EINVAL); the 6.12 kernel accepts it and keeps the
 * old bitmap for the new range, which would make a harvest in flight report pages of the old gfns
 * as pages of the new ones; a VMM turns logging off before it moves a slot. A move must keep the
 * base gfn's offset within the slot's backing page, because the simulated host pages are aligned
 * to guest-physical addresses (the kernel would only lose the huge mappings).
 */
public final class KvmSetMemoryRegion
{
    /** kernel: KVM_MEM_LOG_DIRTY_PAGES. */
    public static final int KVM_MEM_LOG_DIRTY_PAGES = 1;
    /** kernel: KVM_MEM_READONLY (refused: read-only slots are not modeled). */
    public static final int KVM_MEM_READONLY = 1 << 1;
    private static final long PAGE_SIZE = 4096;

    /** kernel: enum kvm_mr_change, plus NONE for a request that changes nothing (the ioctl returns 0). */
    public enum Change
    {
        CREATE, DELETE, MOVE, FLAGS_ONLY, NONE
    }

    /**
     * One request (kernel: struct kvm_userspace_memory_region). {@code backing} stands for what
     * userspace_addr points at; a change to an existing slot must keep it, as the kernel requires
     * the same userspace_addr. A {@code memorySize} of 0 deletes the slot.
     */
    public record Region(int slot, int flags, long guestPhysAddr, long memorySize, Backing backing)
    {
        /** A delete of slot {@code slot}. */
        public static Region delete(final int slot)
        {
            return new Region(slot, 0, 0, 0, null);
        }
    }

    private final Vm vm;
    private final Memslots slots;
    private final HostMemory host;
    private final TdpMmu mmu;
    /** Its own instance, so its monitor is taken only under the slots lock (flag changes). */
    private final DirtyLogging dirtyLogging;
    private final boolean bugNoSrcuSync;
    /** kernel: kvm_check_has_quirk(kvm, KVM_X86_QUIRK_SLOT_ZAP_ALL); read under the slots lock. */
    private boolean slotZapAll = true;
    /** How huge pages come back when a flag change turns logging off. */
    private HugePageRecovery recovery = RecoveryStrategy.ZAP_HUGE.recovery();

    KvmSetMemoryRegion(final Vm vm)
    {
        this.vm = vm;
        this.slots = vm.memslots();
        this.host = vm.host();
        this.mmu = vm.mmu();
        this.dirtyLogging = new DirtyLogging(vm);
        this.bugNoSrcuSync = vm.config().has(SeededBug.MEMSLOT_FLUSH_WITHOUT_SRCU_SYNC);
    }

    /**
     * KVM_ENABLE_CAP(KVM_CAP_DISABLE_QUIRKS2) with KVM_X86_QUIRK_SLOT_ZAP_ALL set (false) or the
     * quirk back on (true, the default): whether a delete or move zaps every SPTE or only the slot's.
     */
    public void setSlotZapAll(final boolean zapAll)
    {
        final ReentrantLock lock = slots.slotsLock();
        lock.lock();
        try
        {
            slotZapAll = zapAll;
        }
        finally
        {
            lock.unlock();
        }
    }

    /** The recovery a flag change that turns dirty logging off uses (default zap_huge). */
    public void setRecovery(final HugePageRecovery recovery)
    {
        this.recovery = java.util.Objects.requireNonNull(recovery, "recovery");
    }

    /**
     * KVM_SET_USER_MEMORY_REGION (kernel: kvm_set_memory_region: slots_lock, then
     * __kvm_set_memory_region). May run while vCPUs fault and access memory.
     *
     * @return what the request changed.
     * @throws IllegalArgumentException for a bad request, naming the field and the kernel's errno;
     *         nothing changed then.
     * @throws ResourceExhaustedException if a create runs out of host pages; no slot was added.
     */
    public Change set(final Region r)
    {
        final ReentrantLock lock = slots.slotsLock();
        lock.lock();
        try
        {
            final Change change = check(r);
            final Memslot old = slots.findById(r.slot());
            switch (change)
            {
                case CREATE:
                    create(r);
                    break;
                case DELETE:
                    delete(old);
                    break;
                case MOVE:
                    move(old, r.guestPhysAddr() / PAGE_SIZE);
                    break;
                case FLAGS_ONLY:
                    if ((r.flags() & KVM_MEM_LOG_DIRTY_PAGES) != 0)
                    {
                        dirtyLogging.enable(old, Memslot.LOG_WRPROT, false);
                    }
                    else
                    {
                        dirtyLogging.disable(old, recovery);
                    }
                    break;
                default:
                    return change;
            }
            vm.counters().memslotChanges.increment();
            return change;
        }
        finally
        {
            lock.unlock();
        }
    }

    /** A create of slot {@code id}: {@code npages} pages at {@code baseGfn}, logging off. */
    public Memslot create(final int id, final long baseGfn, final long npages, final Backing backing)
    {
        set(new Region(id, 0, baseGfn * PAGE_SIZE, npages * PAGE_SIZE, backing));
        return slots.findById(id);
    }

    /** A delete of slot {@code id}. */
    public void delete(final int id)
    {
        set(Region.delete(id));
    }

    /** A move of slot {@code id} to {@code newBaseGfn}, flags and backing kept. */
    public Memslot move(final int id, final long newBaseGfn)
    {
        final Memslot old = slots.findById(id);
        if (old == null)
        {
            throw new IllegalArgumentException(label(id) + ": no such slot to move (-EINVAL)");
        }
        set(new Region(id, old.dirtyLogging() ? KVM_MEM_LOG_DIRTY_PAGES : 0, newBaseGfn * PAGE_SIZE,
            old.npages() * PAGE_SIZE, old.backing()));
        return slots.findById(id);
    }

    /**
     * Classifies the request and checks it against the current set (kernel: the checks of
     * __kvm_set_memory_region, kvm_check_memslot_overlap and kvm_arch_prepare_memory_region).
     * Caller holds the slots lock; nothing changes here.
     */
    private Change check(final Region r)
    {
        final String what = label(r.slot());
        if (r.slot() < 0 || r.slot() >= Memslots.USER_MEM_SLOTS)
        {
            throw new IllegalArgumentException(what + ": slot id out of range 0.." + (Memslots.USER_MEM_SLOTS - 1) +
                " (KVM_USER_MEM_SLOTS; -EINVAL)");
        }
        if ((r.flags() & ~(KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY)) != 0)
        {
            throw new IllegalArgumentException(what + ": flags 0x" + Integer.toHexString(r.flags()) +
                " has bits other than KVM_MEM_LOG_DIRTY_PAGES (1) and KVM_MEM_READONLY (2) (-EINVAL)");
        }
        if ((r.flags() & KVM_MEM_READONLY) != 0)
        {
            throw new IllegalArgumentException(what + ": KVM_MEM_READONLY is not modeled (read-only slots exit to " +
                "userspace on writes); use flags 0 or 1");
        }
        if (r.memorySize() < 0 || (r.memorySize() & (PAGE_SIZE - 1)) != 0)
        {
            throw new IllegalArgumentException(what + ": memory_size 0x" + Long.toHexString(r.memorySize()) +
                " is not a multiple of 4 KiB (-EINVAL)");
        }
        if (r.guestPhysAddr() < 0 || (r.guestPhysAddr() & (PAGE_SIZE - 1)) != 0)
        {
            throw new IllegalArgumentException(what + ": guest_phys_addr 0x" + Long.toHexString(r.guestPhysAddr()) +
                " is not a multiple of 4 KiB (-EINVAL)");
        }
        final long npages = r.memorySize() / PAGE_SIZE;
        if (npages > Memslot.MAX_PAGES)
        {
            throw new IllegalArgumentException(what + ": " + npages + " pages, more than KVM_MEM_MAX_NR_PAGES (" +
                Memslot.MAX_PAGES + ") (-EINVAL)");
        }
        final Memslot old = slots.findById(r.slot());
        if (npages == 0)
        {
            if (old == null)
            {
                throw new IllegalArgumentException(what + ": delete of a slot that does not exist (-EINVAL)");
            }
            return Change.DELETE;
        }
        final long baseGfn = r.guestPhysAddr() / PAGE_SIZE;
        final boolean log = (r.flags() & KVM_MEM_LOG_DIRTY_PAGES) != 0;
        if (r.backing() == null)
        {
            throw new IllegalArgumentException(what + ": a create or change needs a backing (userspace_addr)");
        }
        if (old == null)
        {
            if (log)
            {
                throw new IllegalArgumentException(what + ": create with KVM_MEM_LOG_DIRTY_PAGES is not modeled; " +
                    "create the slot, then set the flag (a flags-only change)");
            }
            try
            {
                slots.checkRange(r.slot(), baseGfn, npages);
            }
            catch (final IllegalArgumentException e)
            {
                throw new IllegalArgumentException(what + ": " + e.getMessage() + errno(e), e);
            }
            return Change.CREATE;
        }
        if (npages != old.npages())
        {
            throw new IllegalArgumentException(what + ": " + old + " has " + old.npages() + " pages; a slot cannot be " +
                "resized (" + npages + " asked; -EINVAL)");
        }
        if (r.backing() != old.backing())
        {
            throw new IllegalArgumentException(what + ": " + old + " is backed by " + old.backing() + "; a change must " +
                "keep the backing (userspace_addr; -EINVAL)");
        }
        if (baseGfn != old.baseGfn())
        {
            if (old.dirtyLogging() || log)
            {
                throw new IllegalArgumentException(what + ": cannot move " + old + " with dirty logging on " +
                    "(turn KVM_MEM_LOG_DIRTY_PAGES off first; -EINVAL)");
            }
            final long align = old.backing().pages();
            if (((baseGfn ^ old.baseGfn()) & (align - 1)) != 0)
            {
                throw new IllegalArgumentException(what + ": a move of " + old + " must keep the base gfn's offset " +
                    "within its " + old.backing() + " pages (gfn 0x" + Long.toHexString(baseGfn) + " does not; -EINVAL)");
            }
            try
            {
                slots.checkRange(r.slot(), baseGfn, npages);
            }
            catch (final IllegalArgumentException e)
            {
                throw new IllegalArgumentException(what + ": " + e.getMessage() + errno(e), e);
            }
            return Change.MOVE;
        }
        return log != old.dirtyLogging() ? Change.FLAGS_ONLY : Change.NONE;
    }

    private static String errno(final IllegalArgumentException e)
    {
        return e.getMessage().contains("overlaps") ? " (-EEXIST)" : " (-EINVAL)";
    }

    private static String label(final int id)
    {
        return "KVM_SET_USER_MEMORY_REGION slot " + id;
    }

    /** kernel: KVM_MR_CREATE. Backed before it is published, so no fault finds it unbacked. */
    private void create(final Region r)
    {
        final Memslot slot = slots.create(r.slot(), r.guestPhysAddr() / PAGE_SIZE, r.memorySize() / PAGE_SIZE,
            r.backing());
        host.back(slot);
        slots.insert(slot);
    }

    /** kernel: kvm_invalidate_memslot then kvm_delete_memslot, then the VMM's munmap. */
    private void delete(final Memslot old)
    {
        invalidate(old);
        final Memslot invalid = slots.findById(old.id());
        slots.replace(invalid, null);
        synchronizeSrcu();
        old.dirtyBitmap().free();
        host.unback(old);
    }

    /** kernel: kvm_invalidate_memslot then kvm_move_memslot. */
    private void move(final Memslot old, final long newBaseGfn)
    {
        invalidate(old);
        final Memslot moved = old.movedTo(newBaseGfn);
        host.rebase(old, moved);
        slots.replace(slots.findById(old.id()), moved);
        synchronizeSrcu();
        old.dirtyBitmap().free();
    }

    /**
     * kernel: kvm_invalidate_memslot. Publishes the invalid copy, waits for the SRCU readers of the
     * old set, flushes the slot.
     */
    private void invalidate(final Memslot old)
    {
        slots.replace(old, old.invalidCopy());
        mmu.hook(TestHook.Point.MEMSLOT_AFTER_SWAP, old.baseGfn());
        if (!bugNoSrcuSync)
        {
            synchronizeSrcu();
        }
        mmu.hook(TestHook.Point.MEMSLOT_BEFORE_FLUSH, old.baseGfn());
        // kernel: kvm_arch_flush_shadow_memslot.
        if (slotZapAll)
        {
            mmu.zapAllFast();
        }
        else
        {
            mmu.zapMemslot(old);
        }
    }

    private void synchronizeSrcu()
    {
        slots.srcu().synchronize();
    }
}
