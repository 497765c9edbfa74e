package org.tdpmmu.stress;

import org.tdpmmu.core.Backing;
import org.tdpmmu.core.DirtyLogging;
import org.tdpmmu.core.DirtyRing;
import org.tdpmmu.core.Memslot;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;

/**
 * The dirty-ring races' common state: a stress VM with rings of {@value #ENTRIES} entries, one
 * 1,024-page 4 KiB slot logged by write protection, every page mapped read-only so a write takes
 * the fast fault, and one vCPU. Footprint: {@link StressVm}'s plus 16 KiB of ring per vCPU.
 */
public final class RingVm
{
    /** The smallest ring with the PML reserve: soft limit 1024 - 576 = 448. */
    public static final int ENTRIES = 1024;
    public static final int PAGES = 1024;
    /** The sentinel collect returns for an entry that names a page other than the one pushed. */
    public static final long NONE = -1;

    public final Vm vm;
    public final Memslot slot;
    public final Vcpu vcpu;
    public final DirtyLogging log;

    public RingVm()
    {
        this(StressVm.create());
    }

    /** The fixture on {@code vm}, which has no vCPU yet. */
    public RingVm(final Vm vm)
    {
        this.vm = vm;
        vm.enableDirtyRing(ENTRIES);
        slot = vm.addMemslot(0, PAGES, Backing.PAGE_4K);
        vcpu = vm.createVcpu();
        log = new DirtyLogging(vm);
        log.enable(slot, Memslot.LOG_WRPROT, false);
    }

    public DirtyRing ring()
    {
        return vcpu.dirtyRing();
    }

    /** Maps {@code gfn} read-only (a read, then out of the guest): its first write takes the fast fault. */
    public RingVm mapReadOnly(final long gfn)
    {
        vcpu.read(gfn);
        vcpu.exitGuest();
        return this;
    }

    /**
     * {@link #collectMask} until it reports something or {@code spins} tries have passed: a
     * collector polling the ring, so it reads an entry the moment its flags say DIRTY.
     */
    public long collectPolling(final int spins)
    {
        long m = 0;
        for (int i = 0; i < spins && m == 0; i++)
        {
            m = collectMask();
        }
        return m;
    }

    /** Entries the last {@link #collectMask} collected. */
    private int collected;

    /**
     * Collects the ring once: the bit mask of the offsets 0..63 it reported (offset 0 is a page
     * no test writes: a stale entry reads as it), or -1 if an entry was outside 0..63.
     */
    public long collectMask()
    {
        final long[] mask = {0};
        collected = ring().collect((slotId, offset) ->
            mask[0] = offset >= 0 && offset < 64 && mask[0] != -1 ? mask[0] | 1L << offset : -1);
        return mask[0];
    }

    /**
     * Collects, then KVM_RESET_DIRTY_RINGS, with no push racing: the mask as {@link #collectMask}.
     *
     * @throws IllegalStateException if the reset count is not the collected count.
     */
    public long harvest()
    {
        final long mask = collectMask();
        final int reset = log.resetDirtyRings(vm.vcpus());
        if (reset != collected)
        {
            throw new IllegalStateException("KVM_RESET_DIRTY_RINGS reset " + reset + " entries, " + collected + " were collected");
        }
        return mask;
    }
}
