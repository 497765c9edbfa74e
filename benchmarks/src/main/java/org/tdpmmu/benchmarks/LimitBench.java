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
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class LimitBench
{
    private long[] page;
    private long[] bitmap;
    private long[] tablesAndBitmap;
    private long value;

    @Setup(Level.Trial)
    public void setUp()
    {
        page = filled(512);
        bitmap = filled(4096);
        tablesAndBitmap = filled(512 * 512 + 4096);
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
}
