package org.tdpmmu.concurrency;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

abstract class VcpuStateLhsPad
{
    long p00, p01, p02, p03, p04, p05, p06, p07;
    long p10, p11, p12, p13, p14, p15, p16, p17;
}

abstract class VcpuStateFields extends VcpuStateLhsPad
{
    /**
     * Low 32 bits: pending request bits (kernel: vcpu->requests). High 32 bits: how many times the
     * vCPU has taken a non-empty set of bits, so a requester can tell "taken after my set" from
     * "taken before it" without a lock: it remembers the count its atomic OR saw.
     */
    volatile long requests;
    /**
     * Even: outside guest mode; odd: in guest mode (kernel: vcpu->mode). It counts transitions, so a
     * requester sees "left guest mode since I looked" even if the vCPU has entered again since.
     */
    volatile long mode;
    /** Bits taken at entry and not yet handed to the vCPU; touched only by the vCPU's own thread. */
    int deferred;
    /**
     * The thread that last entered guest mode. Written plain before the volatile mode store, so a
     * requester that reads an odd mode (volatile) sees the thread of that entry.
     */
    Thread guestThread;
}

/**
 * One vCPU's request word and mode (kernel: the requests and mode fields of struct kvm_vcpu). Padded:
 * each vCPU thread writes its own record at every entry and check, requesters read all of them.
 *
 * <p>Public only so that a vCPU can hold its own record ({@link RemoteRequests#vcpuState(int)}) and
 * check its requests before each access without the id lookup: that check is on the TLB-hit path.
 */
public final class VcpuState extends VcpuStateFields
{
    static final long BITS_MASK = 0xFFFF_FFFFL;
    static final long TAKE_ONE = 1L << 32;

    private static final VarHandle REQUESTS;
    private static final VarHandle MODE;

    static
    {
        try
        {
            final MethodHandles.Lookup lookup = MethodHandles.lookup();
            REQUESTS = lookup.findVarHandle(VcpuStateFields.class, "requests", long.class);
            MODE = lookup.findVarHandle(VcpuStateFields.class, "mode", long.class);
        }
        catch (final ReflectiveOperationException ex)
        {
            throw new ExceptionInInitializerError(ex);
        }
    }

    long q00, q01, q02, q03, q04, q05, q06, q07;
    long q10, q11, q12, q13, q14, q15, q16, q17;

    private final RemoteRequests owner;

    VcpuState(final RemoteRequests owner)
    {
        this.owner = owner;
    }

    /**
     * True if {@link #checkRequests()} would return 0 now: nothing pending, nothing held from the
     * entry. Takes nothing. Small enough for the JIT to inline into a TLB hit, which then calls
     * {@link #checkRequests()} only when this is false; the volatile read orders as there.
     */
    public boolean nothingPending()
    {
        return deferred == 0 && (lvRequests() & BITS_MASK) == 0;
    }

    /**
     * {@link RemoteRequests#checkRequests(int)} for this vCPU: call it only from the vCPU's own
     * thread. One volatile read (acquire: the requester's writes before its atomic OR are visible
     * once the bits are seen) and no allocation when nothing is pending.
     *
     * @return the bits taken, 0 if none.
     */
    public int checkRequests()
    {
        final int held = deferred;
        if ((lvRequests() & BITS_MASK) == 0)
        {
            if (held != 0)
            {
                deferred = 0;
            }
            return held;
        }
        deferred = 0;
        return held | owner.take(this);
    }

    long lvRequests()
    {
        return (long)REQUESTS.getVolatile(this);
    }

    /** Atomic OR (seq-cst); returns the word before, whose high half is the take count it joined. */
    long orRequests(final int bits)
    {
        return (long)REQUESTS.getAndBitwiseOr(this, bits & BITS_MASK);
    }

    boolean casRequests(final long expected, final long value)
    {
        return REQUESTS.compareAndSet(this, expected, value);
    }

    long lvMode()
    {
        return (long)MODE.getVolatile(this);
    }

    /** Owner only: its own last write. */
    long lpMode()
    {
        return (long)MODE.get(this);
    }

    /** Seq-cst store: the entry must be visible before the vCPU reads its requests. */
    void svMode(final long value)
    {
        MODE.setVolatile(this, value);
    }

    /** Release store: the vCPU's guest-mode accesses happen-before a requester seeing it left. */
    void soMode(final long value)
    {
        MODE.setRelease(this, value);
    }
}
