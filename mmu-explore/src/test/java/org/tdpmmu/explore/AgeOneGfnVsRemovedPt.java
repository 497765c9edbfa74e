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
import org.tdpmmu.core.Spte;
import org.tdpmmu.core.TdpIter;
import org.tdpmmu.core.TdpMmuAge;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;
import org.tdpmmu.stress.Probe;
import org.tdpmmu.stress.StressVm;

/**
 * The catalogue's {@code AgeVsRemovedPt} cut down for the model checker: the lockless ager (6.15,
 * kernel: kvm_tdp_mmu_age_gfn_range under RCU alone) ages the one mapped gfn instead of a 512-gfn
 * range, so its walk is a dozen steps and every single preemption of it is among the first
 * schedules explored; the atomic zap of the level-3 entry above it (handle_removed_pt over two
 * tables) and the RCU reclaim run against it. The zap's freeze loops are 512 entries long, hence
 * {@link LoopsBeforeSwitch}: the window (the ager paused inside the tables while the zapper unlinks,
 * freezes and frees them whole) exists only if the zapper may run its loops in one stretch.
 * Catalogue form, model checker only.
 */
@Description("Lockless aging of one gfn against handle_removed_pt and the RCU free of the tables it walks.")
@Outcome(id = "young", expect = ACCEPTABLE, desc = "The ager reached the leaf (before the zap, or through the unlinked tables) and aged it.")
@Outcome(id = "idle", expect = ACCEPTABLE, desc = "The ager found the entry frozen or cleared: nothing young.")
@Outcome(id = Probe.USE_AFTER_FREE, expect = FORBIDDEN,
    desc = "The ager touched a freed table: the free did not wait for its read-side section.")
@Outcome(id = Probe.LEAK, expect = FORBIDDEN, desc = "A table was never freed after teardown and an RCU barrier.")
@Outcome(expect = FORBIDDEN, desc = "Any other exception inside the MMU.")
@State
@LoopsBeforeSwitch(2048)
public class AgeOneGfnVsRemovedPt
{
    private static final long GFN = 5;

    private final Vm vm = new Vm(StressVm.config(StressVm.seededBugs()).withLocklessAging(true));
    private final TdpMmuAge age = new TdpMmuAge(vm);
    private boolean young;
    private String ageFailure;
    private String zapFailure;

    public AgeOneGfnVsRemovedPt()
    {
        vm.addMemslot(0, 1024, Backing.PAGE_4K);
        final Vcpu setup = vm.createVcpu();
        setup.read(GFN);
        setup.exitGuest();
    }

    @Actor
    public void age()
    {
        try
        {
            // The iterator is the actor's own (created here): its fields are no switch points.
            young = age.clearYoung(new TdpIter(vm.store()), GFN, GFN + 1);
        }
        catch (final Throwable t)
        {
            ageFailure = Probe.classify(t);
        }
    }

    @Actor
    public void zapAndReclaim()
    {
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
