package org.tdpmmu.explore;

/** Placeholder: annotates Lincheck's trace in the MMU's terms. */
final class MmuTrace
{
    private MmuTrace()
    {
    }

    static void reset()
    {
    }

    static void constructed(final Object state)
    {
    }

    static String annotate(final String lincheckReport)
    {
        return lincheckReport;
    }
}
