package org.tdpmmu.scenarios.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.util.Set;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;
import org.tdpmmu.core.SeededBug;

/** The dirty_log_test analogue on a small slot: clean in every mode, and its checks catch a missing re-protect. */
class DirtyLogTestTest
{
    private static final long PAGES = 8192;

    private static DirtyLogTest test(final DirtyLogTest.Mode mode, final ByteArrayOutputStream sink, final Set<SeededBug> bugs)
    {
        return new DirtyLogTest(mode, 4, 2, 1024, 0x100000, PAGES, 5, new PrintStream(sink, true), bugs);
    }

    @ParameterizedTest
    @EnumSource(DirtyLogTest.Mode.class)
    void everyModeHoldsBothInvariants(final DirtyLogTest.Mode mode) throws Exception
    {
        final ByteArrayOutputStream sink = new ByteArrayOutputStream();
        final DirtyLogTest t = test(mode, sink, Set.of());
        assertEquals(0, t.run(), t.violations().toString());
        assertTrue(t.dirtyCount() > 0 && t.clearCount() > 0, sink.toString());
        assertEquals(3 * PAGES, t.dirtyCount() + t.clearCount(), "every page checked in each of the 3 verifications");
        final String out = sink.toString();
        assertTrue(out.contains("Total bits checked: dirty ("), out);
        assertTrue(mode != DirtyLogTest.Mode.DIRTY_RING || out.contains("dirty ring count: 0x400"), out);
    }

    @ParameterizedTest
    @EnumSource(value = DirtyLogTest.Mode.class, names = {"DIRTY_LOG", "CLEAR_LOG"})
    void aHarvestThatDoesNotReprotectIsCaughtNamingThePage(final DirtyLogTest.Mode mode) throws Exception
    {
        // 1,024 pages: each 1,024-page loop rewrites most of them, and the vCPU finishes a loop after
        // every collect before it stops, so pages reported once are written again however slow it runs.
        final DirtyLogTest t = new DirtyLogTest(mode, 6, 2, 1024, 0x100000, 1024, 5,
            new PrintStream(new ByteArrayOutputStream(), true), Set.of(SeededBug.NO_REPROTECT_BEFORE_HARVEST));
        assertTrue(t.run() > 0, "a write after the first harvest is never reported again");
        assertTrue(t.violations().get(0).matches(".*page \\d+ .*iteration \\d+.*"), t.violations().get(0));
    }

    @Test
    void twoIterationsAndABadRingAreRefused()
    {
        final PrintStream sink = new PrintStream(new ByteArrayOutputStream());
        assertThrows(IllegalArgumentException.class, () -> new DirtyLogTest(DirtyLogTest.Mode.DIRTY_LOG, 2, 10, 0, 0, PAGES, 1, sink));
        assertThrows(IllegalArgumentException.class, () -> new DirtyLogTest(DirtyLogTest.Mode.DIRTY_RING, 3, 10, 1000, 0, PAGES, 1, sink));
    }
}
