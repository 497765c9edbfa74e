package org.tdpmmu.explore;

import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.tdpmmu.core.PageTableStore;
import org.tdpmmu.core.Spte;
import org.tdpmmu.core.Vm;

/**
 * Lincheck's failing interleaving retold in the MMU's terms. Lincheck's detailed trace (one column
 * per thread, every event in schedule order) names each accessor call with its arguments and
 * result, e.g. {@code store.cmpxchgSpte(68719476736, 0, 0, 281474976729351): 0 at
 * TdpMmu.trySet(TdpMmu.java:396)}; this keeps the steps on simulated memory (the SPTE accessors, the
 * host frames' words, the dirty bitmap), and for an SPTE adds the table's level, the entry's gfn
 * and the entry before and after as {@link Spte#describe} prints them. Levels and gfns come from
 * the tables that existed when the traced schedule's state was built (walked from the root then)
 * plus every table a traced step links.
 */
final class MmuTrace
{
    private static final Pattern CALL = Pattern.compile(
        "(\\w+)\\.(lvSpte|soSpte|cmpxchgSpte|xchgSpte|fillSplitChildren|clearLeafBitsMasked|lvContent|soContent|" +
        "setBit|xchgWord|fetchAndClear|lvBit|lvWord|copyTo)\\(([^)]*)\\)(?:: (\\S+))? at (\\S+)");
    private static final int COLLAPSE = 6;

    /** Table pfn -> {level, base gfn} of the last state built (the traced schedule's is built last). */
    private static volatile Map<Long, long[]> initialTables = Map.of();
    private static volatile long rootPfn = -1;

    private MmuTrace()
    {
    }

    static void reset()
    {
        initialTables = Map.of();
        rootPfn = -1;
    }

    /** Records the page tables of a freshly built race state (its {@link Vm} field). */
    static void constructed(final Object state)
    {
        final Vm vm = vmOf(state);
        if (vm == null)
        {
            return;
        }
        final Map<Long, long[]> tables = new HashMap<>();
        final long root = vm.mmu().rootPfn();
        walk(vm.store(), root, vm.mmu().rootLevel(), 0, tables);
        initialTables = tables;
        rootPfn = root;
    }

    private static void walk(final PageTableStore store, final long table, final int level, final long base,
        final Map<Long, long[]> tables)
    {
        tables.put(table, new long[] {level, base});
        if (level == Spte.PG_LEVEL_4K)
        {
            return;
        }
        for (int i = 0; i < Spte.ENTRIES_PER_TABLE; i++)
        {
            final long spte = store.lvSpte(table, i);
            if (Spte.isPresent(spte) && !Spte.isLastAtLevel(spte, level))
            {
                walk(store, Spte.pfn(spte), level - 1, base + i * Spte.pagesPerLevel(level), tables);
            }
        }
    }

    private static Vm vmOf(final Object state)
    {
        for (Class<?> c = state.getClass(); c != null; c = c.getSuperclass())
        {
            for (final Field f : c.getDeclaredFields())
            {
                if (f.getType() == Vm.class)
                {
                    try
                    {
                        f.setAccessible(true);
                        return (Vm)f.get(state);
                    }
                    catch (final IllegalAccessException ex)
                    {
                        return null;
                    }
                }
            }
        }
        return null;
    }

    /** Lincheck's report with the MMU's trace of its interleaving in front. */
    static String annotate(final String report, final Race race)
    {
        final String detailed = section(report, "Detailed trace:");
        if (detailed == null)
        {
            return report;
        }
        final List<String> steps = steps(detailed, race);
        final StringBuilder out = new StringBuilder();
        out.append("MMU trace of the failing schedule (simulated-memory steps in schedule order; ");
        for (int i = 0; i < race.actorCount(); i++)
        {
            out.append(i == 0 ? "" : ", ").append('T').append(i + 1).append(" = ").append(race.actorName(i));
        }
        out.append(", the arbiter runs after all of them):\n");
        for (final String s : steps)
        {
            out.append("  ").append(s).append('\n');
        }
        out.append("\nLincheck's report:\n").append(report);
        return out.toString();
    }

    private static String section(final String report, final String title)
    {
        final int at = report.indexOf(title);
        return at < 0 ? null : report.substring(at + title.length());
    }

    private static List<String> steps(final String detailed, final Race race)
    {
        final Map<Long, long[]> tables = new HashMap<>(initialTables);
        final List<String> steps = new ArrayList<>();
        int lastThread = -1;
        String lastKey = null;
        int run = 0;
        int step = 0;
        boolean post = false;
        for (final String line : detailed.split("\n"))
        {
            if (!line.startsWith("|"))
            {
                if (!steps.isEmpty() && line.isBlank())
                {
                    break;
                }
                continue;
            }
            if (line.startsWith("| ---") && step > 0)
            {
                // Lincheck's separator after the parallel part: what follows is the arbiter.
                post = true;
                continue;
            }
            final String[] cols = line.split("\\|", -1);
            for (int c = 1; c < cols.length - 1; c++)
            {
                final String cell = cols[c].trim();
                if (cell.isEmpty())
                {
                    continue;
                }
                final int thread = c - 1;
                final String who = post ? "arb" : "T" + (thread + 1);
                if (cell.startsWith("switch"))
                {
                    steps.add("-- " + who + " " + cell);
                    lastKey = null;
                    continue;
                }
                final Matcher m = CALL.matcher(cell);
                if (!m.find())
                {
                    continue;
                }
                final String accessor = m.group(2);
                final long[] args = parseArgs(m.group(3));
                final Long result = parseLong(m.group(4));
                final String key = who + accessor + (args.length > 0 ? args[0] : "");
                step++;
                if (key.equals(lastKey) && thread == lastThread)
                {
                    run++;
                    if (run > COLLAPSE)
                    {
                        if (run == COLLAPSE + 1)
                        {
                            steps.add(String.format("%5s %-4s ... more %s on the same table/word", "", who, accessor));
                        }
                        learnLink(tables, accessor, args, result);
                        continue;
                    }
                }
                else
                {
                    run = 1;
                }
                lastKey = key;
                lastThread = thread;
                steps.add(String.format("%5d %-4s %-18s %s   at %s", step, who, accessor,
                    describe(tables, accessor, args, result), m.group(5)));
                learnLink(tables, accessor, args, result);
            }
        }
        return steps;
    }

    /** A store of a present non-leaf entry links a child table one level down. */
    private static void learnLink(final Map<Long, long[]> tables, final String accessor, final long[] args, final Long result)
    {
        final long after = after(accessor, args, result);
        if (after == Long.MIN_VALUE || args.length < 2)
        {
            return;
        }
        final long[] where = tables.get(args[0]);
        if (where == null || where[0] <= Spte.PG_LEVEL_4K)
        {
            return;
        }
        final int level = (int)where[0];
        if (Spte.isPresent(after) && !Spte.isLastAtLevel(after, level))
        {
            tables.put(Spte.pfn(after), new long[] {level - 1, where[1] + args[1] * Spte.pagesPerLevel(level)});
        }
    }

    /** The entry's value after an SPTE write step, or Long.MIN_VALUE if the step writes no single entry. */
    private static long after(final String accessor, final long[] a, final Long result)
    {
        switch (accessor)
        {
            case "soSpte":
                return a.length == 3 ? a[2] : Long.MIN_VALUE;
            case "xchgSpte":
                return a.length == 3 ? a[2] : Long.MIN_VALUE;
            case "cmpxchgSpte":
                return a.length == 4 && result != null ? (result == a[2] ? a[3] : result) : Long.MIN_VALUE;
            default:
                return Long.MIN_VALUE;
        }
    }

    private static String describe(final Map<Long, long[]> tables, final String accessor, final long[] a, final Long result)
    {
        final boolean spte = accessor.endsWith("Spte") || accessor.equals("fillSplitChildren") ||
            accessor.equals("clearLeafBitsMasked");
        if (!spte || a.length == 0)
        {
            return "(" + join(a) + ")" + (result == null ? "" : " = " + result);
        }
        final long[] where = tables.get(a[0]);
        final int level = where == null ? 0 : (int)where[0];
        final String table = "table " + (rootPfn == a[0] ? "root" : "0x" + Long.toHexString(a[0] - PageTableStore.PFN_BASE)) +
            (where == null ? " (level ?)" : " L" + level);
        if (accessor.equals("fillSplitChildren") && a.length == 3)
        {
            return table + " <- 512 children of " + Spte.describe(a[1], (int)a[2]);
        }
        if (accessor.equals("clearLeafBitsMasked") && a.length == 4)
        {
            return table + " [" + a[1] + "..] mask 0x" + Long.toHexString(a[2]) + " clear 0x" + Long.toHexString(a[3]);
        }
        final int index = (int)(accessor.equals("lvSpte") && a.length == 3 ? a[2] : a.length > 1 ? a[1] : -1);
        final String entry = table + " [" + index + "]" +
            (where == null ? "" : " gfn 0x" + Long.toHexString(where[1] + index * Spte.pagesPerLevel(level)));
        final long after = after(accessor, a, result);
        switch (accessor)
        {
            case "lvSpte":
                return entry + " read " + (result == null ? "?" : Spte.describe(result, level));
            case "soSpte":
                return entry + " store -> " + Spte.describe(after, level);
            case "xchgSpte":
                return entry + " " + (result == null ? "?" : Spte.describe(result, level)) + " -> " + Spte.describe(after, level);
            case "cmpxchgSpte":
                return entry + " " + (result == null ? "?" : Spte.describe(result, level)) + " -> " +
                    (result != null && result == a[2] ? Spte.describe(after, level) : "unchanged (expected " +
                    Spte.describe(a[2], level) + ")");
            default:
                return entry;
        }
    }

    private static long[] parseArgs(final String text)
    {
        if (text == null || text.isBlank())
        {
            return new long[0];
        }
        final String[] parts = text.split(",");
        final long[] out = new long[parts.length];
        for (int i = 0; i < parts.length; i++)
        {
            final Long v = parseLong(parts[i].trim());
            out[i] = v == null ? Long.MIN_VALUE : v;
        }
        return out;
    }

    private static Long parseLong(final String text)
    {
        if (text == null)
        {
            return null;
        }
        try
        {
            return Long.parseLong(text.trim());
        }
        catch (final NumberFormatException ex)
        {
            return null;
        }
    }

    private static String join(final long[] a)
    {
        final StringBuilder b = new StringBuilder();
        for (int i = 0; i < a.length; i++)
        {
            b.append(i == 0 ? "" : ", ").append(a[i] == Long.MIN_VALUE ? "?" : Long.toString(a[i]));
        }
        return b.toString();
    }
}
