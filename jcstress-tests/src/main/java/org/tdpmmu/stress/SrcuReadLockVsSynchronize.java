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
import org.tdpmmu.concurrency.Srcu;
import org.tdpmmu.concurrency.SrcuReader;

/**
 * SRCU's read-side entry alone against a grace period, on a bare {@link Srcu} (kernel: the smp_mb()
 * of srcu_read_lock after its count increment, paired with the one of synchronize_srcu between its
 * index flip and its scan of the counts): the memslots' case, where a vCPU's fault holds
 * {@code kvm->srcu} over its memslot lookup and a memslot delete swaps the array and calls
 * synchronize_srcu before freeing the old one. The reader enters a section and loads the published
 * array; the updater swaps it (an opaque store: the ordering is SRCU's alone) and synchronizes.
 * Either the scan sees the reader's count and waits until it has left, or the reader's load sees
 * the new array. The forbidden outcome is the store-to-load reordering of the reader's Dekker half:
 * its count store still in its store buffer while its index re-read and its load of the array run
 * ahead, so the scan counts no reader and synchronize returns while the reader holds the old array.
 *
 * <p>Sequential consistency cannot produce it, so no model-checked twin can: if the reader loaded
 * the old array, its load came before the swap, so its count store (and both of its index reads,
 * which then saw the index before the flip) came before the flip and the scan reads the count; the
 * scan then waits for it to drop, and the reader marks that it left ({@code left}) before dropping
 * it. {@code r2 = 1} is synchronize returning while {@code left} was still clear.
 *
 * <p>Synchronize blocks while the reader is counted, so the reader cannot simply wait for the
 * updater to finish: it leaves when the updater is done, or when it has seen the updater inside its
 * grace period ({@link Srcu#waitingWriters()}) for {@link #BLOCKED_POLLS} polls in a row (a scan
 * of the few records takes well under one poll; it is waiting for this reader), or at a bound
 * ({@code r3 = 1}: it gave up). None of the three can make the forbidden outcome: the reader sets
 * {@code left} before it unlocks. The blocked-poll exit only keeps the correct case cheap (else
 * every counted reader would cost the updater the whole bound); the reorder's case does not see
 * the updater waiting for that long, since its scan found no count to wait for. One {@code Srcu}
 * serves every state, as in {@link RcuEntryVsGracePeriodScan}: a fresh one per state would leave
 * one thread-local record per state in each actor thread.
 */
@JCStressTest
@Description("SRCU read-side entry against synchronize_srcu: the scan waits for the reader or the reader sees the new pointer.")
@Outcome(id = "1, 0, 0", expect = ACCEPTABLE, desc = "The reader saw the old array; synchronize waited until it left.")
@Outcome(id = "1, 0, 1", expect = ACCEPTABLE, desc = "The reader saw the old array and left at its bound; synchronize returned after.")
@Outcome(id = "0, 0, .*", expect = ACCEPTABLE, desc = "The reader saw the new array; it had left when synchronize returned.")
@Outcome(id = "0, 1, .*", expect = ACCEPTABLE, desc = "A late reader: it saw the new array, entered after the flip, and synchronize rightly did not wait for it.")
@Outcome(id = "1, 1, .*", expect = FORBIDDEN, desc = "The reader held the old array, inside its section, and synchronize returned: freed under a reader.")
@State
public class SrcuReadLockVsSynchronize
{
    private static final Srcu SRCU = new Srcu();
    private static final int MAX_SPINS = 1 << 12;
    /** Polls in a row that see the updater in its grace period before the reader leaves. */
    private static final int BLOCKED_POLLS = 1 << 6;
    private static final VarHandle SLOTS;
    private static final VarHandle DONE;
    private static final VarHandle LEFT;

    static
    {
        try
        {
            final MethodHandles.Lookup lookup = MethodHandles.lookup();
            SLOTS = lookup.findVarHandle(SrcuReadLockVsSynchronize.class, "slots", int.class);
            DONE = lookup.findVarHandle(SrcuReadLockVsSynchronize.class, "done", int.class);
            LEFT = lookup.findVarHandle(SrcuReadLockVsSynchronize.class, "left", int.class);
        }
        catch (final ReflectiveOperationException ex)
        {
            throw new ExceptionInInitializerError(ex);
        }
    }

    private final Rendezvous rendezvous = new Rendezvous();
    /** The published memslot array: 1 the old one, 0 the new one. Opaque on both sides. */
    private int slots = 1;
    /** Set (release) once the updater has read its outcome; the reader may leave its section after. */
    private int done;
    /** Set (release) by the reader just before its unlock: read (acquire) by the updater after synchronize. */
    private int left;
    /**
     * Written by the reader just before its entry, a line the updater has just written (as in
     * {@link RcuEntryVsGracePeriodScan}): the count store waits behind it in the store buffer for a
     * line transfer while the reader's loads go ahead.
     */
    private int prior;

    @Actor
    public void reader(final III_Result r)
    {
        // Taken before the meeting, so the race is the entry's count store, not a registration.
        final SrcuReader reader = SRCU.reader();
        rendezvous.meet(0);
        prior = 1;
        final int idx = SRCU.readLock(reader);
        r.r1 = (int)SLOTS.getOpaque(this);
        int spins = 0;
        int blocked = 0;
        while ((int)DONE.getAcquire(this) == 0 && spins < MAX_SPINS && blocked < BLOCKED_POLLS)
        {
            blocked = SRCU.waitingWriters() != 0 ? blocked + 1 : 0;
            spins++;
            Thread.onSpinWait();
        }
        r.r3 = spins == MAX_SPINS ? 1 : 0;
        LEFT.setRelease(this, 1);
        SRCU.readUnlock(reader, idx);
    }

    @Actor
    public void updater(final III_Result r)
    {
        rendezvous.meet(1);
        SLOTS.setOpaque(this, 0);
        SRCU.synchronize();
        r.r2 = (int)LEFT.getAcquire(this) == 0 ? 1 : 0;
        DONE.setRelease(this, 1);
    }
}
