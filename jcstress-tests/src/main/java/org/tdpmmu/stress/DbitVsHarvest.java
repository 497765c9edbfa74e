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
 * D-bit dirty logging (the PML analogue): hardware sets the D bit of the leaf with a cmpxchg on a
 * write; KVM_GET_DIRTY_LOG sweeps D bits into the bitmap with an atomic bit clear, takes the bitmap
 * words, clears D again on the harvested pages and flushes TLBs before it returns (kernel:
 * kvm_get_dirty_log_protect, kvm_tdp_mmu_clear_dirty_pt_masked). The page was written and harvested
 * once in setup; a second write races with a second harvest. Every write after a harvest must show
 * up in this harvest or the next: a TLB entry that still says "dirty" would let the write through
 * without setting D.
 */
@JCStressTest
@Description("A vCPU write (hardware D-bit set) against a dirty-log harvest: no lost dirty page.")
@Outcome(id = "first-harvest", expect = ACCEPTABLE, desc = "The write set D before the racing harvest swept it.")
@Outcome(id = "second-harvest", expect = ACCEPTABLE, desc = "The write set D after the racing harvest; the next one found it.")
@Outcome(id = Probe.LOST_DIRTY, expect = FORBIDDEN,
    desc = "Neither harvest reports the page: the write went through a TLB entry (or SPTE) the harvest did not re-protect.")
@Outcome(id = Probe.LOST_WRITE, expect = FORBIDDEN, desc = "The written value is not in the frame.")
@Outcome(expect = FORBIDDEN, desc = "Reported by both harvests for one write, or any exception inside the MMU.")
@State
public class DbitVsHarvest
{
    private static final long GFN = 7;

    private final Vm vm = StressVm.create();
    private final Rendezvous rendezvous = new Rendezvous();
    private final Memslot slot = vm.addMemslot(0, 1024, Backing.PAGE_4K);
    private final Vcpu vcpu = vm.createVcpu();
    private final DirtyLogging log = new DirtyLogging(vm);
    private long[] firstHarvest;
    private String vcpuFailure;
    private String harvestFailure;

    public DbitVsHarvest()
    {
        log.enable(slot, Memslot.LOG_DBIT, false);
        vcpu.write(GFN, 1);
        vcpu.exitGuest();
        // The page is clean again; the flush this requested waits for the vCPU's next entry.
        log.getDirtyLog(slot, false);
    }

    @Actor
    public void write()
    {
        rendezvous.meet(0);
        vcpuFailure = Probe.guestWrite(vcpu, GFN, 2);
    }

    @Actor
    public void harvest()
    {
        rendezvous.meet(1);
        try
        {
            firstHarvest = log.getDirtyLog(slot, false);
        }
        catch (final Throwable t)
        {
            harvestFailure = Probe.classify(t);
        }
    }

    @Arbiter
    public void arbiter(final L_Result r)
    {
        r.r1 = Probe.outcome(() -> Probe.harvestedOnce(vm, slot, log, firstHarvest, GFN, 2), vcpuFailure, harvestFailure);
    }
}
