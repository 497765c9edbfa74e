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
 * Enabling D-bit dirty logging with eager page splitting (kernel: kvm_mmu_slot_apply_flags →
 * kvm_tdp_mmu_try_split_huge_pages, then clear-dirty and write-protect of huge leaves) while a
 * vCPU writes into the 2 MiB page being split, through its TLB or a fresh walk that sets D on the
 * huge leaf. The split builds 512 children from the huge SPTE and links them with one cmpxchg, so
 * a D bit set meanwhile makes the link fail and the split retry; no flush is needed because no
 * translation changes. When enable returns, no huge leaf is left in the slot and every later write
 * is logged.
 */
@JCStressTest
@Description("Eager huge-page split at dirty-log enable against a vCPU write into the page: no write lost, no huge leaf left, later writes logged.")
@Outcome(id = "write-logged", expect = ACCEPTABLE,
    desc = "The write came after the split and the D clear: the harvest reports it.")
@Outcome(id = "write-before-logging", expect = ACCEPTABLE,
    desc = "The write landed before enable cleared D (logging had not started for it): not reported, and need not be.")
@Outcome(id = "huge-in-logged-slot", expect = FORBIDDEN,
    desc = "A 2 MiB leaf is still mapped after enable returned: writes through it would escape the log.")
@Outcome(id = Probe.LOST_DIRTY, expect = FORBIDDEN, desc = "A write made after enable returned is not reported.")
@Outcome(id = Probe.EXTRA_DIRTY, expect = FORBIDDEN,
    desc = "A harvest reports a page nobody wrote since the last harvest that reported it (property 7).")
@Outcome(id = Probe.LOST_WRITE, expect = FORBIDDEN, desc = "A written value is not in its frame.")
@Outcome(expect = FORBIDDEN, desc = "A leaked table, or any exception inside the MMU.")
@State
public class EagerSplitVsWrite
{
    private static final long GFN = 5;
    private static final long LATER = 9;

    /** DirtyLogging's eager split tops its memory cache up to 64 tables before it takes the lock. */
    private static final int TABLES = 80;

    // Eager splitting whatever the preset (5.15 has none): this race is about it.
    private final Vm vm = new Vm(StressVm.config(TABLES, StressVm.FRAMES, StressVm.seededBugs()).withEagerPageSplit(true));
    private final Rendezvous rendezvous = new Rendezvous();
    private final Memslot slot = vm.addMemslot(0, 512, Backing.PAGE_2M);
    private final Vcpu vcpu = vm.createVcpu();
    private final DirtyLogging log = new DirtyLogging(vm);
    private String enableFailure;
    private String vcpuFailure;

    public EagerSplitVsWrite()
    {
        // Logging off: a 2 MiB leaf, writable and dirty, and a 2 MiB TLB entry that says so.
        vcpu.write(0, 1);
        vcpu.exitGuest();
    }

    @Actor
    public void enable()
    {
        rendezvous.meet(0);
        try
        {
            log.enable(slot, Memslot.LOG_DBIT, true);
        }
        catch (final Throwable t)
        {
            enableFailure = Probe.classify(t);
        }
    }

    @Actor
    public void write()
    {
        rendezvous.meet(1);
        vcpuFailure = Probe.guestWrite(vcpu, GFN, 0x55);
    }

    @Arbiter
    public void arbiter(final L_Result r)
    {
        r.r1 = outcome();
    }

    private String outcome()
    {
        if (enableFailure != null)
        {
            return enableFailure;
        }
        if (vcpuFailure != null)
        {
            return vcpuFailure;
        }
        try
        {
            if (Probe.mappedHuge(vm, 0) || Probe.mappedHuge(vm, GFN))
            {
                return "huge-in-logged-slot";
            }
            if (Probe.content(vm, slot, 0) != 1 || Probe.content(vm, slot, GFN) != 0x55)
            {
                return Probe.LOST_WRITE;
            }
            vcpu.write(LATER, 0x99);
            vcpu.exitGuest();
            final long[] harvest = log.getDirtyLog(slot, false);
            if (!Probe.dirty(harvest, LATER))
            {
                return Probe.LOST_DIRTY;
            }
            if (!Probe.onlyDirty(harvest, GFN, LATER))
            {
                // Page 0 was written before logging; the split's children inherit its D bit.
                return Probe.EXTRA_DIRTY;
            }
            if (Probe.leakedAfterDestroy(vm) != 0)
            {
                return Probe.LEAK;
            }
            return Probe.dirty(harvest, GFN) ? "write-logged" : "write-before-logging";
        }
        catch (final Throwable t)
        {
            return Probe.classify(t);
        }
    }
}
