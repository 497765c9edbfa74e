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
import org.tdpmmu.core.TdpIter;
import org.tdpmmu.core.TdpMmuAge;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;

/**
 * D-bit dirty logging with lockless aging (6.15): the page was written and harvested, so its leaf
 * is writable, accessed and clean. A vCPU write (hardware sets D with a cmpxchg) races an ager that
 * clears A without any lock (kernel: tdp_mmu_clear_spte_bits_atomic, an atomic and-not). Whatever
 * the order, the D bit the write set must survive the ager and reach the next harvest.
 */
@JCStressTest
@Description("Lockless aging clearing A against a vCPU write setting D: no lost dirty page.")
@Outcome(id = "dirty", expect = ACCEPTABLE, desc = "The harvest after both reports the page.")
@Outcome(id = Probe.LOST_DIRTY, expect = FORBIDDEN,
    desc = "The harvest misses the write: the ager's clear of A overwrote the D bit hardware had set.")
@Outcome(id = Probe.LOST_WRITE, expect = FORBIDDEN, desc = "The written value is not in the frame.")
@Outcome(expect = FORBIDDEN, desc = "Any exception inside the MMU.")
@State
public class AgeVsDirtyWrite
{
    protected static final long GFN = 7;

    private final Vm vm = new Vm(StressVm.config(StressVm.seededBugs()).withLocklessAging(true));
    private final Rendezvous rendezvous = new Rendezvous();
    private final Memslot slot = vm.addMemslot(0, 1024, Backing.PAGE_4K);
    private final Vcpu vcpu = vm.createVcpu();
    private final DirtyLogging log = new DirtyLogging(vm);
    private final TdpMmuAge age = new TdpMmuAge(vm);
    private final TdpIter iter = new TdpIter(vm.store());
    /** The aged range [ageStart, ageEnd): the whole slot here, the written gfn in mmu-explore's cut-down. */
    private final long ageStart;
    private final long ageEnd;
    private String vcpuFailure;
    private String ageFailure;

    public AgeVsDirtyWrite()
    {
        this(0, 1024);
    }

    protected AgeVsDirtyWrite(final long ageStart, final long ageEnd)
    {
        this.ageStart = ageStart;
        this.ageEnd = ageEnd;
        log.enable(slot, Memslot.LOG_DBIT, false);
        vcpu.write(GFN, 1);
        vcpu.exitGuest();
        // Clean again, A still set; the flush makes the next write walk and set D.
        log.getDirtyLog(slot, false);
    }

    @Actor
    public void write()
    {
        rendezvous.meet(0);
        vcpuFailure = Probe.guestWrite(vcpu, GFN, 2);
    }

    @Actor
    public void age()
    {
        rendezvous.meet(1);
        try
        {
            age.clearYoung(iter, ageStart, ageEnd);
        }
        catch (final Throwable t)
        {
            ageFailure = Probe.classify(t);
        }
    }

    @Arbiter
    public void arbiter(final L_Result r)
    {
        if (vcpuFailure != null || ageFailure != null)
        {
            r.r1 = vcpuFailure != null ? vcpuFailure : ageFailure;
            return;
        }
        try
        {
            final boolean dirty = Probe.dirty(log.getDirtyLog(slot, false), GFN);
            if (Probe.content(vm, slot, GFN) != 2)
            {
                r.r1 = Probe.LOST_WRITE;
                return;
            }
            r.r1 = dirty ? "dirty" : Probe.LOST_DIRTY;
        }
        catch (final Throwable t)
        {
            r.r1 = Probe.classify(t);
        }
    }
}
