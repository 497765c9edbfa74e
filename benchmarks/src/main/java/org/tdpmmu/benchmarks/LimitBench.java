package org.tdpmmu.benchmarks;

import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * The sweep limits: a sequential pass over the same number of bytes the MMU sweeps touch, on a
 * plain long array (reads summed so the JIT cannot drop them; writes of a value that depends on
 * the index, as a split's child SPTEs do).
 * <ul>
 *   <li>4 KiB: one page table, what splitting or promoting one 2 MiB page reads or writes.</li>
 *   <li>32 KiB: the dirty bitmap of 1 GiB.</li>
 *   <li>2 MiB + 32 KiB: the leaf SPTEs of 1 GiB and its bitmap, what a re-protecting harvest touches.</li>
 * </ul>
 * Beside them, not a target's limit but the floor of one: {@link #sweepTestStore2MiB}, the
 * re-protecting harvest's per-entry work alone (read, test the bits, store) over 2 MiB.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class LimitBench
{
    /** The leaf SPTEs of 1 GiB: 512 tables of 512 entries. */
    private static final int TABLE_LONGS = 512 * 512;

    private long[] page;
    private long[] bitmap;
    private long[] tablesAndBitmap;
    private long value;

    @Setup(Level.Trial)
    public void setUp()
    {
        page = filled(512);
        bitmap = filled(4096);
        tablesAndBitmap = filled(TABLE_LONGS + 4096);
        for (int i = 0; i < TABLE_LONGS; i++)
        {
            tablesAndBitmap[i] |= WRITTEN;
        }
    }

    private static long[] filled(final int longs)
    {
        final long[] a = new long[longs];
        for (int i = 0; i < a.length; i++)
        {
            a[i] = i * 0x9E3779B97F4A7C15L;
        }
        return a;
    }

    private static long sum(final long[] a)
    {
        long s = 0;
        for (int i = 0; i < a.length; i++)
        {
            s += a[i];
        }
        return s;
    }

    @Benchmark
    public long sweepRead4KiB()
    {
        return sum(page);
    }

    @Benchmark
    public long[] sweepWrite4KiB()
    {
        final long[] a = page;
        final long v = value++ << 12;
        for (int i = 0; i < a.length; i++)
        {
            a[i] = v + ((long)i << 12);
        }
        return a;
    }

    @Benchmark
    public long sweepRead32KiB()
    {
        return sum(bitmap);
    }

    @Benchmark
    public long sweepRead2MiBPlus32KiB()
    {
        return sum(tablesAndBitmap);
    }

    /** W, A, D and a present bit in the layout the SPTEs use: the pattern the harvest's one test looks for. */
    private static final long WRITTEN = (1L << 11) | (1L << 9) | (1L << 8) | (1L << 1);

    /**
     * The re-protecting harvest's per-entry work with nothing else: each of the 2 MiB of longs is
     * read, tested against the written-leaf pattern and stored with bit 1 (W) toggled, so every
     * invocation stores every entry, as every harvest of an all-dirty 1 GiB does.
     */
    @Benchmark
    public long[] sweepTestStore2MiB()
    {
        final long[] a = tablesAndBitmap;
        for (int i = 0; i < TABLE_LONGS; i++)
        {
            final long v = a[i];
            a[i] = (v & WRITTEN) == WRITTEN ? v & ~2L : v | 2L;
        }
        return a;
    }
}
