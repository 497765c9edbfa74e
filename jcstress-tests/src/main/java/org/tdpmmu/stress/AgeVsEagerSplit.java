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
 * EPT without A/D bits, lockless aging (6.15): a 2 MiB leaf, present and so young, is aged by
 * access tracking (mark_spte_for_access_track: R, W, X cleared, R and X saved, one cmpxchg) while
 * enabling write-protect dirty logging splits it eagerly under the read lock (512 children, one
 * cmpxchg linking them). Whichever cmpxchg lands first, the other fails: the ager leaves the entry
 * alone (young, never retried), the split rebuilds its children from the tracked leaf. After both,
 * no huge leaf is left in the logged slot and no table is lost.
 */
@JCStressTest
@Description("Lockless access tracking of a 2 MiB leaf against its eager split at dirty-log enable.")
@Outcome(id = "split", expect = ACCEPTABLE, desc = "4 KiB leaves map the page after both, and a later write is logged.")
@Outcome(id = "huge-in-logged-slot", expect = FORBIDDEN,
    desc = "A 2 MiB leaf maps the page after enable returned: the ager stored its snapshot over the split's table.")
@Outcome(id = Probe.LOST_DIRTY, expect = FORBIDDEN, desc = "A write made after enable returned is not reported.")
@Outcome(id = Probe.LEAK, expect = FORBIDDEN, desc = "A table was never freed after teardown and an RCU barrier.")
@Outcome(expect = FORBIDDEN, desc = "Any other exception inside the MMU.")
@State
public class AgeVsEagerSplit
{
    private static final long GFN = 5;

    /** DirtyLogging's eager split tops its memory cache up to 64 tables before it takes the lock. */
    private static final int TABLES = 80;

    private final Vm vm = new Vm(StressVm.config(TABLES, StressVm.FRAMES, StressVm.seededBugs())
        .withLocklessAging(true).withEptAdBits(false));
    private final Rendezvous rendezvous = new Rendezvous();
    private final Memslot slot = vm.addMemslot(0, 512, Backing.PAGE_2M);
    private final Vcpu vcpu = vm.createVcpu();
    private final DirtyLogging log = new DirtyLogging(vm);
    private final TdpMmuAge age = new TdpMmuAge(vm);
    private final TdpIter iter = new TdpIter(vm.store());
    private String enableFailure;
    private String ageFailure;

    public AgeVsEagerSplit()
    {
        // Logging off: one 2 MiB leaf, present (young without A/D bits).
        vcpu.read(GFN);
        vcpu.exitGuest();
    }

    @Actor
    public void enable()
    {
        rendezvous.meet(0);
        try
        {
            log.enable(slot, Memslot.LOG_WRPROT, true);
        }
        catch (final Throwable t)
        {
            enableFailure = Probe.classify(t);
        }
    }

    @Actor
    public void age()
    {
        rendezvous.meet(1);
        try
        {
            age.clearYoung(iter, 0, 512);
        }
        catch (final Throwable t)
        {
            ageFailure = Probe.classify(t);
        }
    }

    @Arbiter
    public void arbiter(final L_Result r)
    {
        if (enableFailure != null || ageFailure != null)
        {
            r.r1 = enableFailure != null ? enableFailure : ageFailure;
            return;
        }
        try
        {
            if (Probe.mappedHuge(vm, GFN))
            {
                r.r1 = "huge-in-logged-slot";
                return;
            }
            final String failure = Probe.guestWrite(vcpu, GFN, 2);
            if (failure != null)
            {
                r.r1 = failure;
                return;
            }
            final boolean logged = Probe.dirty(log.getDirtyLog(slot, false), GFN);
            r.r1 = Probe.leakedAfterDestroy(vm) != 0 ? Probe.LEAK : logged ? "split" : Probe.LOST_DIRTY;
        }
        catch (final Throwable t)
        {
            r.r1 = Probe.classify(t);
        }
    }
}
