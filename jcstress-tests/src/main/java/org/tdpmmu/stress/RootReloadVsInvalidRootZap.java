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
import org.tdpmmu.core.Memslot;
import org.tdpmmu.core.TdpMmuRoots;
import org.tdpmmu.core.TestHook;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;

/**
 * A vCPU's write fault, and its root reload, against a fast invalidation (kernel:
 * kvm_mmu_zap_all_fast) that invalidates the vCPU's root and zaps it under the read lock. A fault
 * that began on the root and takes the lock after the invalidation is stale (is_page_fault_stale)
 * and retries, so nothing is installed into a root the zap may already have passed; the vCPU then
 * drops the root at its next entry and loads the new one. Whichever of the zap and the vCPU puts
 * the root's last reference frees it, and no table of it may be left behind.
 */
@JCStressTest
@Description("vCPU root reload vs zap of the invalidated root: nothing is installed into a zapped root, nothing leaks.")
@Outcome(id = "before-invalidation", expect = ACCEPTABLE,
    desc = "The write completed on the old root before the invalidation; the vCPU reloads afterwards.")
@Outcome(id = "reloaded", expect = ACCEPTABLE,
    desc = "The vCPU took the reload request during its write and completed it on the new root.")
@Outcome(id = "stale-retried", expect = ACCEPTABLE,
    desc = "The fault began on the old root, found it invalid under the lock and retried on the new root.")
@Outcome(id = Probe.ROOTS, expect = FORBIDDEN,
    desc = "SafetyChecks.roots failed: a reference left behind, an invalid root not empty, a vCPU on a freed root.")
@Outcome(id = Probe.LEAK, expect = FORBIDDEN, desc = "A table linked into the zapped root leaked when the root went.")
@Outcome(id = "error-Livelock", expect = FORBIDDEN,
    desc = "The write's fault was stale more than LIVELOCK_BOUND times: the vCPU keeps a root that stays invalid.")
@Outcome(expect = FORBIDDEN, desc = "A lost write, a use after free, or any exception inside the MMU.")
@State
public class RootReloadVsInvalidRootZap
{
    private static final long MAPPED = 600;
    private static final long WRITTEN = 7;
    /**
     * Stale-root retries after which the vCPU is taken to be livelocked. One invalidation makes a
     * fault stale once or twice (the fault that began on the old root, and one that raced the
     * reload); a vCPU that reloads the invalid root again (mutants/29) is stale on every try.
     */
    private static final long LIVELOCK_BOUND = 64;

    private final Vm vm = StressVm.create();
    private final Rendezvous rendezvous = new Rendezvous();
    private final Memslot slot = vm.addMemslot(0, 1024, Backing.PAGE_4K);
    private final Vcpu vcpu = vm.createVcpu();
    private final TdpMmuRoots.Root first;
    private String vcpuFailure;
    private String hostFailure;

    public RootReloadVsInvalidRootZap()
    {
        vcpu.write(MAPPED, 1);
        vcpu.exitGuest();
        first = vcpu.root();
        // A bound on the livelock, or the actor (and jcstress's fork, which has no per-sample
        // bound, or the model checker's recording of the schedule) never ends.
        vm.mmu().setTestHook((point, gfn) ->
        {
            if (point == TestHook.Point.FAULT_RETRY && vm.counters().faultRetryStaleRoot.sum() > LIVELOCK_BOUND)
            {
                throw new Livelock();
            }
        });
    }

    /** Thrown out of the vCPU's fault loop past {@link #LIVELOCK_BOUND}; classified as {@code error-Livelock}. */
    private static final class Livelock extends RuntimeException
    {
        private static final long serialVersionUID = 1L;

        Livelock()
        {
            super("stale-root retries past " + LIVELOCK_BOUND, null, false, false);
        }
    }

    @Actor
    public void vcpu()
    {
        rendezvous.meet(0);
        vcpuFailure = Probe.guestWrite(vcpu, WRITTEN, 2);
    }

    @Actor
    public void fastInvalidation()
    {
        rendezvous.meet(1);
        hostFailure = Probe.failureOf(() -> vm.mmu().zapAllFast());
    }

    @Arbiter
    public void arbiter(final L_Result r)
    {
        r.r1 = outcome();
    }

    private String outcome()
    {
        if (vcpuFailure != null)
        {
            return vcpuFailure;
        }
        if (hostFailure != null)
        {
            return hostFailure;
        }
        try
        {
            final boolean reloadedDuringWrite = vcpu.root() != first;
            final boolean stale = vm.counters().faultRetryStaleRoot.sum() > 0;
            // The vCPU's next entry drops the invalid root, if the write did not already.
            final String read = Probe.guestWrite(vcpu, MAPPED, 3);
            if (read != null)
            {
                return read;
            }
            final String roots = Probe.rootsBroken(vm);
            if (roots != null)
            {
                return roots;
            }
            if (Probe.content(vm, slot, WRITTEN) != 2 || Probe.content(vm, slot, MAPPED) != 3)
            {
                return Probe.LOST_WRITE;
            }
            if (Probe.leakedAfterDestroy(vm) != 0)
            {
                return Probe.LEAK;
            }
            return stale ? "stale-retried" : reloadedDuringWrite ? "reloaded" : "before-invalidation";
        }
        catch (final Throwable t)
        {
            return Probe.classify(t);
        }
    }
}
