package org.tdpmmu.stress;

import java.util.EnumSet;
import java.util.Locale;
import java.util.Set;

import org.tdpmmu.core.KernelRelease;
import org.tdpmmu.core.SeededBug;
import org.tdpmmu.core.Vm;
import org.tdpmmu.core.VmConfig;

/**
 * Builds the tiny VMs the race tests run on, with the seeded bugs named by the system property
 * {@value #PROPERTY} (comma-separated {@link SeededBug} names) turned on. The property is read only
 * here, in the jcstress-tests module: the public CLI cannot reach it.
 *
 * <p>Footprint of one VM (a jcstress run keeps thousands alive): the page-table store allocates its
 * whole capacity as one direct chunk on the root's allocation ({@value #TABLES} pages, 96 KiB), host
 * memory one chunk of {@code frames} content words plus live bits (8 B + 1 bit per frame), each
 * memslot a dirty bitmap (1 bit per page); on the heap, {@value #TLB_ENTRIES}-entry TLBs per vCPU
 * and two padded vCPU request records. About 105 KiB per state with the default 1,024 frames.
 */
public final class StressVm
{
    /** System property naming the seeded bugs to turn on (seeded-bug check only). */
    public static final String PROPERTY = "tdpmmu.seededBugs";
    /** Page-table pages per VM: root + one 4-level chain + a second L1 table + two vCPU caches of 4 + slack. */
    public static final int TABLES = 24;
    /** Default host frames: a 1,024-page slot of 4 KiB pages, or a 2 MiB page plus its migration target. */
    public static final long FRAMES = 1024 + 512;
    public static final int TLB_ENTRIES = 8;
    public static final int VCPUS = 2;
    /**
     * The kernel preset of every VM the races build ({@link KernelRelease#fromEnvironment}: the
     * property {@value KernelRelease#PROPERTY}, else {@code TDPMMU_KERNEL}, else the newest release).
     * An environment variable reaches jcstress's forked JVMs without touching its command line.
     * A race that needs a switch of its own (lockless aging, eager splitting) still sets it after
     * the preset.
     */
    public static final KernelRelease KERNEL = KernelRelease.fromEnvironment();

    private static final Set<SeededBug> BUGS = parse(System.getProperty(PROPERTY, ""));
    /** Set by the model checker (mmu-explore), which runs every bug in one JVM; null: {@link #BUGS}. */
    private static volatile Set<SeededBug> override;

    private StressVm()
    {
    }

    /** A VM with the default footprint and the seeded bugs of {@value #PROPERTY}. */
    public static Vm create()
    {
        return new Vm(config(seededBugs()));
    }

    /**
     * A VM with {@code tables} page-table pages and the seeded bugs of {@value #PROPERTY}. Only for
     * races that need more than {@value #TABLES} (eager splitting tops its cache up to
     * 64 tables at once): each page costs 4 KiB of direct memory per state.
     */
    public static Vm create(final int tables)
    {
        return new Vm(config(tables, FRAMES, seededBugs()));
    }

    /** The configuration the tests use, with an explicit set of seeded bugs (JUnit latch tests). */
    public static VmConfig config(final Set<SeededBug> bugs)
    {
        return config(TABLES, FRAMES, bugs);
    }

    static VmConfig config(final int tables, final long frames, final Set<SeededBug> bugs)
    {
        return KERNEL.apply(VmConfig.small())
            .withTableCapacity(tables)
            .withMaxVcpus(VCPUS)
            .withTlbEntries(TLB_ENTRIES)
            .withRcuReclaimer(false)
            .withHostFrameLimit(frames)
            .withSeededBugs(bugs);
    }

    /** The seeded bugs of the VMs created now: this JVM's {@value #PROPERTY}, or the override. */
    public static Set<SeededBug> seededBugs()
    {
        final Set<SeededBug> o = override;
        return o != null ? o : BUGS;
    }

    /**
     * For the model checker only (mmu-explore runs every seeded bug in one JVM): the seeded bugs of
     * the VMs created from now on, in place of {@value #PROPERTY}; null goes back to the property.
     */
    public static void overrideSeededBugs(final Set<SeededBug> bugs)
    {
        override = bugs == null ? null : bugs.isEmpty() ? EnumSet.noneOf(SeededBug.class) : EnumSet.copyOf(bugs);
    }

    /** Parses a comma-separated list of {@link SeededBug} names (the {@value #PROPERTY} syntax). */
    public static Set<SeededBug> parseSeededBugs(final String value)
    {
        return parse(value);
    }

    static Set<SeededBug> parse(final String value)
    {
        final Set<SeededBug> bugs = EnumSet.noneOf(SeededBug.class);
        for (final String name : value.split(","))
        {
            final String n = name.trim().toUpperCase(Locale.ROOT);
            if (n.isEmpty())
            {
                continue;
            }
            try
            {
                bugs.add(SeededBug.valueOf(n));
            }
            catch (final IllegalArgumentException ex)
            {
                throw new IllegalArgumentException("-D" + PROPERTY + ": \"" + name + "\" is not a SeededBug; one of " +
                    EnumSet.allOf(SeededBug.class), ex);
            }
        }
        return bugs;
    }
}
