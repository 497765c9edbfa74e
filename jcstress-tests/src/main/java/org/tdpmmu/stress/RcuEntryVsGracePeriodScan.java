package org.tdpmmu.stress;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.III_Result;
import org.tdpmmu.concurrency.Rcu;
import org.tdpmmu.concurrency.RcuReader;

/**
 * The read-side entry alone against a grace-period scan, on a bare {@link Rcu} (kernel: the
 * smp_mb() of srcu_read_lock, or what tree RCU gets from the scheduler, paired with the grace
 * period's scan of the readers): a reader enters a section and loads a published pointer; an
 * updater clears the pointer (an opaque store, as a plain WRITE_ONCE would be), queues a callback
 * with call_rcu and runs one scan at once. Either the scan sees the reader's entry and holds the
 * callback, or the reader's load sees the cleared pointer. The forbidden outcome is the
 * store-to-load reordering of the reader's Dekker half: its entry store still in its store buffer
 * while its load runs ahead, so the scan finds no reader and frees what the reader holds.
 *
 * <p>Sequential consistency cannot produce it, so no model-checked twin can: this race is here for
 * the hardware (x86 reorders exactly this pair) and for the JIT. The reader stays in its section
 * until the updater has finished (a bounded wait; {@code r3 = 1} says it gave up first, and then
 * a late scan may rightly run the callback). One {@code Rcu} serves every state: a fresh one per
 * state would leave one thread-local record per state in each actor thread for good (the record
 * refers to its {@code Rcu}, which holds the thread-local's key), millions a second on a race this
 * small. Callbacks of earlier states that a scan held back run at a later state's scan.
 */
@JCStressTest
@Description("RCU read-side entry against a grace-period scan: the scan sees the reader or the reader sees the unlink.")
@Outcome(id = "1, 0, 0", expect = ACCEPTABLE, desc = "The reader saw the pointer; the scan saw the reader and held the callback.")
@Outcome(id = "0, 0, 0", expect = ACCEPTABLE, desc = "The reader saw the unlink; the scan saw it inside its section anyway.")
@Outcome(id = "0, 1, 0", expect = ACCEPTABLE, desc = "A late reader: it saw the unlink, and the scan ran the callback before it entered.")
@Outcome(id = "1, 1, 0", expect = FORBIDDEN, desc = "The reader held the pointer, inside its section, and the callback ran: freed under a reader.")
@Outcome(id = ".*, .*, 1", expect = ACCEPTABLE, desc = "The reader stopped waiting for the updater and left: a later scan may run the callback.")
@State
public class RcuEntryVsGracePeriodScan
{
    private static final Rcu RCU = new Rcu();
    private static final int MAX_SPINS = 1 << 12;
    private static final VarHandle LINK;
    private static final VarHandle DONE;

    static
    {
        try
        {
            final MethodHandles.Lookup lookup = MethodHandles.lookup();
            LINK = lookup.findVarHandle(RcuEntryVsGracePeriodScan.class, "link", int.class);
            DONE = lookup.findVarHandle(RcuEntryVsGracePeriodScan.class, "done", int.class);
        }
        catch (final ReflectiveOperationException ex)
        {
            throw new ExceptionInInitializerError(ex);
        }
    }

    private final Rendezvous rendezvous = new Rendezvous();
    /** The published pointer: 1 while linked. Opaque on both sides: the ordering is RCU's alone. */
    private int link = 1;
    /** Set (release) once the updater has read its outcome; the reader leaves its section after. */
    private int done;
    private volatile int freed;
    /**
     * Written by the reader just before its entry: a line the updater has just written, so the
     * store waits for the line in the reader's store buffer, and the entry store (in order behind
     * it on x86) stays invisible for a cross-core miss while the reader's loads go ahead. That is
     * what a vCPU's walk meets after the stores of its previous access; it widens the window of a
     * missing entry fence from a store-buffer drain to a line transfer. Without it the forbidden
     * outcome of a fence-less entry showed a few times in 5 million samples.
     */
    private int prior;

    @Actor
    public void reader(final III_Result r)
    {
        // Taken before the meeting, so the race is the entry store, not a registration.
        final RcuReader reader = RCU.reader();
        rendezvous.meet(0);
        prior = 1;
        RCU.readLock(reader);
        r.r1 = (int)LINK.getOpaque(this);
        int spins = 0;
        while ((int)DONE.getAcquire(this) == 0 && spins < MAX_SPINS)
        {
            spins++;
            Thread.onSpinWait();
        }
        r.r3 = (int)DONE.getAcquire(this) == 0 ? 1 : 0;
        RCU.readUnlock(reader);
    }

    @Actor
    public void updater(final III_Result r)
    {
        rendezvous.meet(1);
        LINK.setOpaque(this, 0);
        RCU.callRcu(() -> freed = 1);
        RCU.tryReclaim();
        r.r2 = freed;
        DONE.setRelease(this, 1);
    }
}
