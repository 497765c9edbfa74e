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
import org.tdpmmu.core.Spte;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;

/**
 * Turning dirty logging on (write-protect mode) while a vCPU write faults on an unmapped page of a
 * slot backed by 2 MiB host pages. A fault that decided on a 2 MiB mapping while logging was off
 * may still install it, but only where the enable's write-protect pass will see it: in the kernel
 * the memslot update waits for every fault using the old memslot (synchronize_srcu in
 * kvm_swap_active_memslots) before kvm_mmu_slot_apply_flags write-protects. A writable huge leaf
 * left behind after enable returns lets later writes to its other 511 pages escape the log.
 */
@JCStressTest
@Description("Enabling dirty logging against a fault that chose its mapping size before: no writable huge leaf survives enable.")
@Outcome(id = "mapped-4k", expect = ACCEPTABLE, desc = "The fault saw logging on and mapped 4 KiB.")
@Outcome(id = "mapped-huge-protected", expect = ACCEPTABLE,
    desc = "The fault mapped 2 MiB before the write-protect pass, which then write-protected it (it splits on the next write).")
@Outcome(id = "writable-huge-in-logged-slot", expect = FORBIDDEN,
    desc = "A writable 2 MiB leaf was installed after the write-protect pass: writes through it are not logged.")
@Outcome(id = Probe.LOST_DIRTY, expect = FORBIDDEN, desc = "A write made after enable returned is not in the next harvest.")
@Outcome(id = Probe.EXTRA_DIRTY, expect = FORBIDDEN,
    desc = "A harvest reports a page nobody wrote since the last harvest that reported it (property 7).")
@Outcome(expect = FORBIDDEN, desc = "A lost write, a leaked table, or any exception inside the MMU.")
@State
public class EnableLoggingVsFault
{
    private static final long GFN = 7;
    private static final long LATER = 9;

    private final Vm vm = StressVm.create();
    private final Rendezvous rendezvous = new Rendezvous();
    private final Memslot slot = vm.addMemslot(0, 512, Backing.PAGE_2M);
    private final Vcpu vcpu = vm.createVcpu();
    private final DirtyLogging log = new DirtyLogging(vm);
    private String enableFailure;
    private String vcpuFailure;

    @Actor
    public void enable()
    {
        rendezvous.meet(0);
        try
        {
            log.enable(slot, Memslot.LOG_WRPROT, false);
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
        vcpuFailure = Probe.guestWrite(vcpu, GFN, 1);
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
            final long entry = Probe.entryFor(vm, GFN);
            final boolean huge = Spte.isPresent(entry) && Probe.levelFor(vm, GFN) > Spte.PG_LEVEL_4K;
            if (huge && Spte.isWritable(entry))
            {
                return "writable-huge-in-logged-slot";
            }
            if (Probe.content(vm, slot, GFN) != 1)
            {
                return Probe.LOST_WRITE;
            }
            log.getDirtyLog(slot, false);
            vcpu.write(LATER, 2);
            vcpu.exitGuest();
            final long[] harvest = log.getDirtyLog(slot, false);
            if (!Probe.dirty(harvest, LATER))
            {
                return Probe.LOST_DIRTY;
            }
            if (!Probe.onlyDirty(harvest, LATER))
            {
                // The racing write was reported (or not) by the harvest before.
                return Probe.EXTRA_DIRTY;
            }
            if (Probe.leakedAfterDestroy(vm) != 0)
            {
                return Probe.LEAK;
            }
            return huge ? "mapped-huge-protected" : "mapped-4k";
        }
        catch (final Throwable t)
        {
            return Probe.classify(t);
        }
    }
}
