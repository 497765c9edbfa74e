package org.tdpmmu.scenarios.sim;

import java.util.Collection;

import org.tdpmmu.core.SafetyChecks;
import org.tdpmmu.core.Vm;
import org.tdpmmu.scenarios.engine.Violation;

/** Structural safety checks of the paging structure (properties 5 and 6, and no entry left frozen or
 * pointing at a freed table), run before teardown. */
final class SafetyHooks
{
    private static final int MAX_PER_PROPERTY = 10;

    private SafetyHooks()
    {
    }

    static void check(final Vm vm, final Collection<Violation> out)
    {
        add(out, "no-stale-translation", SafetyChecks.noStaleTranslation(vm));
        add(out, "no-oversized-mapping", SafetyChecks.noOversizedMapping(vm));
        add(out, "nothing-frozen-or-half-linked", SafetyChecks.noFrozenOrDanglingEntry(vm));
    }

    private static void add(final Collection<Violation> out, final String property, final java.util.List<String> found)
    {
        for (int i = 0; i < found.size() && i < MAX_PER_PROPERTY; i++)
        {
            out.add(new Violation(property, found.get(i)));
        }
        if (found.size() > MAX_PER_PROPERTY)
        {
            out.add(new Violation(property, (found.size() - MAX_PER_PROPERTY) + " more"));
        }
    }
}
