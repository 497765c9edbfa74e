package org.tdpmmu.scenarios.model;

import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * The simulated VM: vCPUs, guest memory split into memslots, and the TDP root level.
 * Like memstress (the library under dirty_log_perf_test), vCPU {@code i} owns the
 * {@code memoryPerVcpu} bytes starting at byte {@code i * memoryPerVcpu} of the guest memory, where
 * guest memory is the slots laid end to end in slot order (the region may cross slot boundaries).
 *
 * @param vcpus         number of vCPUs, 1..512
 * @param memoryPerVcpu bytes each vCPU touches, a positive multiple of 4 KiB; {@code vcpus * memoryPerVcpu}
 *                      is at most the total slot size
 * @param rootLevel     paging levels of the TDP root: 4 (48-bit guest physical) or 5 (57-bit)
 * @param slots         the memslots, at least one, not overlapping, each inside the guest physical space
 * @param overlapVcpuMemory every vCPU touches all {@code vcpus * memoryPerVcpu} bytes instead of its own
 *                      {@code memoryPerVcpu} (dirty_log_perf_test {@code -o}: memstress without
 *                      partition_vcpu_memory_access), so vCPUs fault, write and get harvested on the same pages
 * @param locklessAging host {@code age} events age under RCU alone (6.15+) instead of under mmu_lock held
 *                      for write
 * @param kernel        the other kernel-era switches, resolved from {@code vm.kernel} and the explicit fields
 * @param slotZapAllQuirk KVM_X86_QUIRK_SLOT_ZAP_ALL on (the kernel's default): a memslot delete or move zaps
 *                      every SPTE of the VM (kvm_mmu_zap_all_fast); {@code false}, as a VMM that disables the
 *                      quirk with KVM_CAP_DISABLE_QUIRKS2 (6.12+), zaps only the slot's range. Not a kernel-era
 *                      switch: the VMM chooses it, so no preset sets it.
 * @param sliceAccesses guest accesses a vCPU thread runs on a simulated pCPU before it leaves the pCPU to a
 *                      waiting vCPU thread (its time slice), 1..{@value #MAX_SLICE_ACCESSES}; the host's
 *                      scheduling, not KVM's, so no preset sets it. See {@link #DEFAULT_SLICE_ACCESSES}.
 */
public record VmConfig(int vcpus, long memoryPerVcpu, int rootLevel, List<SlotConfig> slots, boolean overlapVcpuMemory,
                       boolean locklessAging, KernelSwitches kernel, boolean slotZapAllQuirk, int sliceAccesses) {

    /** The default base gfn of the first slot: 0x100000, i.e. guest physical 4 GiB (1 GiB aligned). */
    public static final long DEFAULT_SLOT_BASE_GFN = 0x100000L;

    /**
     * A vCPU thread's time slice when more vCPUs than pCPUs are runnable, in guest accesses. On an
     * overcommitted host the scheduler lets a runnable vCPU thread run for its base slice before it
     * picks another (kernel: sysctl_sched_base_slice, 0.75 ms, EEVDF since 6.6; before it
     * sched_min_granularity_ns, the same 0.75 ms), scaled by 1 + ilog2 of the CPU count up to 8
     * (SCHED_TUNABLESCALING_LOG, the default): 1.5 ms on 2 CPUs, 3 ms on the kernel tests' hosts.
     * A faulting access costs the host about 1.3 µs (the cost model's vmexit and fault.fast), so
     * 0.75-3 ms is some 600-2,300 faulting accesses, and tens of thousands that only miss the TLB:
     * 2048 is a base slice of faulting accesses and, for the others, a shorter one, so vCPUs still
     * take turns within a pass of any size the figures run. The simulator's own cost is the reason
     * not to go shorter: each turn is a context switch that brings a vCPU thread back to a cold TLB
     * array and caches, and real turns every 256 accesses add about a fifth to a faulting pass's CPU
     * time.
     */
    public static final int DEFAULT_SLICE_ACCESSES = 2048;
    /** The longest slice: 16 Mi accesses, a pass over 64 GiB of 4 KiB pages, i.e. no turns in any pass. */
    public static final int MAX_SLICE_ACCESSES = 1 << 24;

    public VmConfig {
        slots = List.copyOf(Objects.requireNonNull(slots, "slots"));
        Objects.requireNonNull(kernel, "kernel");
        if (vcpus < 1 || memoryPerVcpu <= 0 || memoryPerVcpu % Sizes.KIB_4 != 0
                || (rootLevel != 4 && rootLevel != 5) || slots.isEmpty()) {
            throw new IllegalArgumentException("bad VM: " + vcpus + " vCPUs x " + memoryPerVcpu
                    + " bytes, root level " + rootLevel + ", " + slots.size() + " slots");
        }
        if (sliceAccesses < 1 || sliceAccesses > MAX_SLICE_ACCESSES) {
            throw new IllegalArgumentException("vm.sliceAccesses: " + sliceAccesses + " is out of range 1.."
                    + MAX_SLICE_ACCESSES + " (guest accesses a vCPU runs before it leaves its pCPU to another)");
        }
    }

    /** With the default time slice ({@link #DEFAULT_SLICE_ACCESSES}). */
    public VmConfig(int vcpus, long memoryPerVcpu, int rootLevel, List<SlotConfig> slots, boolean overlapVcpuMemory,
                    boolean locklessAging, KernelSwitches kernel, boolean slotZapAllQuirk) {
        this(vcpus, memoryPerVcpu, rootLevel, slots, overlapVcpuMemory, locklessAging, kernel, slotZapAllQuirk,
                DEFAULT_SLICE_ACCESSES);
    }

    /** With the zap-all quirk on, as the kernel has it by default. */
    public VmConfig(int vcpus, long memoryPerVcpu, int rootLevel, List<SlotConfig> slots, boolean overlapVcpuMemory,
                    boolean locklessAging, KernelSwitches kernel) {
        this(vcpus, memoryPerVcpu, rootLevel, slots, overlapVcpuMemory, locklessAging, kernel, true);
    }

    /** Each vCPU on its own region (memstress's default). */
    public VmConfig(int vcpus, long memoryPerVcpu, int rootLevel, List<SlotConfig> slots) {
        this(vcpus, memoryPerVcpu, rootLevel, slots, false);
    }

    /** Every kernel-era switch as the newest release has it. */
    public VmConfig(int vcpus, long memoryPerVcpu, int rootLevel, List<SlotConfig> slots, boolean overlapVcpuMemory) {
        this(vcpus, memoryPerVcpu, rootLevel, slots, overlapVcpuMemory, true, KernelSwitches.NEWEST);
    }

    /** With {@code locklessAging} given, the other kernel-era switches as the newest release has them. */
    public VmConfig(int vcpus, long memoryPerVcpu, int rootLevel, List<SlotConfig> slots, boolean overlapVcpuMemory,
                    boolean locklessAging) {
        this(vcpus, memoryPerVcpu, rootLevel, slots, overlapVcpuMemory, locklessAging, KernelSwitches.NEWEST);
    }

    /** This VM with every vCPU touching all of the test memory ({@code true}) or only its own region. */
    public VmConfig withOverlapVcpuMemory(boolean overlap) {
        return new VmConfig(vcpus, memoryPerVcpu, rootLevel, slots, overlap, locklessAging, kernel, slotZapAllQuirk, sliceAccesses);
    }

    /** This VM with aging under RCU alone ({@code true}, 6.15+) or under mmu_lock held for write. */
    public VmConfig withLocklessAging(boolean lockless) {
        return new VmConfig(vcpus, memoryPerVcpu, rootLevel, slots, overlapVcpuMemory, lockless, kernel, slotZapAllQuirk, sliceAccesses);
    }

    /** This VM with the kernel-era switches {@code switches}. */
    public VmConfig withKernel(KernelSwitches switches) {
        return new VmConfig(vcpus, memoryPerVcpu, rootLevel, slots, overlapVcpuMemory, locklessAging, switches, slotZapAllQuirk, sliceAccesses);
    }

    /** This VM with KVM_X86_QUIRK_SLOT_ZAP_ALL on ({@code true}, the default) or disabled. */
    public VmConfig withSlotZapAllQuirk(boolean zapAll) {
        return new VmConfig(vcpus, memoryPerVcpu, rootLevel, slots, overlapVcpuMemory, locklessAging, kernel, zapAll,
                sliceAccesses);
    }

    /** This VM with vCPU time slices of {@code accesses} guest accesses. */
    public VmConfig withSliceAccesses(int accesses) {
        return new VmConfig(vcpus, memoryPerVcpu, rootLevel, slots, overlapVcpuMemory, locklessAging, kernel,
                slotZapAllQuirk, accesses);
    }

    /** The 4 KiB guest frames one vCPU touches in a pass: its own region, or all of them when overlapping. */
    public long pagesPerVcpuPass() {
        return overlapVcpuMemory ? vcpus * pagesPerVcpu() : pagesPerVcpu();
    }

    /**
     * {@code memslots} equal slots of {@code backing}, laid out back to back from {@code baseGfn},
     * holding {@code vcpus * memoryPerVcpu} bytes (dirty_log_perf_test {@code -v -b -x -s}).
     *
     * @throws IllegalArgumentException if the memory does not split into slots that are whole
     *                                  multiples of the backing page
     */
    public static VmConfig uniform(int vcpus, long memoryPerVcpu, int memslots, Backing backing,
                                   int rootLevel, long baseGfn) {
        if (memslots < 1) {
            throw new IllegalArgumentException("memslots must be at least 1");
        }
        long totalPages = Math.multiplyExact((long) vcpus, memoryPerVcpu) / Sizes.KIB_4;
        long perSlot = totalPages / memslots;
        if (perSlot > SlotConfig.MAX_PAGES) {
            throw new IllegalArgumentException((memslots == 1 ? "the slot" : "each of the " + memslots + " slots")
                    + " would hold " + Sizes.human(perSlot * Sizes.KIB_4) + ", more than " + SlotConfig.MAX_PAGES_TEXT
                    + "; use at least " + (totalPages + SlotConfig.MAX_PAGES - 1) / SlotConfig.MAX_PAGES + " slots");
        }
        if (totalPages % memslots != 0 || perSlot % backing.pageFrames() != 0) {
            throw new IllegalArgumentException(Sizes.human(totalPages * Sizes.KIB_4) + " of guest memory does not split into "
                    + memslots + " slots that are each a multiple of the " + backing.yamlName()
                    + " page size (" + Sizes.human(backing.pageSize()) + ")");
        }
        java.util.ArrayList<SlotConfig> list = new java.util.ArrayList<>();
        for (int i = 0; i < memslots; i++) {
            list.add(new SlotConfig(i, baseGfn + i * perSlot, perSlot, backing));
        }
        return new VmConfig(vcpus, memoryPerVcpu, rootLevel, list);
    }

    /** The number of memslots. */
    public int memslots() {
        return slots.size();
    }

    /** The 4 KiB guest frames each vCPU touches. */
    public long pagesPerVcpu() {
        return memoryPerVcpu / Sizes.KIB_4;
    }

    /** Total bytes of all slots. */
    public long totalBytes() {
        return slots.stream().mapToLong(SlotConfig::sizeBytes).sum();
    }

    /** Total 4 KiB guest frames of all slots. */
    public long totalPages() {
        return slots.stream().mapToLong(SlotConfig::pages).sum();
    }

    /** The backing of every slot, if all slots share one. */
    public Optional<Backing> uniformBacking() {
        Backing first = slots.get(0).backing();
        return slots.stream().allMatch(s -> s.backing() == first) ? Optional.of(first) : Optional.empty();
    }

    /** Bits of guest physical address a root of {@code rootLevel} levels translates: 48 or 57. */
    public static int guestPhysBits(int rootLevel) {
        return 12 + 9 * rootLevel;
    }
}
