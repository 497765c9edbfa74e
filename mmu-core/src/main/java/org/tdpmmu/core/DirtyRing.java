package org.tdpmmu.core;

import org.agrona.BufferUtil;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * One vCPU's dirty ring (kernel: struct kvm_dirty_ring, virt/kvm/dirty_ring.c; the userspace side
 * as QEMU's kvm_dirty_ring_reap_one does it). Entries are {@code struct kvm_dirty_gfn}: a 32-bit
 * flags word, a 32-bit slot ({@code as_id << 16 | id}, always address space 0 here) and a 64-bit
 * page offset within the slot, 16 bytes each, off-heap: the buffer is the memory the kernel
 * shares with userspace through mmap, so every access to it states its ordering.
 *
 * <p>Three parties touch a ring. The vCPU's thread pushes ({@link #push}: slot and offset with
 * plain stores, then DIRTY with a release store, the kernel's smp_wmb before the flags write).
 * The collector (userspace) reads flags with an acquire load, then slot and offset, and marks the
 * entry RESET with a release store ({@link #collect}). {@code KVM_RESET_DIRTY_RINGS}
 * ({@link #reset}, serialised by the caller, kernel: slots_lock) reads RESET with an acquire load,
 * reads slot and offset, re-protects, and stores flags 0 with release so the vCPU may reuse the
 * entry. {@code dirtyIndex} is written only by the vCPU, {@code resetIndex} only by the reset; each
 * is read by the other side with a volatile load (the kernel's READ_ONCE in kvm_dirty_ring_used).
 *
 * <p>Sizes (kernel: kvm_vm_ioctl_enable_dirty_log_ring, 6.12): the ring's bytes a power of two, at
 * least one page and at least the reserved entries, at most {@link #MAX_ENTRIES} entries. The
 * soft limit is the size less the reserved entries (kernel: kvm_dirty_ring_alloc,
 * kvm_dirty_ring_get_rsvd_entries = {@link #RSVD_ENTRIES} + kvm_cpu_dirty_log_size, which is the
 * PML buffer's {@link #PML_ENTRIES} on VMX with PML, 0 without): the room a vCPU may still fill
 * between crossing the soft limit and its next VM entry, where it exits.
 */
public final class DirtyRing
{
    /** Bytes of one struct kvm_dirty_gfn. */
    public static final int ENTRY_BYTES = 16;
    /** kernel: KVM_DIRTY_GFN_F_DIRTY, set by the push. */
    public static final int F_DIRTY = 1;
    /** kernel: KVM_DIRTY_GFN_F_RESET, set by the collector. */
    public static final int F_RESET = 2;
    /** kernel: KVM_DIRTY_RING_RSVD_ENTRIES (include/linux/kvm_host.h). */
    public static final int RSVD_ENTRIES = 64;
    /** kernel: KVM_DIRTY_RING_MAX_ENTRIES. */
    public static final int MAX_ENTRIES = 65536;
    /** kernel: PML_ENTITY_NUM, the VMX cpu_dirty_log_size when PML is on. */
    public static final int PML_ENTRIES = 512;
    /** The kernel's PAGE_SIZE, the ring's smallest size in bytes. */
    private static final int PAGE_BYTES = 4096;
    private static final int FLAGS_AT = 0;
    private static final int SLOT_AT = 4;
    private static final int OFFSET_AT = 8;
    /**
     * Masks a reset re-protects between two yields. The kernel's cond_resched after each mask costs a
     * few cycles unless a reschedule is due; Thread.yield is a sched_yield system call that, on a
     * busy host, gives the CPU away every time (measured: a reset of 65,536 dense entries went from
     * about 0.02 s to over 1 s with a yield per mask while other processes ran).
     */
    static final int MASKS_PER_YIELD = 64;

    /** Receives a collected entry (userspace's harvest). */
    @FunctionalInterface
    public interface Collector
    {
        void dirty(int slot, long offset);
    }

    /** Re-protects the pages of {@code mask}, bit i = page offset + i of {@code slot} (kernel: kvm_reset_dirty_gfn). */
    @FunctionalInterface
    public interface MaskReset
    {
        void reset(int slot, long offset, long mask);
    }

    private final int size;
    private final int softLimit;
    private final UnsafeBuffer buffer;
    /** Next entry the vCPU fills; written only by the vCPU's thread. */
    private volatile int dirtyIndex;
    /** Next entry the reset looks at; written only under the caller's serialisation of resets. */
    private volatile int resetIndex;
    /** Userspace's own index of the next entry to collect (QEMU: fetch_index); collector thread only. */
    private int fetchIndex;
    /** KVM_REQ_DIRTY_RING_SOFT_FULL: set by the push that reached the soft limit, cleared at VM entry. */
    private volatile boolean softFullRequest;
    /** The VM's MMU for its test hook, or null for a ring outside a VM. */
    private final TdpMmu mmu;
    private final boolean bugDirtyBeforeEntry;
    private final boolean bugReenterBeforeReset;

    /**
     * @param entries         ring entries (KVM_CAP_DIRTY_LOG_RING's byte size / {@link #ENTRY_BYTES}).
     * @param cpuDirtyLogSize kernel: kvm_cpu_dirty_log_size, {@link #PML_ENTRIES} or 0.
     * @throws IllegalArgumentException for a size the kernel refuses, naming the allowed range.
     */
    public DirtyRing(final int entries, final int cpuDirtyLogSize)
    {
        this(entries, cpuDirtyLogSize, null);
    }

    /** A vCPU's ring in the VM whose MMU is {@code mmu} (its test hook and seeded bugs). */
    DirtyRing(final int entries, final int cpuDirtyLogSize, final TdpMmu mmu)
    {
        checkEntries(entries, cpuDirtyLogSize);
        this.mmu = mmu;
        this.bugDirtyBeforeEntry = mmu != null && mmu.config().has(SeededBug.RING_DIRTY_BEFORE_ENTRY);
        this.bugReenterBeforeReset = mmu != null && mmu.config().has(SeededBug.RING_REENTER_BEFORE_RESET);
        this.size = entries;
        this.softLimit = entries - reservedEntries(cpuDirtyLogSize);
        this.buffer = new UnsafeBuffer(BufferUtil.allocateDirectAligned(entries * ENTRY_BYTES, 64));
    }

    /** kernel: kvm_dirty_ring_get_rsvd_entries. */
    public static int reservedEntries(final int cpuDirtyLogSize)
    {
        return RSVD_ENTRIES + cpuDirtyLogSize;
    }

    /** The fewest entries the kernel accepts: a power of two, one page and the reserved entries. */
    public static int minEntries(final int cpuDirtyLogSize)
    {
        return Integer.highestOneBit(Math.max(PAGE_BYTES / ENTRY_BYTES, reservedEntries(cpuDirtyLogSize) * 2 - 1));
    }

    /**
     * The checks of kvm_vm_ioctl_enable_dirty_log_ring on the entry count.
     *
     * @throws IllegalArgumentException naming the size and the allowed range.
     */
    public static void checkEntries(final long entries, final int cpuDirtyLogSize)
    {
        final int min = minEntries(cpuDirtyLogSize);
        if (entries < min || entries > MAX_ENTRIES || (entries & (entries - 1)) != 0)
        {
            throw new IllegalArgumentException("dirty ring of " + entries + " entries: must be a power of two in " +
                min + ".." + MAX_ENTRIES + " (at least one page and the " + reservedEntries(cpuDirtyLogSize) +
                " reserved entries, at most KVM_DIRTY_RING_MAX_ENTRIES)");
        }
    }

    /** Direct bytes one ring of {@code entries} reserves: its entries and the alignment slack. */
    public static long reservedBytes(final int entries)
    {
        return (long)entries * ENTRY_BYTES + 64;
    }

    public int size()
    {
        return size;
    }

    public int softLimit()
    {
        return softLimit;
    }

    /** kernel: kvm_dirty_ring_used. Entries pushed and not yet reset. */
    public int used()
    {
        return dirtyIndex - resetIndex;
    }

    /** kernel: kvm_dirty_ring_soft_full. */
    public boolean softFull()
    {
        return used() >= softLimit;
    }

    /** kernel: kvm_dirty_ring_full. */
    public boolean full()
    {
        return used() >= size;
    }

    /**
     * kernel: kvm_dirty_ring_push. vCPU thread only. A push into a full ring is an MMU bug (the
     * kernel WARNs and overwrites an entry userspace has not collected: a lost dirty page). So is,
     * here, a push into a soft-full ring: each VM entry checks the soft limit, and one entry of the
     * simulator pushes at most once before the next check (the kernel's reserve covers a whole
     * PML buffer flushed at once), so such a push means the vCPU re-entered before the reset.
     *
     * @return true if the ring is now soft full (the soft-full request is then pending).
     */
    public boolean push(final int slot, final long offset)
    {
        final int index = dirtyIndex;
        final int used = index - resetIndex;
        if (used >= size)
        {
            throw new MmuBugException("dirty ring full: " + size + " entries pushed and not reset; a vCPU must exit " +
                "at the soft limit (" + softLimit + ") before it fills the ring");
        }
        if (used >= softLimit && mmu != null)
        {
            throw new MmuBugException("push to a soft-full dirty ring (" + used + " of " + size + " entries used, soft " +
                "limit " + softLimit + "): the vCPU entered the guest before its ring was reset");
        }
        final int at = (index & (size - 1)) * ENTRY_BYTES;
        final UnsafeBuffer b = buffer;
        if (bugDirtyBeforeEntry)
        {
            b.putIntRelease(at + FLAGS_AT, F_DIRTY);
            hook(offset);
            b.putInt(at + SLOT_AT, slot);
            b.putLong(at + OFFSET_AT, offset);
        }
        else
        {
            b.putInt(at + SLOT_AT, slot);
            b.putLong(at + OFFSET_AT, offset);
            hook(offset);
            // Release: the collector's acquire load of DIRTY must see slot and offset (kernel: smp_wmb).
            b.putIntRelease(at + FLAGS_AT, F_DIRTY);
        }
        dirtyIndex = index + 1;
        if (index + 1 - resetIndex >= softLimit)
        {
            softFullRequest = true;
            return true;
        }
        return false;
    }

    /**
     * kernel: kvm_dirty_ring_check_request, at VM entry. A pending soft-full request with the ring
     * still soft full stays pending and the vCPU must exit (KVM_EXIT_DIRTY_RING_FULL); a reset
     * since lets the request go.
     *
     * @return true if the vCPU must exit instead of entering.
     */
    public boolean checkRequest()
    {
        if (!softFullRequest)
        {
            return false;
        }
        if (bugReenterBeforeReset)
        {
            softFullRequest = false;
            return true;
        }
        if (softFull())
        {
            return true;
        }
        softFullRequest = false;
        return false;
    }

    /**
     * Userspace's harvest of this ring (QEMU: kvm_dirty_ring_reap_one): from its fetch index, each
     * entry whose flags (acquire load) say DIRTY is handed to {@code collector} and marked RESET
     * with a release store; stops at the first entry not yet published. Collector thread only
     * (one per ring at a time).
     *
     * @return entries collected.
     */
    public int collect(final Collector collector)
    {
        final UnsafeBuffer b = buffer;
        int n = 0;
        while (true)
        {
            final int at = (fetchIndex & (size - 1)) * ENTRY_BYTES;
            // Acquire: pairs with the push's release, so slot and offset below are the pushed ones.
            if ((b.getIntAcquire(at + FLAGS_AT) & F_DIRTY) == 0)
            {
                return n;
            }
            final int slot = b.getInt(at + SLOT_AT);
            final long offset = b.getLong(at + OFFSET_AT);
            collector.dirty(slot, offset);
            // Release: the reset's acquire of RESET then sees this collector done with the entry.
            b.putIntRelease(at + FLAGS_AT, F_RESET);
            fetchIndex++;
            n++;
        }
    }

    /**
     * kernel: kvm_dirty_ring_reset, with the bounds of the 2025 "Dirty ring fixes and cleanups"
     * series (6.16): at most {@code budget} entries (the kernel caps one KVM_RESET_DIRTY_RINGS at
     * INT_MAX entries over all rings, as a ring re-dirtied and re-collected while it is reset could
     * otherwise keep it going), and a yield between masks (their cond_resched after each mask; here
     * every {@value #MASKS_PER_YIELD} masks, see there).
     * From the reset index, each entry whose flags (acquire load) say RESET is taken: slot and
     * offset read, flags stored 0 with release (kernel: kvm_dirty_gfn_set_invalid) so the vCPU may
     * reuse it. Neighbouring offsets of one slot are coalesced into one 64-page mask, forwards
     * (the page lies within 64 above the mask's base) or backwards (within 64 below, if the mask's
     * bits still fit shifted), and each mask is handed to {@code reset} once. Caller serialises
     * resets (kernel: slots_lock).
     *
     * @return entries reset; the collector collected at least as many.
     */
    public int reset(final MaskReset reset, final int budget)
    {
        final UnsafeBuffer b = buffer;
        int count = 0;
        int curSlot = 0;
        long curOffset = 0;
        long mask = 0;
        int masks = 0;
        int index = resetIndex;
        while (count < budget)
        {
            final int at = (index & (size - 1)) * ENTRY_BYTES;
            // Acquire: pairs with the collector's release of RESET.
            if ((b.getIntAcquire(at + FLAGS_AT) & F_RESET) == 0)
            {
                break;
            }
            final int nextSlot = b.getInt(at + SLOT_AT);
            final long nextOffset = b.getLong(at + OFFSET_AT);
            // Release: the entry's reads above are done before the vCPU may refill it.
            b.putIntRelease(at + FLAGS_AT, 0);
            index++;
            resetIndex = index;
            count++;
            if (mask != 0 && nextSlot == curSlot)
            {
                final long delta = nextOffset - curOffset;
                if (delta >= 0 && delta < 64)
                {
                    mask |= 1L << delta;
                    continue;
                }
                if (delta > -64 && delta < 0 && (mask << -delta >>> -delta) == mask)
                {
                    curOffset = nextOffset;
                    mask = (mask << -delta) | 1;
                    continue;
                }
            }
            if (mask != 0)
            {
                reset.reset(curSlot, curOffset, mask);
                if (++masks % MASKS_PER_YIELD == 0)
                {
                    Thread.yield();
                }
            }
            curSlot = nextSlot;
            curOffset = nextOffset;
            mask = 1;
        }
        if (mask != 0)
        {
            reset.reset(curSlot, curOffset, mask);
        }
        return count;
    }

    private void hook(final long offset)
    {
        if (mmu != null)
        {
            mmu.hook(TestHook.Point.RING_PUSH_BEFORE_ENTRY, offset);
        }
    }

    /** Entries pushed since the ring was made (the vCPU's dirty index). */
    public int dirtyIndex()
    {
        return dirtyIndex;
    }

    /** Entries reset since the ring was made. */
    public int resetIndex()
    {
        return resetIndex;
    }
}
