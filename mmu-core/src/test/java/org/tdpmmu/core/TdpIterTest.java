package org.tdpmmu.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertIterableEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * The pre-order walk of kernel tdp_iter.c over a structure built by hand:
 *
 * <pre>
 * root (L4)  [0] -> A (L3)  [0] -> B (L2)  [0] -> C (L1): 4K leaves at 0, 1, 511
 *                                          [1] -> D (L1): 4K leaves at 0, 5   (gfn 0x200..0x3ff)
 *                                          [3] 2M leaf    (gfn 0x600..0x7ff)
 *                           [2] 1G leaf    (gfn 0x80000..0xbffff)
 *            [1] -> E (L3), all entries empty   (gfn 0x8000000..)
 * root5 (L5) [0] -> root,   [1] -> F (L4) [0] -> G (L3) [0] 1G leaf (gfn 0x10_0000_0000..)
 * </pre>
 *
 * A visit is written "level/gfn/index/kind", kind T table, L leaf, - not present, F frozen.
 */
class TdpIterTest
{
    private static final long FULL_4 = 1L << 36;

    private PageTableStore store;
    private TdpIter it;
    private long root;
    private long a;
    private long b;
    private long c;
    private long d;
    private long e;
    private long root5;

    @BeforeEach
    void build()
    {
        store = new PageTableStore(64);
        it = new TdpIter(store);
        root = store.allocate();
        a = store.allocate();
        b = store.allocate();
        c = store.allocate();
        d = store.allocate();
        e = store.allocate();
        store.soSpte(root, 0, Spte.makeNonLeaf(a));
        store.soSpte(root, 1, Spte.makeNonLeaf(e));
        store.soSpte(a, 0, Spte.makeNonLeaf(b));
        store.soSpte(a, 2, Spte.makeLeaf(0x80000, 3, Spte.LEAF_WRITABLE));
        store.soSpte(b, 0, Spte.makeNonLeaf(c));
        store.soSpte(b, 1, Spte.makeNonLeaf(d));
        store.soSpte(b, 3, Spte.makeLeaf(0x600, 2, Spte.LEAF_WRITABLE));
        store.soSpte(c, 0, Spte.makeLeaf(0x1000, 1, Spte.LEAF_WRITABLE));
        store.soSpte(c, 1, Spte.makeLeaf(0x1001, 1, Spte.LEAF_WRITABLE));
        store.soSpte(c, 511, Spte.makeLeaf(0x11ff, 1, Spte.LEAF_WRITABLE));
        store.soSpte(d, 0, Spte.makeLeaf(0x2000, 1, Spte.LEAF_WRITABLE));
        store.soSpte(d, 5, Spte.makeLeaf(0x2005, 1, Spte.LEAF_WRITABLE));

        root5 = store.allocate();
        final long f = store.allocate();
        final long g = store.allocate();
        store.soSpte(root5, 0, Spte.makeNonLeaf(root));
        store.soSpte(root5, 1, Spte.makeNonLeaf(f));
        store.soSpte(f, 0, Spte.makeNonLeaf(g));
        store.soSpte(g, 0, Spte.makeLeaf(0x40000, 3, 0));
    }

    /** The full pre-order walk of the level-4 structure, written out; entries below minLevel left out. */
    private static List<String> fullWalk(final int minLevel)
    {
        return new Expect(minLevel)
            .v(4, 0, 0, 'T')
            .v(3, 0, 0, 'T')
            .v(2, 0, 0, 'T')
            .v(1, 0, 0, 'L').v(1, 1, 1, 'L').empty(1, 0x2, 1, 2, 510).v(1, 0x1ff, 511, 'L')
            .v(2, 0x200, 1, 'T')
            .v(1, 0x200, 0, 'L').empty(1, 0x201, 1, 1, 4).v(1, 0x205, 5, 'L').empty(1, 0x206, 1, 6, 511)
            .v(2, 0x400, 2, '-')
            .v(2, 0x600, 3, 'L')
            .empty(2, 0x800, 0x200, 4, 511)
            .v(3, 0x40000, 1, '-')
            .v(3, 0x80000, 2, 'L')
            .empty(3, 0xC0000, 0x40000, 3, 511)
            .v(4, 0x800_0000, 1, 'T')
            .empty(3, 0x800_0000, 0x40000, 0, 511)
            .empty(4, 0x1000_0000, 0x800_0000, 2, 511)
            .list;
    }

    @Test
    void fullRangePreOrder()
    {
        final List<String> expected = fullWalk(1);
        assertEquals(6 * 512, expected.size(), "every entry of the six tables is visited once");
        assertIterableEquals(expected, walk(it.start(root, 4, 1, 0, FULL_4)));
        assertEquals(5, it.stepsDown(), "root->A, A->B, B->C, B->D, root->E");
        assertFalse(it.valid());
    }

    @Test
    void minLevelStopsTheDescent()
    {
        assertIterableEquals(fullWalk(2), walk(it.start(root, 4, 2, 0, FULL_4)));
        assertEquals(3, it.stepsDown(), "C and D are visited at level 2 but never entered");
        assertIterableEquals(fullWalk(3), walk(it.start(root, 4, 3, 0, FULL_4)));
        assertEquals(2, it.stepsDown());
        final List<String> rootOnly = walk(it.start(root, 4, 4, 0, FULL_4));
        assertIterableEquals(fullWalk(4), rootOnly);
        assertEquals(512, rootOnly.size());
        assertEquals(0, it.stepsDown());
    }

    @Test
    void rangeFromTheLastEntryOfOneTableIntoTheNext()
    {
        assertIterableEquals(new Expect(1)
            .v(4, 0, 0, 'T').v(3, 0, 0, 'T').v(2, 0, 0, 'T')
            .v(1, 0x1ff, 511, 'L')
            .v(2, 0x200, 1, 'T')
            .v(1, 0x200, 0, 'L')
            .list, walk(it.start(root, 4, 1, 511, 513)));
        assertEquals(4, it.stepsDown());
    }

    @Test
    void rangeFromMidTableAcrossNonPresentIntoAHugeLeaf()
    {
        // 1600 = 0x640 is inside the 2M leaf at 0x600: the leaf is visited, not descended.
        assertIterableEquals(new Expect(1)
            .v(4, 0, 0, 'T').v(3, 0, 0, 'T')
            .v(2, 0x200, 1, 'T')
            .v(1, 0x203, 3, '-').v(1, 0x204, 4, '-').v(1, 0x205, 5, 'L').empty(1, 0x206, 1, 6, 511)
            .v(2, 0x400, 2, '-')
            .v(2, 0x600, 3, 'L')
            .list, walk(it.start(root, 4, 1, 515, 1600)));
        assertEquals(3, it.stepsDown());
    }

    @Test
    void rangeAcrossA1gLeafAndIntoTheNextRootEntry()
    {
        assertIterableEquals(new Expect(1)
            .v(4, 0, 0, 'T')
            .v(3, 0x80000, 2, 'L')
            .empty(3, 0xC0000, 0x40000, 3, 511)
            .v(4, 0x800_0000, 1, 'T')
            .v(3, 0x800_0000, 0, '-').v(3, 0x804_0000, 1, '-')
            .list, walk(it.start(root, 4, 1, 0x80005, 0x804_0001)));
        assertEquals(2, it.stepsDown());
    }

    @Test
    void hugeLeavesAreNotDescended()
    {
        final List<String> twoMeg = new Expect(1).v(4, 0, 0, 'T').v(3, 0, 0, 'T').v(2, 0x600, 3, 'L').list;
        assertIterableEquals(twoMeg, walk(it.start(root, 4, 1, 0x600, 0x800)));
        assertIterableEquals(twoMeg, walk(it.start(root, 4, 1, 0x610, 0x611)));
        assertIterableEquals(new Expect(1).v(4, 0, 0, 'T').v(3, 0x80000, 2, 'L').list,
            walk(it.start(root, 4, 1, 0x80000, 0xC0000)));
        assertEquals(1, it.stepsDown());
    }

    @Test
    void walkStopsWhenGfnReachesTheEnd()
    {
        assertIterableEquals(new Expect(1).v(4, 0, 0, 'T').v(3, 0, 0, 'T').v(2, 0, 0, 'T').v(1, 0, 0, 'L').list,
            walk(it.start(root, 4, 1, 0, 1)));
        // ends exactly at a table boundary: the level-2 entry at 0x200 is not visited
        final List<String> firstTable = walk(it.start(root, 4, 1, 0, 0x200));
        assertEquals(3 + 512, firstTable.size());
        assertEquals("1/0x1ff/511/L", firstTable.get(firstTable.size() - 1));
        assertFalse(it.valid());
        // an empty range at 0 visits nothing
        it.start(root, 4, 1, 0, 0);
        assertFalse(it.valid());
        // the last entry of the root
        assertIterableEquals(new Expect(1).v(4, 0xF_F800_0000L, 511, '-').list,
            walk(it.start(root, 4, 1, FULL_4 - 1, FULL_4)));
    }

    @Test
    void rootLevel5()
    {
        assertIterableEquals(new Expect(1)
            .v(5, 0, 0, 'T').v(4, 0, 0, 'T').v(3, 0, 0, 'T').v(2, 0, 0, 'T')
            .v(1, 0x1ff, 511, 'L')
            .v(2, 0x200, 1, 'T')
            .v(1, 0x200, 0, 'L')
            .list, walk(it.start(root5, 5, 1, 511, 513)));
        assertEquals(5, it.rootLevel());
        assertEquals(5, it.stepsDown());

        assertIterableEquals(new Expect(1)
            .v(5, 0x10_0000_0000L, 1, 'T').v(4, 0x10_0000_0000L, 0, 'T').v(3, 0x10_0000_0000L, 0, 'L')
            .list, walk(it.start(root5, 5, 1, FULL_4, FULL_4 + 0x40000)));

        // the whole 5-level structure: 2 + 510 root entries, the level-4 walk under entry 0, F and G
        final List<String> all = walk(it.start(root5, 5, 1, 0, 1L << 45));
        assertEquals(512 + 6 * 512 + 512 + 512, all.size());
        assertEquals("5/0x0/0/T", all.get(0));
        assertEquals("5/0x1000000000/1/T", all.get(1 + 6 * 512));
        assertEquals("5/0x1ff000000000/511/-", all.get(all.size() - 1));
        assertEquals(8, it.stepsDown());
        // min level 5 of a level-5 root: only the root's entries
        assertEquals(512, walk(it.start(root5, 5, 5, 0, 1L << 45)).size());
    }

    @Test
    void restartAfterYieldResumesAtTheLastGfnReached()
    {
        final List<String> full = fullWalk(1);
        final List<String> before = new ArrayList<>();
        for (it.start(root, 4, 1, 0, FULL_4); it.valid() && before.size() < full.size(); it.next())
        {
            before.add(visit(it));
            if (it.level() == 1 && it.gfn() == 0x205)
            {
                break;
            }
        }
        assertEquals(full.subList(0, before.size()), before);
        assertEquals(0x205, it.nextLastLevelGfn());
        assertTrue(it.madeProgressSinceYield());

        it.markYielded();
        it.next();
        assertTrue(it.valid());
        assertEquals(4, it.level(), "the restart begins at the root");
        assertEquals(0L, it.gfn());
        assertFalse(it.madeProgressSinceYield(), "nothing done since the restart");

        final List<String> after = walk(it);
        final List<String> expected = new Expect(1).v(4, 0, 0, 'T').v(3, 0, 0, 'T').v(2, 0x200, 1, 'T').list;
        expected.addAll(full.subList(before.size() - 1, full.size()));
        assertIterableEquals(expected, after, "back down to 0x205, then the rest of the walk, C not revisited");
    }

    @Test
    void restartAfterYieldSeesTablesRemovedDuringTheYield()
    {
        advanceTo(1, 0x205);
        assertEquals(d, it.sptepTable());
        // while the walker is out of its critical section, D is unlinked and freed
        final long dEntry = store.lvSpte(b, 1);
        assertEquals(dEntry, store.cmpxchgSpte(b, 1, dEntry, Spte.NONPRESENT));
        store.free(d);
        it.markYielded();
        it.next();
        final List<String> after = walk(it);
        assertIterableEquals(new Expect(1)
            .v(4, 0, 0, 'T').v(3, 0, 0, 'T').v(2, 0x200, 1, '-').v(2, 0x400, 2, '-').v(2, 0x600, 3, 'L').list,
            after.subList(0, 5));
        assertTrue(after.stream().noneMatch(s -> s.startsWith("1/")), "no 4K entry after 0x205 remains");
    }

    @Test
    void stepDownRereadsTheEntryAndNeverEntersAZappedTable()
    {
        advanceTo(2, 0x200);
        assertEquals(Spte.makeNonLeaf(d), it.oldSpte());
        final long downBefore = it.stepsDown();
        // another thread zaps the entry after the walker's snapshot, and the table goes away
        assertEquals(it.oldSpte(), store.cmpxchgSpte(b, 1, it.oldSpte(), Spte.NONPRESENT));
        store.free(d);

        it.next();
        assertEquals("2/0x400/2/-", visit(it), "the old child is skipped, the walk moves to the sibling");
        assertEquals(downBefore, it.stepsDown());
        final List<String> rest = walk(it);
        assertTrue(rest.stream().noneMatch(s -> s.startsWith("1/")), rest.toString());
    }

    @Test
    void stepDownFollowsTheCurrentEntryNotTheSnapshot()
    {
        advanceTo(2, 0x200);
        final long d2 = store.allocate();
        store.soSpte(d2, 7, Spte.makeLeaf(0x3007, 1, 0));
        assertEquals(it.oldSpte(), store.cmpxchgSpte(b, 1, it.oldSpte(), Spte.makeNonLeaf(d2)));
        store.free(d);

        it.next();
        assertEquals("1/0x200/0/-", visit(it));
        assertEquals(d2, it.sptepTable());
        assertEquals(d2, it.ptPath(1));
        final List<String> inD2 = walk(it).subList(0, 512);
        assertIterableEquals(new Expect(1).v(1, 0x200, 0, '-').empty(1, 0x201, 1, 1, 6).v(1, 0x207, 7, 'L').empty(1, 0x208, 1, 8, 511).list,
            inD2);
    }

    @Test
    void anEntryZappedAheadOfTheWalkerIsVisitedAsNonPresent()
    {
        advanceTo(1, 0x1ff);
        store.xchgSpte(b, 1, Spte.FROZEN);
        it.next();
        assertEquals("2/0x200/1/F", visit(it));
        assertEquals(Spte.FROZEN, it.oldSpte());
        it.next();
        assertEquals("2/0x400/2/-", visit(it), "a frozen entry is not descended");

        store.soSpte(b, 1, Spte.NONPRESENT);

        it.start(root, 4, 1, 0x200, 0x400);
        assertIterableEquals(new Expect(1).v(4, 0, 0, 'T').v(3, 0, 0, 'T').v(2, 0x200, 1, '-').list, walk(it));
    }

    @Test
    void walkingATableFreedUnderTheWalkerIsAUseAfterFree()
    {
        advanceTo(1, 0x205);
        store.free(d); // still linked: the bug RCU exists to prevent
        final UseAfterFreeException sideStep = assertThrows(UseAfterFreeException.class, it::next);
        assertEquals(d, sideStep.tablePfn());
        assertTrue(sideStep.getMessage().contains("0x" + Long.toHexString(d)), sideStep.getMessage());
    }

    @Test
    void walkingATableFreedAndReusedUnderTheWalkerIsAUseAfterFree()
    {
        advanceTo(1, 0x205);
        store.free(d);
        assertEquals(d, store.allocate(), "the same page comes back, live again, zeroed");
        final UseAfterFreeException reused = assertThrows(UseAfterFreeException.class, it::next);
        assertEquals(d, reused.tablePfn());
    }

    @Test
    void steppingDownIntoAFreedTableIsAUseAfterFree()
    {
        advanceTo(2, 0x200);
        store.free(d);
        final UseAfterFreeException down = assertThrows(UseAfterFreeException.class, it::next);
        assertEquals(d, down.tablePfn());
    }

    @Test
    void steppingUpIntoAParentFreedAndReusedIsAUseAfterFree()
    {
        advanceTo(1, 0x205);
        store.free(b);
        assertEquals(b, store.allocate(), "the parent's page comes back, live again, zeroed");
        // the rest of D is walked (the walker holds it), then the step up re-reads B
        final UseAfterFreeException up = assertThrows(UseAfterFreeException.class, () -> walk(it));
        assertEquals(b, up.tablePfn());
    }

    @Test
    void restartingIntoARootFreedAndReusedDuringTheYieldIsAUseAfterFree()
    {
        advanceTo(1, 0x205);
        it.markYielded();
        store.soSpte(root5, 0, Spte.NONPRESENT);
        store.free(root);
        assertEquals(root, store.allocate());
        final UseAfterFreeException restart = assertThrows(UseAfterFreeException.class, it::next,
            "the restart's first read of the root must catch it");
        assertEquals(root, restart.tablePfn());
    }

    @Test
    void startingAtAFreedRootIsAUseAfterFree()
    {
        store.soSpte(root5, 0, Spte.NONPRESENT);
        store.free(root);
        final UseAfterFreeException e = assertThrows(UseAfterFreeException.class,
            () -> it.start(root, 4, 1, 0, FULL_4));
        assertEquals(root, e.tablePfn());
    }

    @Test
    void accessorsDescribeTheCurrentEntry()
    {
        advanceTo(1, 0x205);
        assertEquals(1, it.level());
        assertEquals(4, it.rootLevel());
        assertEquals(1, it.minLevel());
        assertEquals(d, it.sptepTable());
        assertEquals(5, it.sptepIndex());
        assertEquals(store.generation(d), it.sptepGeneration());
        assertEquals(d, it.ptPath(1));
        assertEquals(b, it.ptPath(2));
        assertEquals(a, it.ptPath(3));
        assertEquals(root, it.ptPath(4));
        assertEquals(Spte.makeLeaf(0x2005, 1, Spte.LEAF_WRITABLE), it.oldSpte());

        // a caller's cmpxchg through the iterator's sptep, then a re-read
        final long old = it.oldSpte();
        assertEquals(old, store.cmpxchgSpte(it.sptepTable(), it.sptepIndex(), old, Spte.FROZEN));
        assertEquals(old, it.oldSpte(), "the snapshot is not refreshed by itself");
        assertEquals(Spte.FROZEN, it.reread());
        assertEquals(Spte.FROZEN, it.oldSpte());
        it.refreshOldSpte(0x1234L);
        assertEquals(0x1234L, it.oldSpte());
    }

    @Test
    void oneIteratorServesManyWalks()
    {
        assertSame(it, it.start(root, 4, 1, 0, FULL_4));
        walk(it);
        assertEquals(5, it.stepsDown());
        assertEquals(6, walk(it.start(root, 4, 1, 511, 513)).size());
        assertEquals(4, it.stepsDown(), "stepsDown restarts at every start");
        assertIterableEquals(fullWalk(1), walk(it.start(root, 4, 1, 0, FULL_4)));
    }

    @Test
    void argumentErrors()
    {
        assertBadArgument("root level 3", () -> it.start(root, 3, 1, 0, 1));
        assertBadArgument("root level 6", () -> it.start(root, 6, 1, 0, 1));
        assertBadArgument("min level 0", () -> it.start(root, 4, 0, 0, 1));
        assertBadArgument("min level 5", () -> it.start(root, 4, 5, 0, 1));
        assertBadArgument("0xffffffffffffffff", () -> it.start(root, 4, 1, -1, 1));
        assertBadArgument("0x1000000001", () -> it.start(root, 4, 1, 0, FULL_4 + 1));
        assertBadArgument("0x200000000001", () -> it.start(root5, 5, 1, 0, (1L << 45) + 1));
        assertBadArgument("[0xa, 0x5)", () -> it.start(root, 4, 1, 10, 5));
        assertBadArgument("0x123", () -> it.start(0x123, 4, 1, 0, 1));
    }

    private void advanceTo(final int level, final long gfn)
    {
        int steps = 0;
        for (it.start(root, 4, 1, 0, FULL_4); it.valid() && steps++ < 10 * 512; it.next())
        {
            if (it.level() == level && it.gfn() == gfn)
            {
                return;
            }
        }
        throw new AssertionError("walk never reached level " + level + " gfn 0x" + Long.toHexString(gfn));
    }

    private List<String> walk(final TdpIter iter)
    {
        final List<String> visits = new ArrayList<>();
        for (; iter.valid(); iter.next())
        {
            visits.add(visit(iter));
            if (visits.size() > 10 * 512)
            {
                throw new AssertionError("runaway walk, last visits " + visits.subList(visits.size() - 5, visits.size()));
            }
        }
        return visits;
    }

    /** Records the current entry and checks the iterator's own view of it is consistent. */
    private String visit(final TdpIter iter)
    {
        assertTrue(iter.valid());
        final int level = iter.level();
        assertEquals(Spte.index(iter.gfn(), level), iter.sptepIndex(), "index of the gfn at its level");
        assertEquals(Spte.roundGfn(iter.gfn(), level), iter.gfn(), "gfn aligned to its level");
        assertEquals(iter.ptPath(level), iter.sptepTable());
        assertEquals(store.lvSpte(iter.sptepTable(), iter.sptepIndex()), iter.oldSpte(), "snapshot matches memory");
        return fmt(level, iter.gfn(), iter.sptepIndex(), kind(iter.oldSpte(), level));
    }

    private static char kind(final long spte, final int level)
    {
        if (Spte.isFrozen(spte))
        {
            return 'F';
        }
        if (!Spte.isPresent(spte))
        {
            return '-';
        }
        return Spte.isLastAtLevel(spte, level) ? 'L' : 'T';
    }

    private static String fmt(final int level, final long gfn, final int index, final char kind)
    {
        return level + "/0x" + Long.toHexString(gfn) + "/" + index + "/" + kind;
    }

    private static void assertBadArgument(final String mustMention, final Executable call)
    {
        final IllegalArgumentException ex = assertThrows(IllegalArgumentException.class, call);
        assertTrue(ex.getMessage().contains(mustMention), "'" + ex.getMessage() + "' should mention " + mustMention);
    }

    /** Builds an expected visit list by hand; entries below minLevel are left out. */
    private static final class Expect
    {
        final List<String> list = new ArrayList<>();
        final int minLevel;

        Expect(final int minLevel)
        {
            this.minLevel = minLevel;
        }

        Expect v(final int level, final long gfn, final int index, final char kind)
        {
            if (level >= minLevel)
            {
                list.add(fmt(level, gfn, index, kind));
            }
            return this;
        }

        /** Non-present entries firstIndex..lastIndex, gfns from firstGfn, step apart. */
        Expect empty(final int level, final long firstGfn, final long step, final int firstIndex, final int lastIndex)
        {
            for (int i = firstIndex; i <= lastIndex; i++)
            {
                v(level, firstGfn + (i - firstIndex) * step, i, '-');
            }
            return this;
        }
    }
}
