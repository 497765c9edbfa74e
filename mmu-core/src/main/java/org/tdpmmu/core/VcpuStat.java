package org.tdpmmu.core;

/**
 * The per-vCPU counts of the EPT-violation path (kernel: struct kvm_vcpu_stat, whose exits and
 * pf_fast a vCPU bumps in its own memory and the stats file descriptor sums on read): the exit,
 * the lockless fix, and the page it marked dirty. Plain fields, written only by the vCPU's thread;
 * {@link #publish} adds them to the VM's {@link MmuCounters} at the vCPU's other exits (its slice
 * end, KVM_RUN returning), as {@link Vcpu} does with its TLB and walk counts.
 *
 * <p>Why: the VM's adders are striped by thread, but with dozens of vCPU threads on two cores the
 * stripes are shared anyway; three adder increments per fault cost a faulting pass 12% of its CPU
 * time on this project's machine (two threads faulting disjoint ranges: 160-199 ns a fault with
 * them, 136-176 without). The counts are the same, only later: a report reads them after the
 * vCPUs left guest mode, and nothing decides on them while a vCPU runs.
 */
public final class VcpuStat
{
    /** EPT violations this vCPU took since its last publication (MmuCounters#vmExits). */
    long exits;
    /** Lockless fast-path fixes (MmuCounters#faultFast). */
    long pfFast;
    /** Pages the fast path marked dirty in the bitmap (MmuCounters#dirtyMarked). */
    long dirtyMarked;

    /** Adds the counts to {@code counters} and starts again from zero. Owner thread only. */
    void publish(final MmuCounters counters)
    {
        addIfAny(counters.vmExits, exits);
        addIfAny(counters.faultFast, pfFast);
        addIfAny(counters.dirtyMarked, dirtyMarked);
        exits = 0;
        pfFast = 0;
        dirtyMarked = 0;
    }

    /** Adds {@code n} to {@code adder} unless it is 0 (an add with nothing to add still writes a cell). */
    static void addIfAny(final java.util.concurrent.atomic.LongAdder adder, final long n)
    {
        if (n != 0)
        {
            adder.add(n);
        }
    }
}
