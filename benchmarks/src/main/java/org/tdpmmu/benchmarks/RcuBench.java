package org.tdpmmu.benchmarks;

import java.lang.invoke.VarHandle;
import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.tdpmmu.concurrency.Rcu;

/**
 * The RCU read side: one outermost rcu_read_lock / rcu_read_unlock pair. Its limit is the one
 * full fence the entry needs (the reader's half of the Dekker pairing with the grace-period scan).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class RcuBench
{
    private Rcu rcu;

    @Setup(Level.Trial)
    public void setUp()
    {
        rcu = new Rcu();
        rcu.readLock();
        rcu.readUnlock();
    }

    @TearDown(Level.Trial)
    public void tearDown()
    {
        rcu.close();
    }

    @Benchmark
    public void readLockUnlock()
    {
        rcu.readLock();
        rcu.readUnlock();
    }

    /** The limit: one seq-cst fence. */
    @Benchmark
    public void limitFullFence()
    {
        VarHandle.fullFence();
    }
}
