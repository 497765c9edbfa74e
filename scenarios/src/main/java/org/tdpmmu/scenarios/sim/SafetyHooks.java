package org.tdpmmu.scenarios.sim;

import java.util.Collection;

import org.tdpmmu.core.Vm;
import org.tdpmmu.scenarios.engine.Violation;

/** Structural safety checks of the paging structure (properties 5 and 6), run before teardown. */
final class SafetyHooks
{
    private SafetyHooks()
    {
    }

    static void check(final Vm vm, final Collection<Violation> out)
    {
        // Filled in when mmu-core's SafetyChecks lands.
    }
}
