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
 * Lockless test_young (6.15: kvm_tdp_mmu_test_age_gfn under RCU alone) on a 4 KiB leaf that was
 * aged (A clear), against an atomic zap of that leaf under the read lock (tdp_mmu_zap_spte_atomic:
 * freeze, flush, clear). Nothing excludes the two; the walker may read the leaf, the frozen value
 * or the cleared entry, and none of them is young: the frozen value carries A among its bits, so
 * the walker must test presence before it tests A.
 */
@JCStressTest
@Description("Lockless test_young against an atomic zap of the leaf it tests.")
@Outcome(id = "idle", expect = ACCEPTABLE, desc = "test_young saw the aged leaf, the frozen entry or the cleared one: not young.")
@Outcome(id = "young", expect = FORBIDDEN, desc = "test_young took the frozen entry for a young leaf.")
@Outcome(id = "zap missed", expect = FORBIDDEN, desc = "The zap found no present leaf to zap.")
@Outcome(expect = FORBIDDEN, desc = "Any other exception inside the MMU.")
@State
public class TestYoungVsAtomicZap
{
    private static final long GFN = 7;

    private final Vm vm = new Vm(StressVm.config(StressVm.seededBugs()).withLocklessAging(true));
    private final Rendezvous rendezvous = new Rendezvous();
    private final TdpMmuAge age = new TdpMmuAge(vm);
    private final TdpIter iter = new TdpIter(vm.store());
    private boolean young;
    private boolean zapped;
    private String failure;

    public TestYoungVsAtomicZap()
    {
        vm.addMemslot(0, 1024, Backing.PAGE_4K);
        final Vcpu setup = vm.createVcpu();
        setup.read(GFN);
        setup.exitGuest();
        // Aged once: the leaf is present and idle when the race starts.
        age.clearYoung(iter, GFN, GFN + 1);
    }

    @Actor
    public void testYoung()
    {
        rendezvous.meet(0);
        try
        {
            young = age.testYoung(iter, GFN, GFN + 1);
        }
        catch (final Throwable t)
        {
            failure = Probe.classify(t);
        }
    }

    @Actor
    public void zap()
    {
        rendezvous.meet(1);
        try
        {
            zapped = Probe.zapAtomic(vm, GFN, Spte.PG_LEVEL_4K);
        }
        catch (final Throwable t)
        {
            failure = Probe.classify(t);
        }
    }

    @Arbiter
    public void arbiter(final L_Result r)
    {
        r.r1 = failure != null ? failure : !zapped ? "zap missed" : young ? "young" : "idle";
    }
}
