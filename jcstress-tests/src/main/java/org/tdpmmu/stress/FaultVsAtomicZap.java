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
 * Dirty logging (write-protect mode, no eager split) is on over a 2 MiB page mapped huge. A vCPU
 * write faults on it and the fault splits it: it fills a new last-level table with 512 entries and
 * links it over the huge leaf with a cmpxchg in the level-2 table (kernel: kvm_tdp_mmu_map →
 * tdp_mmu_split_huge_page). Meanwhile another thread zaps, under the read lock, the level-3 entry
 * that points to that level-2 table (kernel: tdp_mmu_zap_spte_atomic → handle_removed_pt): freeze,
 * flush, clear, then freeze every entry of the unlinked table and free it through call_rcu. The
 * split's cmpxchg must fail against the freeze, or land before it and be torn down with the table;
 * the fault must never touch the table after its grace period.
 */
@JCStressTest
@Description("A fault splitting a huge page inside a table an atomic zap is removing: no leak, no use after free, no lost write.")
@Outcome(id = "fault-first", expect = ACCEPTABLE,
    desc = "The split and the leaf landed first; the zap tore them down with the level-2 table.")
@Outcome(id = "zap-first", expect = ACCEPTABLE,
    desc = "The zap won (the split's cmpxchg met a frozen entry, or the walk a cleared one); the fault rebuilt the path.")
@Outcome(id = Probe.LEAK, expect = FORBIDDEN,
    desc = "The split table was linked into the unlinked level-2 table after handle_removed_pt passed the entry: orphaned.")
@Outcome(id = Probe.USE_AFTER_FREE, expect = FORBIDDEN,
    desc = "The fault touched the unlinked table after it was freed: the free did not wait for a grace period.")
@Outcome(id = Probe.LOST_WRITE, expect = FORBIDDEN, desc = "The written value is not in the frame backing the gfn.")
@Outcome(id = Probe.LOST_DIRTY, expect = FORBIDDEN, desc = "The write, made while logging was on, is not in the dirty log.")
@Outcome(id = Probe.EXTRA_DIRTY, expect = FORBIDDEN,
    desc = "A harvest reports a page nobody wrote since the last harvest that reported it (property 7).")
@Outcome(expect = FORBIDDEN, desc = "Any other exception inside the MMU, or a stale translation.")
@State
public class FaultVsAtomicZap
{
    private static final long GFN = 7;
    private static final long VALUE = 0x22;

    private final Vm vm = StressVm.create();
    private final Rendezvous rendezvous = new Rendezvous();
    private final Memslot slot = vm.addMemslot(0, 512, Backing.PAGE_2M);
    private final DirtyLogging log = new DirtyLogging(vm);
    private final Vcpu vcpu = vm.createVcpu();
    private String faultFailure;
    private String zapFailure;

    public FaultVsAtomicZap()
    {
        final Vcpu setup = vm.createVcpu();
        setup.write(0, 1);
        setup.exitGuest();
        // Write-protects the huge leaf: the next write to it faults and splits it.
        log.enable(slot, Memslot.LOG_WRPROT, false);
    }

    @Actor
    public void fault()
    {
        rendezvous.meet(0);
        faultFailure = Probe.guestWrite(vcpu, GFN, VALUE);
    }

    @Actor
    public void zap()
    {
        rendezvous.meet(1);
        // The level-3 entry: its level-2 table, with the huge leaf, goes to handle_removed_pt.
        zapFailure = Probe.zapAndReclaim(vm, GFN, Spte.PG_LEVEL_1G);
    }

    @Arbiter
    public void arbiter(final L_Result r)
    {
        r.r1 = outcome();
    }

    private String outcome()
    {
        if (faultFailure != null)
        {
            return faultFailure;
        }
        if (zapFailure != null)
        {
            return zapFailure;
        }
        try
        {
            final boolean mapped = Probe.mapped(vm, GFN);
            if (mapped && Probe.stalePfn(vm, slot, GFN))
            {
                return Probe.STALE_PFN;
            }
            if (Probe.content(vm, slot, GFN) != VALUE)
            {
                return Probe.LOST_WRITE;
            }
            final long[] harvest = log.getDirtyLog(slot, false);
            if (!Probe.dirty(harvest, GFN))
            {
                return Probe.LOST_DIRTY;
            }
            if (!Probe.onlyDirty(harvest, GFN))
            {
                // Page 0 was written before logging: the zap must not carry its D bit in.
                return Probe.EXTRA_DIRTY;
            }
            if (Probe.leakedAfterDestroy(vm) != 0)
            {
                return Probe.LEAK;
            }
            return mapped ? "zap-first" : "fault-first";
        }
        catch (final Throwable t)
        {
            return Probe.classify(t);
        }
    }
}
