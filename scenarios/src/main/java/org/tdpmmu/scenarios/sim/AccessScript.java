package org.tdpmmu.scenarios.sim;

import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.model.Step;

/**
 * The accesses of a scenario's passes as plain lists, for replaying them outside the scenario
 * engine (kvm-check runs them in a real KVM guest and through the model). The same
 * {@link AccessOrder} as the engine's, so the same pages in the same order with the same
 * read/write choices. An access is encoded as {@code index << 1 | write}, index being the page in
 * the guest index space (the slots laid end to end in slot order).
 */
public final class AccessScript
{
    private final long pagesPerVcpu;
    private final long passPages;
    private final boolean overlap;

    public AccessScript(final Scenario scenario)
    {
        this.pagesPerVcpu = scenario.vm().pagesPerVcpu();
        this.passPages = scenario.vm().pagesPerVcpuPass();
        this.overlap = scenario.vm().overlapVcpuMemory();
    }

    /** Accesses one vCPU makes in a pass. */
    public long passLength()
    {
        return passPages;
    }

    /** The accesses of vCPU {@code vcpu} in {@code step}, or an empty array for a step without any. */
    public long[] accesses(final Step step, final int vcpu)
    {
        final AccessOrder order = AccessOrder.forStep(step, vcpu, passPages);
        if (order == null)
        {
            return new long[0];
        }
        final int percent = AccessOrder.writePercent(step);
        final long first = overlap ? 0 : vcpu * pagesPerVcpu;
        final long[] out = new long[Math.toIntExact(passPages)];
        for (int i = 0; i < out.length; i++)
        {
            // next() before coin(), as the engine draws them from the one stream.
            final long index = first + order.next(i);
            out[i] = index << 1 | (order.coin(percent) ? 1 : 0);
        }
        return out;
    }

    public static long index(final long access)
    {
        return access >>> 1;
    }

    public static boolean isWrite(final long access)
    {
        return (access & 1) != 0;
    }
}
