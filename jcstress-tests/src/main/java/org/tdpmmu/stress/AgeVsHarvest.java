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
 * Write-protect dirty logging with lockless aging (6.15): the page was written since the last
 * harvest, so its leaf is writable, accessed and in the log. A KVM_GET_DIRTY_LOG that re-protects
 * (clears W under mmu_lock, then flushes) races an ager that clears A without any lock. Whatever
 * the order, the harvest reports the page and its re-protection survives the ager: the vCPU's
 * next write faults and is in the harvest after it. The ager's atomic and-not cannot give W back;
 * a store of its snapshot would.
 */
@JCStressTest
@Description("Lockless aging clearing A against the harvest re-protecting the leaf: no missed dirty page.")
@Outcome(id = "logged", expect = ACCEPTABLE, desc = "The racing harvest reported the page, and the next write is in the next harvest.")
@Outcome(id = "not harvested", expect = FORBIDDEN, desc = "The racing harvest missed a page written before it.")
@Outcome(id = Probe.LOST_DIRTY, expect = FORBIDDEN,
    desc = "The write after the harvest is not logged: the ager made the re-protected leaf writable again.")
@Outcome(id = Probe.LOST_WRITE, expect = FORBIDDEN, desc = "The written value is not in the frame.")
@Outcome(expect = FORBIDDEN, desc = "Any exception inside the MMU.")
@State
public class AgeVsHarvest
{
    private static final long GFN = 7;

    private final Vm vm = new Vm(StressVm.config(StressVm.seededBugs()).withLocklessAging(true));
    private final Rendezvous rendezvous = new Rendezvous();
    private final Memslot slot = vm.addMemslot(0, 1024, Backing.PAGE_4K);
    private final Vcpu vcpu = vm.createVcpu();
    private final DirtyLogging log = new DirtyLogging(vm);
    private final TdpMmuAge age = new TdpMmuAge(vm);
    private final TdpIter iter = new TdpIter(vm.store());
    private long[] harvested;
    private String harvestFailure;
    private String ageFailure;

    public AgeVsHarvest()
    {
        log.enable(slot, Memslot.LOG_WRPROT, false);
        // The write fault restores W and logs the page; the walk set A.
        vcpu.write(GFN, 1);
        vcpu.exitGuest();
    }

    @Actor
    public void harvest()
    {
        rendezvous.meet(0);
        try
        {
            harvested = log.getDirtyLog(slot, false);
        }
        catch (final Throwable t)
        {
            harvestFailure = Probe.classify(t);
        }
    }

    @Actor
    public void age()
    {
        rendezvous.meet(1);
        try
        {
            age.clearYoung(iter, 0, 1024);
        }
        catch (final Throwable t)
        {
            ageFailure = Probe.classify(t);
        }
    }

    @Arbiter
    public void arbiter(final L_Result r)
    {
        if (harvestFailure != null || ageFailure != null)
        {
            r.r1 = harvestFailure != null ? harvestFailure : ageFailure;
            return;
        }
        if (!Probe.dirty(harvested, GFN))
        {
            r.r1 = "not harvested";
            return;
        }
        final String failure = Probe.guestWrite(vcpu, GFN, 2);
        if (failure != null)
        {
            r.r1 = failure;
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
            r.r1 = dirty ? "logged" : Probe.LOST_DIRTY;
        }
        catch (final Throwable t)
        {
            r.r1 = Probe.classify(t);
        }
    }
}
