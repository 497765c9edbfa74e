package org.tdpmmu.concurrency;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/**
 * Requests to vCPUs with acknowledgement (kernel: kvm_make_all_cpus_request, kvm_make_request,
 * kvm_check_request, KVM_REQ_TLB_FLUSH, vcpu->mode IN_GUEST_MODE / OUTSIDE_GUEST_MODE,
 * kvm_vcpu_exiting_guest_mode).
 *
 * <h2>Protocol</h2>
 * A vCPU thread calls {@link #enterGuest(int)} before it runs guest accesses, {@link #checkRequests(int)}
 * before every access (including the first after entry) and acts on the bits it returns (flushes its
 * TLB for {@link #REQ_TLB_FLUSH}), and {@link #exitGuest(int)} when it stops. A requester sets bits
 * pending and, if it asks to wait, returns once every vCPU that was in guest mode has taken them or
 * left guest mode. A vCPU outside guest mode uses no translation, so it never holds a request up; it
 * picks the bits up when it enters. A vCPU in guest mode whose own thread makes the request (a fault
 * handler that zaps and flushes) is not waited for either: it is handling an exit, and takes the bits
 * at its next checkRequests.
 *
 * <h2>Why no vCPU enters guest mode and misses a request</h2>
 * The requester does an atomic OR of the bits (seq-cst), then a volatile read of the vCPU's mode.
 * The vCPU, in enterGuest, does a volatile store of IN_GUEST, then a volatile read of its requests
 * (the kernel's smp_store_mb(vcpu->mode, IN_GUEST_MODE) before kvm_request_pending). Both pairs are
 * in the single synchronization order, so either the requester sees IN_GUEST (and waits for the
 * take) or the vCPU's read sees the bits (and takes them before it runs an access). The bits taken
 * at entry are held for the vCPU and handed out by its next checkRequests, so the void-returning
 * enterGuest loses nothing; the vCPU acts on them before its first access, as it must anyway.
 *
 * <h2>Cost</h2>
 * checkRequests with nothing pending is one volatile read and no allocation. Waiting requesters spin
 * briefly, then yield, then park in bounded slices ({@link Waits}): 100+ vCPU threads on 2 cores
 * stay tractable. The wait bookkeeping uses a per-thread scratch array, reused across calls.
 */
public final class RemoteRequests
{
    /** Flush the vCPU's TLB (kernel: KVM_REQ_TLB_FLUSH). Bits are a mask; the other 31 are free. */
    public static final int REQ_TLB_FLUSH = 1;
    /**
     * Drop the vCPU's root if it was invalidated and load a valid one before entering the guest
     * (kernel: KVM_REQ_MMU_FREE_OBSOLETE_ROOTS, a waiting request, from kvm_mmu_zap_all_fast).
     */
    public static final int REQ_MMU_FREE_OBSOLETE_ROOTS = 2;

    /** Upper bound on maxVcpus (kernel: KVM_MAX_VCPUS on x86). */
    public static final int MAX_VCPUS_LIMIT = 4096;

    /** Per requester thread: which vCPUs it waits for and what it saw of each. */
    private static final class WaitSet
    {
        int[] vcpu = new int[64];
        long[] takes = new long[64];
        long[] mode = new long[64];

        void ensure(final int n)
        {
            if (vcpu.length < n)
            {
                vcpu = new int[n];
                takes = new long[n];
                mode = new long[n];
            }
        }
    }

    private static final ThreadLocal<WaitSet> WAIT_SET = ThreadLocal.withInitial(WaitSet::new);

    private final VcpuState[] vcpus;
    private final AtomicInteger registered = new AtomicInteger();
    private final LongAdder requests = new LongAdder();
    private final LongAdder vcpusInterrupted = new LongAdder();
    private final LongAdder vcpusRequested = new LongAdder();
    private final LongAdder waitNanosTotal = new LongAdder();
    private final LongAdder acks = new LongAdder();

    /**
     * @param maxVcpus how many vCPUs may register, 1..{@value #MAX_VCPUS_LIMIT}. Their records are
     *                 allocated here, so no vCPU path ever sees a record being published.
     */
    public RemoteRequests(final int maxVcpus)
    {
        if (maxVcpus < 1 || maxVcpus > MAX_VCPUS_LIMIT)
        {
            throw new IllegalArgumentException("maxVcpus must be in 1.." + MAX_VCPUS_LIMIT + ", maxVcpus=" + maxVcpus);
        }
        vcpus = new VcpuState[maxVcpus];
        for (int i = 0; i < maxVcpus; i++)
        {
            vcpus[i] = new VcpuState(this);
        }
    }

    /**
     * Registers a vCPU (kernel: kvm_vm_ioctl_create_vcpu). It starts outside guest mode.
     *
     * @return its id, 0 for the first, then 1, 2, ...
     * @throws IllegalStateException when maxVcpus are already registered.
     */
    public int register()
    {
        while (true)
        {
            final int id = registered.get();
            if (id >= vcpus.length)
            {
                throw new IllegalStateException("cannot register another vCPU: all maxVcpus=" + vcpus.length +
                    " are registered");
            }
            if (registered.compareAndSet(id, id + 1))
            {
                return id;
            }
        }
    }

    /** vCPUs registered so far. */
    public int registered()
    {
        return registered.get();
    }

    /**
     * The vCPU enters guest mode (kernel: vcpu_enter_guest up to the mode switch) and takes any
     * requests made while it was outside; its next {@link #checkRequests(int)} returns them.
     *
     * @throws IllegalStateException if the vCPU is already in guest mode.
     */
    public void enterGuest(final int vcpu)
    {
        final VcpuState state = registeredVcpu(vcpu);
        final long mode = state.lpMode();
        if ((mode & 1) != 0)
        {
            throw new IllegalStateException("enterGuest: vcpu " + vcpu + " is already in guest mode");
        }
        state.guestThread = Thread.currentThread();
        // Store IN_GUEST, then read the requests: see the class comment for the pairing.
        state.svMode(mode + 1);
        state.deferred |= take(state);
    }

    /**
     * The vCPU leaves guest mode (kernel: vcpu->mode = OUTSIDE_GUEST_MODE after the VM exit).
     *
     * @throws IllegalStateException if the vCPU is not in guest mode.
     */
    public void exitGuest(final int vcpu)
    {
        final VcpuState state = registeredVcpu(vcpu);
        final long mode = state.lpMode();
        if ((mode & 1) == 0)
        {
            throw new IllegalStateException("exitGuest: vcpu " + vcpu + " is not in guest mode");
        }
        state.soMode(mode + 1);
    }

    /** True if the vCPU is in guest mode. */
    public boolean inGuest(final int vcpu)
    {
        return (registeredVcpu(vcpu).lvMode() & 1) != 0;
    }

    /**
     * Called by the vCPU's own thread at each "VM entry", before each access (kernel:
     * kvm_check_request in vcpu_enter_guest): takes and clears its pending bits, acknowledging them
     * to waiting requesters. The caller then acts on them (flushes its TLB for REQ_TLB_FLUSH).
     * One volatile read and no allocation when nothing is pending.
     *
     * @return the bits taken, 0 if none.
     */
    public int checkRequests(final int vcpu)
    {
        if (vcpu < 0 || vcpu >= vcpus.length)
        {
            throw new IllegalArgumentException("vcpu id out of range 0.." + (vcpus.length - 1) + ", vcpu=" + vcpu);
        }
        assert vcpu < registered.get() : "checkRequests on unregistered vcpu " + vcpu;
        return vcpus[vcpu].checkRequests();
    }

    /**
     * The record of a registered vCPU, for its own thread to call {@link VcpuState#checkRequests()}
     * on before each access without looking the id up each time.
     *
     * @throws IllegalArgumentException if {@code vcpu} is not registered.
     */
    public VcpuState vcpuState(final int vcpu)
    {
        return registeredVcpu(vcpu);
    }

    /**
     * Sets {@code bits} pending on every registered vCPU (kernel: kvm_make_all_cpus_request). With
     * {@code wait}, returns only once every vCPU that was in guest mode when its bits were set has
     * taken them or left guest mode.
     *
     * @throws IllegalArgumentException if bits is 0.
     */
    public void makeAllCpusRequest(final int bits, final boolean wait)
    {
        checkBits(bits);
        request(0, registered.get(), bits, wait);
    }

    /**
     * As {@link #makeAllCpusRequest(int, boolean)} for one vCPU (kernel: kvm_make_request plus
     * kvm_vcpu_kick).
     *
     * @throws IllegalArgumentException if bits is 0 or the vCPU is not registered.
     */
    public void makeRequest(final int vcpu, final int bits, final boolean wait)
    {
        checkBits(bits);
        registeredVcpu(vcpu);
        request(vcpu, vcpu + 1, bits, wait);
    }

    /** Calls to makeRequest and makeAllCpusRequest. */
    public long requests()
    {
        return requests.sum();
    }

    /** vCPUs found in guest mode when a request was set on them: those the kernel would have sent an IPI. */
    public long vcpusInterrupted()
    {
        return vcpusInterrupted.sum();
    }

    /**
     * vCPUs a request was set on, in guest mode or not: the requester's loop over every vCPU
     * (kernel: kvm_make_vcpu_request's atomic set of the request bit and read of vcpu->mode), which
     * costs the requester something even when no vCPU is in guest mode and no IPI is sent.
     */
    public long vcpusRequested()
    {
        return vcpusRequested.sum();
    }

    /** Nanoseconds requesters spent waiting for acknowledgements. */
    public long waitNanosTotal()
    {
        return waitNanosTotal.sum();
    }

    /** Times a vCPU took a non-empty set of pending bits (at entry or in checkRequests). */
    public long acks()
    {
        return acks.sum();
    }

    private void request(final int from, final int to, final int bits, final boolean wait)
    {
        requests.increment();
        final WaitSet waitSet = wait ? WAIT_SET.get() : null;
        if (waitSet != null)
        {
            waitSet.ensure(to - from);
        }
        final Thread self = Thread.currentThread();
        int interrupted = 0;
        for (int v = from; v < to; v++)
        {
            final VcpuState state = vcpus[v];
            // Set pending (seq-cst RMW), then read the mode: the requester's half of the pairing.
            final long before = state.orRequests(bits);
            final long mode = state.lvMode();
            // A vCPU whose own thread makes the request is handling an exit, not running guest code
            // (the kernel's requester is never IN_GUEST_MODE): no IPI, and waiting would never end.
            if ((mode & 1) != 0 && state.guestThread != self)
            {
                if (waitSet != null)
                {
                    waitSet.vcpu[interrupted] = v;
                    waitSet.takes[interrupted] = before >>> 32;
                    waitSet.mode[interrupted] = mode;
                }
                interrupted++;
            }
        }
        vcpusInterrupted.add(interrupted);
        vcpusRequested.add(to - from);
        if (waitSet != null && interrupted > 0)
        {
            final long start = System.nanoTime();
            for (int i = 0; i < interrupted; i++)
            {
                final VcpuState state = vcpus[waitSet.vcpu[i]];
                final long takes = waitSet.takes[i];
                final long mode = waitSet.mode[i];
                int round = 0;
                // Acknowledged: a take after our OR (the count moved; every take clears all bits,
                // ours included) or a transition out of the guest mode we saw.
                while ((state.lvRequests() >>> 32) == takes && state.lvMode() == mode)
                {
                    Waits.backoff(round++);
                }
            }
            waitNanosTotal.add(System.nanoTime() - start);
        }
    }

    /** Takes all pending bits and counts the take; the count moving is the acknowledgement. */
    int take(final VcpuState state)
    {
        long word = state.lvRequests();
        while ((word & VcpuState.BITS_MASK) != 0)
        {
            // Only this vCPU clears bits; requesters only add, so a failed CAS still has bits to take.
            final long next = (word & ~VcpuState.BITS_MASK) + VcpuState.TAKE_ONE;
            if (state.casRequests(word, next))
            {
                acks.increment();
                return (int)(word & VcpuState.BITS_MASK);
            }
            word = state.lvRequests();
        }
        return 0;
    }

    private VcpuState registeredVcpu(final int vcpu)
    {
        final int count = registered.get();
        if (vcpu < 0 || vcpu >= count)
        {
            throw new IllegalArgumentException("vcpu " + vcpu + " is not registered (registered=" + count + ")");
        }
        return vcpus[vcpu];
    }

    private static void checkBits(final int bits)
    {
        if (bits == 0)
        {
            throw new IllegalArgumentException("request bits must be non-zero, bits=0x" + Integer.toHexString(bits));
        }
    }
}
