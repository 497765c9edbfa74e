package org.tdpmmu.core;

import java.util.concurrent.atomic.AtomicLong;

/**
 * A test hook that fails the Nth allocation at one site where the model can run out of memory, so
 * every error path can be driven on purpose (kernel analogue: the fault-injection framework's
 * failslab / fail_page_alloc, which make the Nth allocation return NULL).
 *
 * <p>The sites: {@link Site#PAGE_TABLE}, every {@link PageTableStore#allocate()} — the root at VM
 * creation, each {@link MmuMemoryCache#topup} of a fault (before the MMU lock) or of an eager split
 * (with the lock dropped), a pre-fault's reservation; and {@link Site#HOST_FRAME}, every host page
 * {@link HostMemory} hands out — backing a memslot and the target pages of a migration. The RCU
 * callback queue is not a site: it cannot refuse ({@code Rcu#callRcu}).
 *
 * <p>Off costs nothing: a store or host memory built without one holds {@link #NONE}, and the
 * allocation path compares its final field with it before anything else (one field read and a
 * reference compare, no allocation, no atomic). Armed, each allocation at any site takes one
 * atomic increment. Only tests build one ({@link Vm#Vm(VmConfig, FaultInjection)}); the CLI has no
 * way to.
 *
 * <p>Only the Nth allocation at the chosen site fails; the ones after it succeed again, as after a
 * transient -ENOMEM, so a caller that absorbs the failure (eager splitting) carries on.
 */
public final class FaultInjection
{
    /** Where an allocation can fail. */
    public enum Site
    {
        PAGE_TABLE("page-table allocation"),
        HOST_FRAME("host frame allocation");

        private final String what;

        Site(final String what)
        {
            this.what = what;
        }

        /** "page-table allocation", "host frame allocation". */
        public String what()
        {
            return what;
        }
    }

    /** No injection: the allocation paths skip the hook on a reference compare. */
    public static final FaultInjection NONE = new FaultInjection(null, 0);

    private final Site site;
    private final long failAt;
    private final AtomicLong[] counts = {new AtomicLong(), new AtomicLong()};
    private final AtomicLong injected = new AtomicLong();

    private FaultInjection(final Site site, final long failAt)
    {
        this.site = site;
        this.failAt = failAt;
    }

    /** Counts the allocations at every site and fails none: the run that measures how many there are. */
    public static FaultInjection counting()
    {
        return new FaultInjection(null, 0);
    }

    /**
     * Fails the {@code n}th allocation (1-based) at {@code site} and no other.
     *
     * @throws IllegalArgumentException for n < 1 or a null site.
     */
    public static FaultInjection failNth(final Site site, final long n)
    {
        if (site == null || n < 1)
        {
            throw new IllegalArgumentException("fault injection needs a site and n >= 1: site=" + site + ", n=" + n);
        }
        return new FaultInjection(site, n);
    }

    /**
     * Called by an allocation site when this is not {@link #NONE}, before the site changes
     * anything: counts the allocation (atomic increment, so racing vCPUs number them uniquely).
     *
     * @return null to go on, or the message of the failure the site must throw.
     */
    String check(final Site at)
    {
        final long n = counts[at.ordinal()].incrementAndGet();
        if (at != site || n != failAt)
        {
            return null;
        }
        injected.incrementAndGet();
        return at.what() + " #" + n + " failed (injected by FaultInjection)";
    }

    /** Allocations counted at {@code at} so far. */
    public long allocations(final Site at)
    {
        return counts[at.ordinal()].get();
    }

    /** True once the armed failure happened. */
    public boolean fired()
    {
        return injected.get() > 0;
    }

    @Override
    public String toString()
    {
        return this == NONE ? "FaultInjection.NONE" : site == null ? "FaultInjection.counting" :
            "FaultInjection(fail " + site.what() + " #" + failAt + ")";
    }
}
