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
import org.tdpmmu.core.Spte;
import org.tdpmmu.core.TdpIter;
import org.tdpmmu.core.TdpMmuAge;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;

/**
 * Lockless aging (6.15: kvm_tdp_mmu_age_gfn_range under RCU alone) walks a 2 MiB region holding no
 * mmu_lock; an atomic zap unlinks the level-2 table above it (handle_removed_pt freezes and
 * propagates every child) and the RCU callbacks run. The ager's read-side section is all that
 * keeps the unlinked tables alive under it; nothing excludes the zap.
 */
@JCStressTest
@Description("Lockless aging against handle_removed_pt and the RCU free of the tables it walks.")
@Outcome(id = "young", expect = ACCEPTABLE, desc = "The ager reached the leaf (before the zap, or through the unlinked tables) and aged it.")
@Outcome(id = "idle", expect = ACCEPTABLE, desc = "The ager found the entry frozen or cleared: nothing young in the range.")
@Outcome(id = Probe.USE_AFTER_FREE, expect = FORBIDDEN,
    desc = "The ager touched a freed table: the free did not wait for its read-side section.")
@Outcome(id = Probe.LEAK, expect = FORBIDDEN, desc = "A table was never freed after teardown and an RCU barrier.")
@Outcome(expect = FORBIDDEN, desc = "Any other exception inside the MMU.")
@State
public class AgeVsRemovedPt
{
    protected static final long GFN = 5;

    private final Vm vm = new Vm(StressVm.config(StressVm.seededBugs()).withLocklessAging(true));
    private final Rendezvous rendezvous = new Rendezvous();
    private final TdpMmuAge age = new TdpMmuAge(vm);
    private final TdpIter iter = new TdpIter(vm.store());
    /** The aged range [ageStart, ageEnd): the gfn's last-level table here, one gfn in mmu-explore's cut-down. */
    private final long ageStart;
    private final long ageEnd;
    private boolean young;
    private String ageFailure;
    private String zapFailure;

    public AgeVsRemovedPt()
    {
        this(0, 512);
    }

    protected AgeVsRemovedPt(final long ageStart, final long ageEnd)
    {
        this.ageStart = ageStart;
        this.ageEnd = ageEnd;
        vm.addMemslot(0, 1024, Backing.PAGE_4K);
        final Vcpu setup = vm.createVcpu();
        setup.read(GFN);
        setup.exitGuest();
    }

    @Actor
    public void age()
    {
        rendezvous.meet(0);
        try
        {
            young = age.clearYoung(iter, ageStart, ageEnd);
        }
        catch (final Throwable t)
        {
            ageFailure = Probe.classify(t);
        }
    }

    @Actor
    public void zapAndReclaim()
    {
        rendezvous.meet(1);
        zapFailure = Probe.zapAndReclaim(vm, GFN, Spte.PG_LEVEL_1G);
    }

    @Arbiter
    public void arbiter(final L_Result r)
    {
        if (ageFailure != null || zapFailure != null)
        {
            r.r1 = ageFailure != null ? ageFailure : zapFailure;
            return;
        }
        try
        {
            r.r1 = Probe.leakedAfterDestroy(vm) != 0 ? Probe.LEAK : young ? "young" : "idle";
        }
        catch (final Throwable t)
        {
            r.r1 = Probe.classify(t);
        }
    }
}
