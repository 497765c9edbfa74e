package org.tdpmmu.stress;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.L_Result;
import org.tdpmmu.concurrency.Rcu;
import org.tdpmmu.core.PageTableStore;
import org.tdpmmu.core.Spte;
import org.tdpmmu.core.Vm;

/**
 * The RCU protocol itself, on the VM's manual-mode {@link Rcu} and a page of its store: the updater
 * unlinks the page (a volatile store of 0 into the published pointer), queues its free with
 * call_rcu and at once runs the reclaimer; a reader enters a read-side section, loads the pointer
 * and, if it still sees the page, reads its entries. A reader that entered before the callback was
 * queued holds the free back until it leaves; a late reader (one that entered after call_rcu) may
 * let the free run at once, but then it must see the pointer cleared (kernel: the grace-period
 * guarantee of call_rcu against rcu_read_lock).
 */
@JCStressTest
@Description("An RCU callback freeing a table against a late reader: the reader never sees freed memory.")
@Outcome(id = "saw-table, freed-at-once", expect = ACCEPTABLE,
    desc = "The reader finished before the reclaimer's scan, so the callback ran at once.")
@Outcome(id = "saw-table, freed-later", expect = ACCEPTABLE,
    desc = "The reader held the page across the scan; the callback waited for it (the barrier ran it).")
@Outcome(id = "saw-unlinked, freed-at-once", expect = ACCEPTABLE,
    desc = "A late reader: it entered after the unlink, saw nothing, and did not hold the callback up.")
@Outcome(id = "saw-unlinked, freed-later", expect = ACCEPTABLE,
    desc = "The reader saw the unlink, but was inside its section during the scan (a grace period may be longer than needed).")
@Outcome(id = Probe.USE_AFTER_FREE, expect = FORBIDDEN,
    desc = "The reader read the page after the callback freed it: the grace period ended under a reader.")
@Outcome(expect = FORBIDDEN, desc = "The callback never ran (leak), or any other exception.")
@State
public class RcuCallbackVsLateReader
{
    private static final VarHandle LINK;

    static
    {
        try
        {
            LINK = MethodHandles.lookup().findVarHandle(RcuCallbackVsLateReader.class, "link", long.class);
        }
        catch (final ReflectiveOperationException ex)
        {
            throw new ExceptionInInitializerError(ex);
        }
    }

    private final Vm vm = StressVm.create();
    private final Rendezvous rendezvous = new Rendezvous();
    private final Rcu rcu = vm.rcu();
    private final PageTableStore store = vm.store();
    private final long table = store.allocate();
    /** The published pointer to the table, 0 once unlinked. Volatile through {@link #LINK}. */
    private long link = table;
    private boolean sawTable;
    private boolean freedAtOnce;
    private String readerFailure;
    private String updaterFailure;

    public RcuCallbackVsLateReader()
    {
        store.soSpte(table, 0, Spte.makeLeaf(1, Spte.PG_LEVEL_4K, Spte.LEAF_WRITABLE));
    }

    @Actor
    public void reader()
    {
        rendezvous.meet(0);
        try
        {
            rcu.readLock();
            try
            {
                final long t = (long)LINK.getVolatile(this);
                if (t != 0)
                {
                    // Several loads: the section stays open across them, as a walk's does.
                    for (int i = 0; i < 4; i++)
                    {
                        store.lvSpte(t, i);
                    }
                    sawTable = true;
                }
            }
            finally
            {
                rcu.readUnlock();
            }
        }
        catch (final Throwable t)
        {
            readerFailure = Probe.classify(t);
        }
    }

    @Actor
    public void updater()
    {
        rendezvous.meet(1);
        try
        {
            final long t = (long)LINK.getAndSet(this, 0L);
            rcu.callRcu(() -> store.free(t));
            rcu.tryReclaim();
            freedAtOnce = !store.isLive(t);
        }
        catch (final Throwable t)
        {
            updaterFailure = Probe.classify(t);
        }
    }

    @Arbiter
    public void arbiter(final L_Result r)
    {
        if (readerFailure != null || updaterFailure != null)
        {
            r.r1 = readerFailure != null ? readerFailure : updaterFailure;
            return;
        }
        try
        {
            if (Probe.leakedAfterDestroy(vm) != 0)
            {
                r.r1 = Probe.LEAK;
                return;
            }
            r.r1 = (sawTable ? "saw-table" : "saw-unlinked") + (freedAtOnce ? ", freed-at-once" : ", freed-later");
        }
        catch (final Throwable t)
        {
            r.r1 = Probe.classify(t);
        }
    }
}
