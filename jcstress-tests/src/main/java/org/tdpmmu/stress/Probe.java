package org.tdpmmu.stress;

import java.util.concurrent.atomic.AtomicInteger;

import org.tdpmmu.core.DirtyLogging;
import org.tdpmmu.core.HugePageRecovery;
import org.tdpmmu.core.Memslot;
import org.tdpmmu.core.MmuBugException;
import org.tdpmmu.core.PageTableStore;
import org.tdpmmu.core.SafetyChecks;
import org.tdpmmu.core.Spte;
import org.tdpmmu.core.StaleTranslationException;
import org.tdpmmu.core.TdpIter;
import org.tdpmmu.core.TdpMmu;
import org.tdpmmu.core.UseAfterFreeException;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;

/**
 * What the race tests look at, and the names their outcomes use. Every check here reads the
 * simulated memory only through the store's and host's accessors.
 *
 * <p>Outcome words shared by the tests (each test's {@code @Outcome}s say which it may produce):
 * {@value #USE_AFTER_FREE}, {@value #STALE_TRANSLATION}, {@value #MMU_BUG}, {@value #ASSERTION},
 * {@value #LEAK}, {@value #STALE_PFN}, {@value #LOST_WRITE}, {@value #LOST_DIRTY}, and
 * {@code error-<Class>} for anything unexpected.
 */
public final class Probe
{
    /** A page-table page was read or written after it was freed ({@link UseAfterFreeException}). */
    public static final String USE_AFTER_FREE = "use-after-free";
    /** A guest access reached a freed host frame ({@link StaleTranslationException}). */
    public static final String STALE_TRANSLATION = "stale-translation";
    /** The MMU reached a state the kernel treats as a bug ({@link MmuBugException}). */
    public static final String MMU_BUG = "mmu-bug";
    /** An {@code assert} inside the MMU failed (tests run with -ea). */
    public static final String ASSERTION = "assertion";
    /** After teardown and an RCU barrier, page-table pages were still allocated. */
    public static final String LEAK = "leak";
    /** An SPTE maps a host pfn the gfn is no longer backed by. */
    public static final String STALE_PFN = "stale-pfn";
    /** The value a vCPU wrote is not in the host frame the gfn maps to. */
    public static final String LOST_WRITE = "lost-write";
    /** A page written while dirty logging was on is in no harvest. */
    public static final String LOST_DIRTY = "lost-dirty";
    /** Safety property 7: a harvest reports a page not written since it was last reported. */
    public static final String EXTRA_DIRTY = "extra-dirty";

    /** Disables dirty logging without recovering huge pages: sets up the promotion races. */
    public static final HugePageRecovery NO_RECOVERY = new HugePageRecovery()
    {
        @Override
        public String name()
        {
            return "none";
        }

        @Override
        public void recover(final TdpMmu mmu, final Memslot slot)
        {
        }
    };

    private static final AtomicInteger UNEXPECTED_REPORTED = new AtomicInteger();

    private Probe()
    {
    }

    /**
     * One guest write by an actor's vCPU, which then leaves guest mode (so a flush never waits on
     * an actor that has finished).
     *
     * @return null if the write completed, else the outcome word of what it threw ({@link #classify}).
     */
    public static String guestWrite(final Vcpu vcpu, final long gfn, final long value)
    {
        try
        {
            vcpu.write(gfn, value);
            return null;
        }
        catch (final Throwable t)
        {
            return classify(t);
        }
        finally
        {
            vcpu.exitGuest();
        }
    }

    /**
     * Zaps the entry at {@code level} over {@code gfn} with the MMU's atomic zap, then runs the RCU
     * callbacks whose grace period has ended, where a reclaimer thread would free the tables.
     *
     * @return null if both completed, else the outcome word of what was thrown ({@link #classify}).
     */
    public static String zapAndReclaim(final Vm vm, final long gfn, final int level)
    {
        try
        {
            zapAtomic(vm, gfn, level);
            vm.rcu().tryReclaim();
            return null;
        }
        catch (final Throwable t)
        {
            return classify(t);
        }
    }

    /**
     * The outcome word for an exception an actor or arbiter caught. Unexpected kinds are printed
     * (the first few per JVM) so the jcstress report shows where they came from.
     */
    public static String classify(final Throwable t)
    {
        if (t instanceof UseAfterFreeException)
        {
            return USE_AFTER_FREE;
        }
        if (t instanceof StaleTranslationException)
        {
            return STALE_TRANSLATION;
        }
        if (t instanceof MmuBugException)
        {
            return MMU_BUG;
        }
        if (t instanceof AssertionError)
        {
            return ASSERTION;
        }
        if (UNEXPECTED_REPORTED.getAndIncrement() < 3)
        {
            t.printStackTrace(System.out);
        }
        return "error-" + t.getClass().getSimpleName();
    }

    /** Runs an actor's step: null if it returned, else its exception {@linkplain #classify classified}. */
    public static String failureOf(final Runnable step)
    {
        try
        {
            step.run();
            return null;
        }
        catch (final Throwable t)
        {
            return classify(t);
        }
    }

    /**
     * The arbiter's usual verdict: the first actor's failure, else the second's, else what
     * {@code checks} finds (an exception there classified).
     */
    public static String outcome(final String failure0, final String failure1, final java.util.function.Supplier<String> checks)
    {
        if (failure0 != null)
        {
            return failure0;
        }
        if (failure1 != null)
        {
            return failure1;
        }
        try
        {
            return checks.get();
        }
        catch (final Throwable t)
        {
            return classify(t);
        }
    }

    /**
     * The entry that translates {@code gfn} now: the leaf, or the first non-present (or frozen)
     * entry on the way down. A lockless walk inside an RCU read-side section, as hardware walks.
     */
    public static long entryFor(final Vm vm, final long gfn)
    {
        return entry(vm, gfn)[0];
    }

    /** Level of {@link #entryFor}'s entry. */
    public static int levelFor(final Vm vm, final long gfn)
    {
        return (int)entry(vm, gfn)[1];
    }

    private static long[] entry(final Vm vm, final long gfn)
    {
        final TdpMmu mmu = vm.mmu();
        final PageTableStore store = vm.store();
        mmu.rcu().readLock();
        try
        {
            long table = mmu.rootPfn();
            for (int level = mmu.rootLevel(); level >= Spte.PG_LEVEL_4K; level--)
            {
                final long spte = store.lvSpte(table, Spte.index(gfn, level));
                if (!Spte.isPresent(spte) || Spte.isLastAtLevel(spte, level))
                {
                    return new long[] {spte, level};
                }
                table = Spte.pfn(spte);
            }
            throw new MmuBugException("walk of gfn 0x" + Long.toHexString(gfn) + " found no leaf");
        }
        finally
        {
            mmu.rcu().readUnlock();
        }
    }

    /** True if some present leaf translates {@code gfn}. */
    public static boolean mapped(final Vm vm, final long gfn)
    {
        return Spte.isPresent(entryFor(vm, gfn));
    }

    /** True if some present leaf larger than 4 KiB translates {@code gfn}. */
    public static boolean mappedHuge(final Vm vm, final long gfn)
    {
        final long[] e = entry(vm, gfn);
        return Spte.isPresent(e[0]) && e[1] > Spte.PG_LEVEL_4K;
    }

    /**
     * True if a present leaf translates {@code gfn} to another host frame than the one that backs it
     * now (safety property 5: no stale translation after an invalidation ends).
     */
    public static boolean stalePfn(final Vm vm, final Memslot slot, final long gfn)
    {
        final long[] e = entry(vm, gfn);
        if (!Spte.isPresent(e[0]))
        {
            return false;
        }
        final int level = (int)e[1];
        final long pfn = Spte.pfn(e[0]) + (gfn & (Spte.pagesPerLevel(level) - 1));
        return pfn != vm.host().resolvePfn(slot, gfn);
    }

    /** The content word of the frame that backs {@code gfn} now. */
    public static long content(final Vm vm, final Memslot slot, final long gfn)
    {
        return vm.host().contentOf(slot, gfn);
    }

    /**
     * Zaps the entry at {@code level} that covers {@code gfn} with the atomic zap (freeze, flush,
     * non-present, then handle_changed_spte), under the MMU lock held for read inside an RCU
     * section, as kvm_tdp_mmu_zap_collapsible_sptes / the huge-page recovery paths do. A non-leaf
     * entry takes its table through handleRemovedPt and call_rcu.
     *
     * @return true if this call zapped a present entry.
     */
    public static boolean zapAtomic(final Vm vm, final long gfn, final int level)
    {
        final TdpMmu mmu = vm.mmu();
        final TdpIter iter = new TdpIter(vm.store());
        mmu.lock().readLock();
        mmu.rcu().readLock();
        try
        {
            for (iter.start(mmu.rootPfn(), mmu.rootLevel(), level, gfn, gfn + 1); iter.valid(); iter.next())
            {
                if (iter.level() != level)
                {
                    continue;
                }
                // A frozen entry is not present: another thread owns it, nothing for us to zap.
                while (Spte.isPresent(iter.oldSpte()))
                {
                    if (mmu.zapSpteAtomic(iter))
                    {
                        return true;
                    }
                }
                return false;
            }
            return false;
        }
        finally
        {
            mmu.rcu().readUnlock();
            mmu.lock().readUnlock();
        }
    }

    /** Outcome word of a failed {@link SafetyChecks#roots} check. */
    public static final String ROOTS = "roots";

    /**
     * After an RCU barrier, {@link #ROOTS} if {@link SafetyChecks#roots} reports anything (a
     * reference left behind, an invalid root not empty, a vCPU on a freed root, a leak), else null.
     */
    public static String rootsBroken(final Vm vm)
    {
        vm.rcu().barrier();
        return SafetyChecks.roots(vm).isEmpty() ? null : ROOTS;
    }

    /**
     * Tears the VM down (zap all, free the root and the vCPU caches, RCU barrier) and returns the
     * page-table pages still allocated: anything but 0 is a leak (safety property 4).
     */
    public static long leakedAfterDestroy(final Vm vm)
    {
        vm.destroy();
        return vm.store().liveCount();
    }

    /** True if no bit but those of {@code allowed} is set in a get-dirty-log result (property 7). */
    public static boolean onlyDirty(final long[] bitmap, final long... allowed)
    {
        final long[] rest = bitmap.clone();
        for (final long page : allowed)
        {
            rest[(int)(page >>> 6)] &= ~(1L << (page & 63));
        }
        for (final long w : rest)
        {
            if (w != 0)
            {
                return false;
            }
        }
        return true;
    }

    /** True if bit {@code page} is set in a get-dirty-log result. */
    public static boolean dirty(final long[] bitmap, final long page)
    {
        return (bitmap[(int)(page >>> 6)] & (1L << (page & 63))) != 0;
    }

    /** One step of an actor, which may throw. */
    @FunctionalInterface
    public interface Step
    {
        void run() throws Exception;
    }

    /** The property check of an arbiter: its outcome word. */
    @FunctionalInterface
    public interface Check
    {
        String run() throws Exception;
    }

    /**
     * The shape every actor shares: runs {@code step}.
     *
     * @return null if it completed, else the outcome word of what it threw ({@link #classify}).
     */
    public static String attempt(final Step step)
    {
        try
        {
            step.run();
            return null;
        }
        catch (final Throwable t)
        {
            return classify(t);
        }
    }

    /**
     * The shape every arbiter shares: the first actor failure, in the order given (what an actor
     * threw decides the outcome, whatever state it left), else the word of {@code check}, or of
     * what the check threw.
     */
    public static String outcome(final Check check, final String... failures)
    {
        for (final String f : failures)
        {
            if (f != null)
            {
                return f;
            }
        }
        try
        {
            return check.run();
        }
        catch (final Throwable t)
        {
            return classify(t);
        }
    }

    /**
     * The outcome of a write racing a harvest (property: the write is in this harvest or the next):
     * {@code first} is the harvest the race ran, the next is taken here; then the written value, then
     * no leak after teardown.
     *
     * @return "first-harvest", "second-harvest", "both-harvests", or LOST_DIRTY, LOST_WRITE, LEAK.
     */
    public static String harvestedOnce(final Vm vm, final Memslot slot, final DirtyLogging log, final long[] first,
        final long gfn, final long value)
    {
        final boolean inFirst = dirty(first, gfn);
        final boolean inSecond = dirty(log.getDirtyLog(slot, false), gfn);
        if (content(vm, slot, gfn) != value)
        {
            return LOST_WRITE;
        }
        if (leakedAfterDestroy(vm) != 0)
        {
            return LEAK;
        }
        if (inFirst && inSecond)
        {
            return "both-harvests";
        }
        return inFirst ? "first-harvest" : inSecond ? "second-harvest" : LOST_DIRTY;
    }
}
