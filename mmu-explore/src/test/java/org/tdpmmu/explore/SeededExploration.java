package org.tdpmmu.explore;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;

import org.tdpmmu.core.SeededBug;

/** The model checker's half of the seeded-bug check. */
final class SeededExploration
{
    /** One file per bug: the twin that caught it and the seconds it took (read by scripts/seeded-bugs.sh). */
    static final Path RESULTS = Path.of("target", "explore-seeded");
    /**
     * Schedules explored per twin with a bug seeded: larger than the twins' bound, since the search
     * stops at the first failure and a bug must never be missed (PLAIN_STORE_INSTEAD_OF_CMPXCHG needs
     * the most: its window is one preemption between a re-read and a store, among some hundred
     * single-preemption schedules).
     */
    static final String INVOCATIONS = "explore.seededInvocations";

    static int invocations()
    {
        return Integer.getInteger(INVOCATIONS, 600);
    }

    private SeededExploration()
    {
    }

    /** Explores {@code races} in order with {@code bug} seeded until one fails; fails if none does. */
    static void mustCatch(final SeededBug bug, final Class<?>... races)
    {
        final StringBuilder tried = new StringBuilder();
        for (final Class<?> race : races)
        {
            final Explorer.Cost cost = new Explorer.Cost();
            final AssertionError failure = Explorer.run(race, EnumSet.of(bug), invocations(), Boolean.getBoolean(Explorer.SEEDED_REPORTS));
            final double seconds = cost.wallSeconds();
            if (failure != null)
            {
                final String line = race.getSimpleName() + " " + String.format(java.util.Locale.ROOT, "%.1fs (%.1f s CPU)",
                    seconds, cost.cpuSeconds());
                record(bug, line);
                System.out.println("model checker: " + bug + " caught by " + line);
                // The first lines of the report: what was violated (the full trace is in the log of a rerun).
                System.out.println(head(failure.getMessage(), 12));
                return;
            }
            tried.append(' ').append(race.getSimpleName()).append(String.format(" (%.1fs)", seconds));
        }
        record(bug, "not caught");
        throw new AssertionError(bug + ": no explored schedule of" + tried + " within " + invocations() +
            " invocations each ended FORBIDDEN");
    }

    private static void record(final SeededBug bug, final String line)
    {
        try
        {
            Files.createDirectories(RESULTS);
            Files.writeString(RESULTS.resolve(bug.name()), line + "\n");
        }
        catch (final IOException ex)
        {
            throw new UncheckedIOException(ex);
        }
    }

    private static String head(final String text, final int lines)
    {
        final String[] all = text.split("\n", lines + 1);
        return String.join("\n", java.util.Arrays.copyOf(all, Math.min(lines, all.length)));
    }
}
