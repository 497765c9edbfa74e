package org.tdpmmu.explore;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.tdpmmu.core.PageTableStore;
import org.tdpmmu.core.Spte;
import org.tdpmmu.core.Vm;
import org.tdpmmu.stress.StressVm;
import org.tdpmmu.stress.TwoFaultsOneGfn;

/** The MMU's retelling of a Lincheck trace: levels and gfns learned from links, entries described. */
class MmuTraceTest
{
    @Test
    void namesLevelGfnAndTheEntryBeforeAndAfter()
    {
        final Object state = new Object()
        {
            @SuppressWarnings("unused")
            private final Vm vm = StressVm.create();
        };
        MmuTrace.constructed(state);
        final long root = rootOf(state);
        final long child = root + 5;
        final long link = Spte.MMU_PRESENT | Spte.READABLE | Spte.WRITABLE | Spte.EXECUTABLE | (child << Spte.PFN_SHIFT);
        final String report = String.join("\n",
            "= Invalid execution results =",
            "Detailed trace:",
            "| ------------------------------------------------ |",
            "|     Thread 1                |     Thread 2       |",
            "| ------------------------------------------------ |",
            "| store.cmpxchgSpte(" + root + ", 0, 0, " + link + "): 0 at TdpMmu.trySet(TdpMmu.java:396) |  |",
            "|    switch (reason: active lock detected)   |  |",
            "|  | store.lvSpte(" + root + ", 0): " + link + " at Vcpu.walk(Vcpu.java:321) |",
            "|  | store.xchgSpte(" + child + ", 1, 0): 0 at TdpMmu.handleRemovedPt(TdpMmu.java:500) |",
            "| ------------------------------------------------ |",
            "| store.lvSpte(" + child + ", 1): 0 at Probe.entry(Probe.java:170) |  |",
            "");
        final String label = "table 0x" + Long.toHexString(child - PageTableStore.PFN_BASE) + " L3 [1] gfn 0x40000";
        final String out = MmuTrace.annotate(report, Race.of(TwoFaultsOneGfn.class));
        assertTrue(out.startsWith("MMU trace of the failing schedule"), out);
        assertTrue(out.contains("T1 = reader, T2 = writer"), out);
        assertTrue(out.contains("T1   cmpxchgSpte        table root L4 [0] gfn 0x0 " + Spte.describe(0, 4) + " -> " +
            Spte.describe(link, 4)), out);
        assertTrue(out.contains("-- T1 switch (reason: active lock detected)"), out);
        assertTrue(out.contains("T2   xchgSpte           " + label), out);
        assertTrue(out.contains("arb  lvSpte             " + label + " read"), out);
        assertTrue(out.contains("Lincheck's report:\n= Invalid execution results ="), out);
    }

    private static long rootOf(final Object state)
    {
        try
        {
            final java.lang.reflect.Field f = state.getClass().getDeclaredField("vm");
            f.setAccessible(true);
            return ((Vm)f.get(state)).mmu().rootPfn();
        }
        catch (final ReflectiveOperationException ex)
        {
            throw new IllegalStateException(ex);
        }
    }
}
