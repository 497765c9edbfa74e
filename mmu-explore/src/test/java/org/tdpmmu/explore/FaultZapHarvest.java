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
import org.tdpmmu.core.Spte;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;
import org.tdpmmu.stress.Probe;
import org.tdpmmu.stress.StressVm;

/**
 * Three actors on one last-level table, a race the jcstress catalogue lacks (two actors per state
 * there): a vCPU write (hardware sets D by cmpxchg, or faults the path back in), an atomic zap of
 * the level-2 entry over the table (handle_removed_pt carries each D bit into the bitmap), and a
 * D-bit harvest (kernel: kvm_get_dirty_log_protect). Written in the catalogue's form (no
 * {@code @JCStressTest}: only the model checker runs it). The page was written and harvested in
 * setup; the racing write must show up in the racing harvest or the next.
 */
@Description("Fault + atomic zap + harvest on one table: no lost dirty page, no leak, no use after free, no lost write.")
@Outcome(id = "first-harvest", expect = ACCEPTABLE, desc = "The racing harvest reported the write.")
@Outcome(id = "second-harvest", expect = ACCEPTABLE, desc = "The write landed after the racing harvest; the next reported it.")
@Outcome(id = "both-harvests", expect = ACCEPTABLE,
    desc = "Reported by both: the zap's carried D bit and a re-fault's mark; over-reporting loses nothing.")
@Outcome(id = Probe.LOST_DIRTY, expect = FORBIDDEN, desc = "Neither harvest reports the written page.")
@Outcome(id = Probe.LOST_WRITE, expect = FORBIDDEN, desc = "The written value is not in the frame.")
@Outcome(id = Probe.LEAK, expect = FORBIDDEN, desc = "A table was left allocated after teardown.")
@Outcome(id = Probe.USE_AFTER_FREE, expect = FORBIDDEN, desc = "A table was touched after it was freed.")
@Outcome(expect = FORBIDDEN, desc = "Any other exception inside the MMU.")
@State
public class FaultZapHarvest
{
    private static final long GFN = 7;
    private static final long VALUE = 0x77;

    private final Vm vm = StressVm.create();
    private final Memslot slot = vm.addMemslot(0, 16, Backing.PAGE_4K);
    private final Vcpu vcpu = vm.createVcpu();
    private final DirtyLogging log = new DirtyLogging(vm);
    private long[] firstHarvest;
    private String vcpuFailure;
    private String zapFailure;
    private String harvestFailure;

    public FaultZapHarvest()
    {
        log.enable(slot, Memslot.LOG_DBIT, false);
        vcpu.write(GFN, 1);
        vcpu.write(GFN + 1, 1);
        vcpu.exitGuest();
        log.getDirtyLog(slot, false);
    }

    @Actor
    public void a0Write()
    {
        vcpuFailure = Probe.guestWrite(vcpu, GFN, VALUE);
    }

    @Actor
    public void a1Zap()
    {
        zapFailure = Probe.zapAndReclaim(vm, GFN, Spte.PG_LEVEL_2M);
    }

    @Actor
    public void a2Harvest()
    {
        harvestFailure = Probe.attempt(() -> firstHarvest = log.getDirtyLog(slot, false));
    }

    @Arbiter
    public void arbiter(final L_Result r)
    {
        r.r1 = Probe.outcome(() -> Probe.harvestedOnce(vm, slot, log, firstHarvest, GFN, VALUE), vcpuFailure, zapFailure,
            harvestFailure);
    }
}
