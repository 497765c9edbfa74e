package org.tdpmmu.explore;

import java.util.Set;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.tdpmmu.core.SeededBug;
import org.tdpmmu.stress.StressVm;

/**
 * Reruns one exploration named on the command line (the command a failure prints):
 * {@code -Dexplore.race=<class>} (a catalogue race or one of this module's),
 * {@code -Dexplore.bugs=<SeededBug,...>} and {@code -Dexplore.invocations=<n>}. Lincheck's model
 * checker enumerates schedules in a fixed order, so the same three values fail at the same
 * schedule with the same trace. Skipped when no race is named (plain {@code mvn verify}).
 */
class ReplayTest
{
    @Test
    void replay() throws ClassNotFoundException
    {
        final String name = System.getProperty("explore.race", "");
        Assumptions.assumeFalse(name.isEmpty(), "no -Dexplore.race=<class> given");
        final Class<?> race = Class.forName(name.contains(".") ? name : "org.tdpmmu.stress." + name);
        final Set<SeededBug> bugs = StressVm.parseSeededBugs(System.getProperty("explore.bugs", ""));
        final AssertionError failure = Explorer.run(race, bugs, Explorer.invocations());
        if (failure != null)
        {
            throw failure;
        }
    }
}
