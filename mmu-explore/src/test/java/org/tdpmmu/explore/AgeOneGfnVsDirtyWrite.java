package org.tdpmmu.explore;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
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
import org.tdpmmu.stress.Probe;
import org.tdpmmu.stress.StressVm;

/**
 * The catalogue's {@code AgeVsDirtyWrite} cut down for the model checker: a vCPU write (hardware
 * sets D with a cmpxchg) against a lockless ager (6.15) that ages only the written gfn instead of
 * the whole slot. The window of a non-atomic clear of A is the ager's step between its read of the
 * leaf and its store; over 1,024 gfns that is two positions among a thousand, here among a dozen,
 * so the single-preemption schedules that open it come first. Catalogue form, model checker only.
 */
@Description("Lockless aging of one gfn clearing A against a vCPU write setting D: no lost dirty page.")
@Outcome(id = "dirty", expect = ACCEPTABLE, desc = "The harvest after both reports the page.")
@Outcome(id = Probe.LOST_DIRTY, expect = FORBIDDEN,
    desc = "The harvest misses the write: the ager's clear of A overwrote the D bit hardware had set.")
@Outcome(id = Probe.LOST_WRITE, expect = FORBIDDEN, desc = "The written value is not in the frame.")
@Outcome(expect = FORBIDDEN, desc = "Any exception inside the MMU.")
@State
public class AgeOneGfnVsDirtyWrite
{
    private static final long GFN = 7;

    private final Vm vm = new Vm(StressVm.config(StressVm.seededBugs()).withLocklessAging(true));
    private final Memslot slot = vm.addMemslot(0, 1024, Backing.PAGE_4K);
    private final Vcpu vcpu = vm.createVcpu();
    private final DirtyLogging log = new DirtyLogging(vm);
    private final TdpMmuAge age = new TdpMmuAge(vm);
    private String vcpuFailure;
    private String ageFailure;

    public AgeOneGfnVsDirtyWrite()
    {
        log.enable(slot, Memslot.LOG_DBIT, false);
        vcpu.write(GFN, 1);
        vcpu.exitGuest();
        // Clean again, A still set; the flush makes the next write walk and set D.
        log.getDirtyLog(slot, false);
    }

    @Actor
    public void age()
    {
        try
        {
            age.clearYoung(new TdpIter(vm.store()), GFN, GFN + 1);
        }
        catch (final Throwable t)
        {
            ageFailure = Probe.classify(t);
        }
    }

    @Actor
    public void write()
    {
        vcpuFailure = Probe.guestWrite(vcpu, GFN, 2);
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
