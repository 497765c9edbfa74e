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
import org.tdpmmu.core.MmuMemoryCache;
import org.tdpmmu.core.TdpIter;
import org.tdpmmu.core.TdpMmu;
import org.tdpmmu.core.TdpMmuRoots;
import org.tdpmmu.core.Vm;
import org.tdpmmu.stress.Probe;

/**
 * The catalogue's {@code RootReloadVsInvalidRootZap} cut down to the MMU's steps: a fault handler
 * on the root its vCPU loaded (kernel: kvm_tdp_page_fault on vcpu->arch.mmu->root, a reference held)
 * against a fast invalidation (kvm_mmu_zap_all_fast: invalidate under the write lock, zap under the
 * read lock, put the MMU's reference). The fault is the exit handler of an EPT violation taken
 * before the reload request, so it may start on the old root at any point of the invalidation; on a
 * retry the "vCPU" drops its root if it went invalid and loads the valid one (kvm_mmu_reload), as
 * its next entry would. Nothing is mapped before, so the zap is four passes over an empty root and
 * the race is its three steps: the fault's root read, the invalidation, the fault's install.
 *
 * <p>Without the stale-root check (is_page_fault_stale) a fault that takes the lock after the
 * invalidation installs into the invalid root; once the zap is past, those tables are reachable only
 * from a root that goes with its last reference, and leak. The full race puts a whole guest access
 * (TLB, hardware walk, request word: hundreds of switch points) around the same fault. Model checker only.
 */
@Description("A fault on the vCPU's loaded root vs a fast invalidation: nothing is installed into the zapped root.")
@Outcome(id = "before-invalidation", expect = ACCEPTABLE, desc = "The fault installed into the root before it was invalidated.")
@Outcome(id = "stale-retried", expect = ACCEPTABLE,
    desc = "The fault found its root invalid under the lock, retried and installed on the new root.")
@Outcome(id = Probe.ROOTS, expect = FORBIDDEN,
    desc = "SafetyChecks.roots failed: an invalid root not empty, a reference left behind.")
@Outcome(id = Probe.LEAK, expect = FORBIDDEN, desc = "A table installed into the zapped root leaked when the root went.")
@Outcome(expect = FORBIDDEN, desc = "A stale pfn, or an exception inside the MMU.")
@State
@LoopsBeforeSwitch(2048)
public class StaleRootFault
{
    private static final long GFN = 7;

    private final OneSlotVm tiny = OneSlotVm.added(Backing.PAGE_4K);
    private final Vm vm = tiny.vm;
    /** The vCPU's reference (kernel: kvm_tdp_mmu_get_vcpu_root_hpa at its last entry). */
    private TdpMmuRoots.Root loaded = tiny.loadRoot();
    private boolean retried;
    private String faultFailure;
    private String hostFailure;

    @Actor
    public void fault()
    {
        faultFailure = Probe.attempt(() ->
        {
            final TdpMmu mmu = vm.mmu();
            final MmuMemoryCache cache = new MmuMemoryCache(vm.store(), mmu.rootLevel());
            try
            {
                while (mmu.pageFault(loaded, new TdpIter(vm.store()), cache, GFN, true, null) == TdpMmu.RET_PF_RETRY)
                {
                    retried = true;
                    reloadIfInvalid();
                }
            }
            finally
            {
                cache.free();
            }
        });
    }

    /**
     * The vCPU's next entry after a reload request: an invalid root is dropped and the valid one
     * loaded (kernel: kvm_mmu_free_obsolete_roots, then kvm_mmu_load). An invalid root's last put
     * frees it.
     */
    private void reloadIfInvalid()
    {
        if (loaded.invalid())
        {
            final TdpMmuRoots.Root old = loaded;
            loaded = vm.mmu().roots().load();
            vm.mmu().roots().unload(old);
        }
    }

    @Actor
    public void fastInvalidation()
    {
        hostFailure = Probe.failureOf(() -> vm.mmu().zapAllFast());
    }

    @Arbiter
    public void arbiter(final L_Result r)
    {
        r.r1 = Probe.outcome(this::check, faultFailure, hostFailure);
    }

    private String check()
    {
        // The vCPU's next entry, then the vCPU goes away: its reference is put.
        reloadIfInvalid();
        vm.mmu().roots().unload(loaded);
        final String roots = Probe.rootsBroken(vm);
        if (roots != null)
        {
            return roots;
        }
        if (Probe.stalePfn(vm, tiny.slot, GFN))
        {
            return Probe.STALE_PFN;
        }
        return Probe.leakedAfterDestroy(vm) != 0 ? Probe.LEAK : retried ? "stale-retried" : "before-invalidation";
    }
}
