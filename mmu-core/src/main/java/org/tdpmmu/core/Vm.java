package org.tdpmmu.core;

import org.tdpmmu.concurrency.InvalidationSequence;
import org.tdpmmu.concurrency.MmuLock;
import org.tdpmmu.concurrency.Rcu;
import org.tdpmmu.concurrency.RemoteRequests;

/**
 * A simulated VM: memslots, host memory, the TDP MMU and its concurrency model, and vCPUs
 * (kernel: struct kvm). The entry point for tests, stress tests and scenarios.
 */
public final class Vm implements AutoCloseable
{
    private final VmConfig config;
    private final PageTableStore store;
    private final Rcu rcu;
    private final MmuLock lock;
    private final InvalidationSequence invalidation;
    private final RemoteRequests requests;
    private final Memslots slots;
    private final HostMemory host;
    private final MmuCounters counters = new MmuCounters();
    private final TdpMmu mmu;
    private final KvmSetMemoryRegion memoryRegions;
    private final java.util.List<Vcpu> vcpus = new java.util.ArrayList<>();
    private boolean destroyed;
    /** Entries of each vCPU's dirty ring, 0 without rings (kernel: kvm->dirty_ring_size / 16). */
    private int dirtyRingEntries;

    public Vm(final VmConfig config)
    {
        this(config, FaultInjection.NONE);
    }

    /**
     * A VM whose page-table and host-page allocations go through {@code faults} (tests only: the
     * CLI never builds one).
     *
     * @throws ResourceExhaustedException if the root table cannot be allocated; nothing is left
     *         running then (the RCU reclaimer thread is stopped).
     */
    public Vm(final VmConfig config, final FaultInjection faults)
    {
        // No MAXPHYADDR bound: the root's whole range (a 5-level root's 57 bits exceed x86's 52, and
        // the VMs of the tests and scenarios address all of it).
        this(config, faults, 1L << (Spte.LEVEL_BITS * config.rootLevel()));
    }

    /** The narrowest host physical address width accepted (the oldest x86-64 parts). */
    public static final int MIN_PHYS_ADDR_BITS = 36;
    /** The widest: the architectural limit of x86-64 physical addresses. */
    public static final int MAX_PHYS_ADDR_BITS = 52;

    /**
     * As {@link #Vm(VmConfig, FaultInjection)} on a host whose physical addresses have
     * {@code hostMaxPhysAddr} bits: no memslot may reach past the last gfn they address, and a
     * zap of a whole root stops there instead of at the end of the root's range (kernel:
     * kvm_mmu_max_gfn, tdp_mmu_max_gfn_exclusive, with TDP the guest's physical addresses are
     * bounded by the host's MAXPHYADDR; kvm_arch_prepare_memory_region refuses a slot beyond it).
     * A narrow width makes a zap of the root a walk of the entries that can be present, which is
     * what the model checker's tiny VMs need.
     *
     * @throws IllegalArgumentException if {@code hostMaxPhysAddr} is outside 36..52.
     */
    public Vm(final VmConfig config, final FaultInjection faults, final int hostMaxPhysAddr)
    {
        this(config, faults, Math.min(1L << (Spte.LEVEL_BITS * config.rootLevel()),
            1L << (checkedPhysAddrBits(hostMaxPhysAddr) - PageTableStore.PAGE_SHIFT)));
    }

    private static int checkedPhysAddrBits(final int hostMaxPhysAddr)
    {
        if (hostMaxPhysAddr < MIN_PHYS_ADDR_BITS || hostMaxPhysAddr > MAX_PHYS_ADDR_BITS)
        {
            throw new IllegalArgumentException("hostMaxPhysAddr " + hostMaxPhysAddr + " is outside " +
                MIN_PHYS_ADDR_BITS + ".." + MAX_PHYS_ADDR_BITS + " (bits of a host physical address)");
        }
        return hostMaxPhysAddr;
    }

    private Vm(final VmConfig config, final FaultInjection faults, final long maxGfnExclusive)
    {
        this.config = config;
        this.store = new PageTableStore(config.tableCapacity(), faults, Spte.nonPresent(config.suppressVeNonPresent()));
        this.lock = new MmuLock();
        this.invalidation = new InvalidationSequence();
        this.requests = new RemoteRequests(config.maxVcpus());
        this.slots = new Memslots(maxGfnExclusive, config.rootLevel());
        this.host = new HostMemory(config.hostFrameLimit(), faults);
        // Last before the root: the reclaimer is the one thing here that must be stopped on failure.
        this.rcu = config.rcuReclaimer() ? Rcu.withReclaimer("tdpmmu-rcu") : new Rcu();
        try
        {
            this.mmu = new TdpMmu(config, store, rcu, lock, invalidation, requests, slots, host, counters, maxGfnExclusive);
        }
        catch (final RuntimeException | Error e)
        {
            // kernel: kvm_create_vm unwinds on a failed root allocation; here only the reclaimer runs.
            rcu.close();
            throw e;
        }
        this.memoryRegions = new KvmSetMemoryRegion(this);
    }

    /** KVM_SET_USER_MEMORY_REGION while vCPUs run: create, delete, move, flag changes. */
    public KvmSetMemoryRegion memoryRegions()
    {
        return memoryRegions;
    }

    /**
     * Adds a memslot and backs it with host memory (kernel: KVM_SET_USER_MEMORY_REGION).
     *
     * @throws IllegalArgumentException for an empty, overlapping or out-of-range slot.
     * @throws ResourceExhaustedException when the host pages run out; the slot is removed again
     *         (kernel: the ioctl fails with -ENOMEM and installs no slot).
     */
    public Memslot addMemslot(final long baseGfn, final long npages, final Backing backing)
    {
        final Memslot slot = slots.add(baseGfn, npages, backing);
        try
        {
            host.back(slot);
        }
        catch (final ResourceExhaustedException e)
        {
            slots.remove(slot);
            throw e;
        }
        return slot;
    }

    /**
     * KVM_ENABLE_CAP(KVM_CAP_DIRTY_LOG_RING_ACQ_REL): every vCPU created from now on gets a dirty
     * ring of {@code entries} and pages vCPUs dirty go there instead of to the bitmap (kernel:
     * kvm_vm_ioctl_enable_dirty_log_ring, 6.12). The reserve is the VMX PML buffer's
     * ({@link DirtyRing#PML_ENTRIES}), as on an Intel host with PML, so the smallest ring is 1024.
     *
     * @throws IllegalArgumentException for a size the kernel refuses (naming the range).
     * @throws IllegalStateException if rings are already on or a vCPU exists (the kernel's -EINVAL).
     */
    public synchronized void enableDirtyRing(final int entries)
    {
        checkAlive();
        DirtyRing.checkEntries(entries, DirtyRing.PML_ENTRIES);
        if (dirtyRingEntries != 0 || !vcpus.isEmpty())
        {
            throw new IllegalStateException("dirty ring: enable it once, before the first vCPU is created (" +
                (dirtyRingEntries != 0 ? "already on with " + dirtyRingEntries + " entries" : vcpus.size() + " vCPUs exist") + ")");
        }
        dirtyRingEntries = entries;
        mmu.setDirtyRings();
    }

    /** Entries of each vCPU's dirty ring, or 0 without rings. */
    public synchronized int dirtyRingEntries()
    {
        return dirtyRingEntries;
    }

    /** The vCPUs created so far, in order of creation. */
    public synchronized java.util.List<Vcpu> vcpus()
    {
        return java.util.List.copyOf(vcpus);
    }

    /** Creates a vCPU (kernel: KVM_CREATE_VCPU), with a dirty ring if the VM has rings. */
    public synchronized Vcpu createVcpu()
    {
        checkAlive();
        final DirtyRing ring = dirtyRingEntries == 0 ? null : new DirtyRing(dirtyRingEntries, DirtyRing.PML_ENTRIES, mmu);
        final Vcpu vcpu = new Vcpu(this, requests.register(), config.tlbEntries(), ring);
        vcpus.add(vcpu);
        return vcpu;
    }

    /** Migrates host pages behind a gfn range under an mmu_notifier invalidation. */
    public int migrate(final Memslot slot, final long gfn, final long count)
    {
        checkAlive();
        return host.migrate(mmu, slot, gfn, count);
    }

    /** A host invalidation that changes no pfn (reclaim scan, NUMA hinting): zap, flush, end. */
    public void invalidate(final long startGfn, final long endGfn)
    {
        checkAlive();
        mmu.invalidateRangeStart(startGfn, endGfn);
        mmu.invalidateRangeEnd(startGfn, endGfn);
    }

    /**
     * Tears the VM down: zaps every SPTE under the write lock, frees the root and the vCPUs' page
     * table caches, waits for an RCU barrier so every table is back in the store (safety property 4
     * is then checkable). The vCPU threads must have stopped.
     */
    public synchronized void destroy()
    {
        if (destroyed)
        {
            return;
        }
        destroyed = true;
        mmu.destroy();
        for (final Vcpu vcpu : vcpus)
        {
            vcpu.freeMemoryCache();
        }
        rcu.barrier();
    }

    @Override
    public void close()
    {
        destroy();
        rcu.close();
    }

    private void checkAlive()
    {
        if (destroyed)
        {
            throw new IllegalStateException("VM is destroyed");
        }
    }

    public VmConfig config()
    {
        return config;
    }

    public TdpMmu mmu()
    {
        return mmu;
    }

    public PageTableStore store()
    {
        return store;
    }

    public Rcu rcu()
    {
        return rcu;
    }

    public MmuLock lock()
    {
        return lock;
    }

    public InvalidationSequence invalidation()
    {
        return invalidation;
    }

    public RemoteRequests requests()
    {
        return requests;
    }

    public Memslots memslots()
    {
        return slots;
    }

    public HostMemory host()
    {
        return host;
    }

    public MmuCounters counters()
    {
        return counters;
    }
}
