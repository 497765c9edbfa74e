package org.tdpmmu.scenarios.sim;

import com.sun.management.HotSpotDiagnosticMXBean;
import java.lang.management.ManagementFactory;
import java.util.Locale;
import java.util.Optional;
import org.HdrHistogram.Histogram;
import org.tdpmmu.core.DirtyBitmap;
import org.tdpmmu.core.DirtyRing;
import org.tdpmmu.scenarios.model.HostEvent;
import org.tdpmmu.scenarios.model.Phase;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.model.SlotConfig;
import org.tdpmmu.scenarios.model.Sizes;

/**
 * What a scenario will cost the mmu-core engine before anything is allocated: an upper bound on
 * the direct (off-heap) and heap memory it holds at its worst, and the work it does. The CLI refuses
 * a scenario whose estimate exceeds the JVM's limits ({@link #refusal}), and {@code check} prints it.
 *
 * <p>The bound is structural, not a guess at what a run touches: the page-table store is sized to
 * its capacity (every table {@link #tableCapacity} allows: twice what 4 KiB mappings of all of
 * guest memory need, and the vCPUs' caches), the host model to its frame limit
 * ({@link #hostFrameLimit}), and every step keeps a result and, when vCPUs run in it, a packed
 * fault-latency histogram ({@link #stepHistogramBytes}: the one figure that is typical rather than
 * strict). {@link ScenarioRun} sizes the VM with the same two functions, so the estimate and the
 * run cannot drift apart. All arithmetic saturates at {@link Long#MAX_VALUE}: no
 * size up to the 57-bit guest physical space can overflow it.
 *
 * <p>Decision on long runs: a scenario whose memory fits is never refused for its length; when its
 * work exceeds {@link #LONG_RUN_WORK} units (guest accesses plus SPTEs the MMU visits), the CLI
 * says so on stderr before starting ({@link #longRunNote}).
 */
public final class MemoryEstimate
{
    /** Heap the tool itself needs besides the scenario: the JVM's classes, picocli, Jackson, XChart. */
    public static final long BASE_HEAP = 64L << 20;
    /** Largest fault latency the histogram bound covers (68 s; a step waits 10 minutes at most). */
    public static final long HISTOGRAM_MAX_NANOS = 1L << 36;
    /** Work units (guest accesses + SPTE visits) above which a run is announced as long. */
    public static final long LONG_RUN_WORK = 1L << 29;
    /** Page-table pages in one direct chunk of the store ({@code PageTableStore.MAX_CHUNK_SHIFT}). */
    private static final long TABLE_CHUNK_PAGES = 1L << 13;
    /** Host frames in one direct chunk of the host model ({@code HostMemory.CHUNK_SHIFT}). */
    private static final long HOST_CHUNK_FRAMES = 1L << 20;
    /** Largest store capacity ({@code PageTableStore}: 2^30 pages). */
    private static final long MAX_TABLE_CAPACITY = 1L << 30;
    /** Heap per table of capacity: generation/live word and free link (12 B), pending RCU callback and batch slot (56 B). */
    private static final long HEAP_PER_TABLE = 12 + 56;
    /** Heap per step result beside its histogram: the counter map, the step, its name. */
    private static final long HEAP_PER_STEP = 4L << 10;
    /** Heap per vCPU beside its histogram: TLBs (3 x 128 entries), memory cache, thread, flyweights. */
    private static final long HEAP_PER_VCPU = 16L << 10;
    /** A vCPU's live latency histogram: a full one reaching {@link #HISTOGRAM_MAX_NANOS}. */
    private static final long HISTOGRAM_BYTES =
        new Histogram(1, HISTOGRAM_MAX_NANOS, 3).getEstimatedFootprintInBytes();
    /**
     * A step result's packed histogram holds only its non-zero counts: at most 1 KiB plus 16 bytes
     * per distinct latency bucket, and a step has no more distinct buckets than faults, which this
     * counts as four per guest access (retries), nor more than the 27,648 of a full histogram. This
     * is the one typical rather than strict figure: 2 million latencies spread over nine decades
     * take 41 KiB (measured), under the 48 KiB charged at most; a pathological spread over every
     * bucket could take the full {@link #HISTOGRAM_BYTES}, and charging that for every step would
     * refuse scenarios of many iterations that run in a tenth of it.
     */
    static long stepHistogramBytes(final long stepAccesses)
    {
        return Math.min(48L << 10, add(1L << 10, mul(16, mul(4, stepAccesses))));
    }

    /** Output held in memory per step result: JSON builds a tree and a string; the others a line. */
    public enum Output
    {
        TEXT(1L << 10), CSV(2L << 10), JSON(24L << 10);

        final long perStep;

        Output(final long perStep)
        {
            this.perStep = perStep;
        }
    }

    /** The JVM's limits: heap (-Xmx), direct memory (-XX:MaxDirectMemorySize), the machine's RAM (0: unknown). */
    public record Limits(long heapBytes, long directBytes, long physicalBytes)
    {
        /** This JVM's. */
        public static Limits current()
        {
            final long heap = Runtime.getRuntime().maxMemory();
            long direct = heap; // the JDK's default when MaxDirectMemorySize is not set
            try
            {
                final long v = Long.parseLong(ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class)
                    .getVMOption("MaxDirectMemorySize").getValue());
                if (v > 0)
                {
                    direct = v;
                }
            }
            catch (final RuntimeException e)
            {
                // not HotSpot: keep the default
            }
            long physical = 0;
            if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os)
            {
                physical = os.getTotalMemorySize();
            }
            return new Limits(heap, direct, physical);
        }
    }

    private final String name;
    private final int runs;
    private final long tableBytes;
    private final long hostBytes;
    private final long bitmapBytes;
    private final long vmHeapBytes;
    private final long resultHeapBytes;
    private final long steps;
    private final long accesses;
    private final long spteVisits;

    private MemoryEstimate(final String name, final int runs, final long tableBytes, final long hostBytes, final long bitmapBytes,
                           final long vmHeapBytes, final long resultHeapBytes, final long steps,
                           final long accesses, final long spteVisits)
    {
        this.name = name;
        this.runs = runs;
        this.tableBytes = tableBytes;
        this.hostBytes = hostBytes;
        this.bitmapBytes = bitmapBytes;
        this.vmHeapBytes = vmHeapBytes;
        this.resultHeapBytes = resultHeapBytes;
        this.steps = steps;
        this.accesses = accesses;
        this.spteVisits = spteVisits;
    }

    /**
     * The estimate for {@code runs} runs of {@code s} in one JVM, one after another (compare: 3),
     * whose results are all kept for {@code output}; {@code htmlReport} when {@code --report} is given.
     */
    public static MemoryEstimate of(final Scenario s, final int runs, final Output output, final boolean htmlReport)
    {
        final long pages = s.vm().totalPages();
        final long capacity = tableCapacity(s);
        final long frames = hostFrameLimit(s);
        // Direct: every chunk is allocated with its alignment on top (BufferUtil.allocateDirectAligned).
        final long tableChunks = ceilDiv(capacity, TABLE_CHUNK_PAGES);
        final long tables = add(mul(capacity, 4096), mul(tableChunks, 4096));
        final long hostChunks = ceilDiv(frames, HOST_CHUNK_FRAMES);
        final long host = add(add(mul(frames, 8), mul(add(ceilDiv(frames, 64), hostChunks), 8)), mul(hostChunks, 128));
        long bitmaps = 0;
        long hostBlocks = 0;
        for (final SlotConfig slot : s.vm().slots())
        {
            bitmaps = add(bitmaps, DirtyBitmap.reservedBytes(slot.pages()));
            hostBlocks = add(hostBlocks, ceilDiv(slot.pages(), hostPageFrames(slot)) + 2);
        }
        // The dirty rings (one per vCPU) are counted with the bitmaps: both are the dirty log.
        if (s.dirtyRingEntries() > 0)
        {
            bitmaps = add(bitmaps, mul(s.vm().vcpus(), DirtyRing.reservedBytes(s.dirtyRingEntries())));
        }
        // Heap of the VM: the store's per-table words and pending frees, the host's block maps,
        // one byte per page (last pass written) and four bits (written since harvest, the got
        // bitmaps, a harvest's copy, and slack), the vCPUs with their latency histograms.
        final int vcpus = s.vm().vcpus();
        long vmHeap = mul(capacity, HEAP_PER_TABLE);
        vmHeap = add(vmHeap, mul(hostBlocks, 8));
        vmHeap = add(vmHeap, add(pages, ceilDiv(pages, 2)));
        vmHeap = add(vmHeap, mul(vcpus, HEAP_PER_VCPU + HISTOGRAM_BYTES));

        long steps = 0;
        long vcpuSteps = 0;
        long accesses = 0;
        long visits = 0;
        final long perPass = mul(vcpus, s.vm().pagesPerVcpuPass());
        for (final Phase p : s.phases())
        {
            if (p instanceof Phase.DirtyPass d)
            {
                final long harvestSteps = Scenario.harvestSteps(d.harvest());
                steps = add(steps, mul(d.iterations(), 1 + harvestSteps));
                vcpuSteps = add(vcpuSteps, d.iterations());
                accesses = add(accesses, mul(d.iterations(), perPass));
                visits = add(visits, mul(mul(d.iterations(), harvestSteps), pages));
            }
            else if (p instanceof Phase.Harvest h)
            {
                final long harvestSteps = Scenario.harvestSteps(h.method());
                steps = add(steps, harvestSteps);
                visits = add(visits, mul(harvestSteps, pages));
            }
            else
            {
                steps = add(steps, 1);
                if (p instanceof Phase.Populate || p instanceof Phase.SecondPass || p instanceof Phase.MemslotChange)
                {
                    vcpuSteps = add(vcpuSteps, 1);
                    accesses = add(accesses, perPass);
                }
                else if (p instanceof Phase.DisableDirtyLogging dd)
                {
                    visits = add(visits, pages);
                    if (dd.vcpusRunning())
                    {
                        vcpuSteps = add(vcpuSteps, 1);
                        accesses = add(accesses, perPass);
                    }
                }
                else if (p instanceof Phase.EnableDirtyLogging || p instanceof Phase.Age || p instanceof Phase.Teardown)
                {
                    visits = add(visits, pages);
                }
            }
        }
        final long perStep = HEAP_PER_STEP + 8L * vcpus + output.perStep + (htmlReport ? 4L << 10 : 0);
        final long results = mul(runs, add(mul(steps, perStep), mul(vcpuSteps, stepHistogramBytes(perPass))));
        return new MemoryEstimate(s.name(), runs, tables, host, bitmaps, vmHeap, results, steps,
            mul(runs, accesses), mul(runs, visits));
    }

    /**
     * Page-table pages the run's store may hold at once: 4 KiB mappings of all guest memory, twice
     * over for splits and for frees awaiting an RCU grace period, plus slack for the upper levels,
     * plus what every vCPU's memory cache holds (a fault tops it up to one table per level; its
     * capacity is one more). The engine's {@code VmConfig.tableCapacity}. Without the caches, 511
     * vCPUs on 4 KiB each exhausted the store in populate.
     */
    public static long tableCapacity(final Scenario s)
    {
        final long pages = s.vm().totalPages();
        final long caches = (long)s.vm().vcpus() * (s.vm().rootLevel() + 1);
        final long tables = add(add(mul(2, pages / 512 + pages / (512 * 512) + 64), 1024), caches);
        return Math.min(MAX_TABLE_CAPACITY, tables);
    }

    /**
     * Host frames the run's host model may hand out: every slot's backing pages, widened by a host
     * page at each end, the frames one migration allocates before it frees the old ones, and one
     * more host page. The engine's {@code VmConfig.hostFrameLimit}.
     */
    public static long hostFrameLimit(final Scenario s)
    {
        long frames = 0;
        long biggest = 1;
        for (final SlotConfig slot : s.vm().slots())
        {
            final long unit = hostPageFrames(slot);
            biggest = Math.max(biggest, unit);
            frames = add(frames, mul(ceilDiv(add(slot.pages(), unit), unit) + 1, unit));
        }
        for (final Phase p : s.phases())
        {
            if (p instanceof Phase.MemslotChange m)
            {
                // Every slot a change creates, as if all were live at once: an upper bound.
                for (final Phase.MemslotChange.Change c : m.changes())
                {
                    if (c.op() == Phase.MemslotChange.Op.CREATE || c.op() == Phase.MemslotChange.Op.RECREATE)
                    {
                        final long unit = c.backing().pageFrames();
                        frames = add(frames, mul(ceilDiv(add(c.pages(), unit), unit) + 1, unit));
                        biggest = Math.max(biggest, unit);
                    }
                }
            }
        }
        long migrate = 0;
        for (final HostEvent e : s.host())
        {
            if (e.kind() == org.tdpmmu.scenarios.model.HostEventKind.MEMSLOT)
            {
                // A memslot event's own slot, 4 KiB-backed, live beside everything else.
                frames = add(frames, e.pagesPerEvent());
                continue;
            }
            migrate = Math.max(migrate, e.pagesPerEvent());
        }
        frames = add(frames, migrate == 0 ? 0 : mul(ceilDiv(migrate, biggest) + 2, biggest));
        return add(frames, biggest);
    }

    /** 4 KiB frames in one host page of the slot's backing, as the engine backs it. */
    static long hostPageFrames(final SlotConfig slot)
    {
        return 1L << (9 * (slot.backing().maxLevel() - 1));
    }

    /** Direct memory: page tables, host frames and live bits, dirty bitmaps. */
    public long directBytes()
    {
        return add(add(tableBytes, hostBytes), bitmapBytes);
    }

    /** Heap: the tool, the VM's Java structures, the results and their output. */
    public long heapBytes()
    {
        return add(add(BASE_HEAP, vmHeapBytes), resultHeapBytes);
    }

    public long tableBytes()
    {
        return tableBytes;
    }

    public long hostBytes()
    {
        return hostBytes;
    }

    public long bitmapBytes()
    {
        return bitmapBytes;
    }

    /** Steps of one run. */
    public long steps()
    {
        return steps;
    }

    /** Guest accesses the vCPUs make over all runs (a disable with running vCPUs counted as one pass). */
    public long accesses()
    {
        return accesses;
    }

    /** SPTEs (4 KiB pages of guest memory) the MMU goes over in enables, harvests, disables and teardowns. */
    public long spteVisits()
    {
        return spteVisits;
    }

    /** One line: both totals and their parts. */
    public String describe()
    {
        return "direct " + Sizes.human(directBytes()) + " (page tables " + Sizes.human(tableBytes) + ", host frames "
            + Sizes.human(hostBytes) + ", dirty bitmaps " + Sizes.human(bitmapBytes) + "), heap "
            + Sizes.human(heapBytes()) + " (VM " + Sizes.human(vmHeapBytes) + ", " + results() + " "
            + Sizes.human(resultHeapBytes) + ")";
    }

    /** The work, for {@code check}: accesses, SPTE visits, steps. */
    public String describeWork()
    {
        return count(accesses) + " guest accesses, " + count(spteVisits) + " SPTE visits, " + count(steps) + " steps";
    }

    /**
     * The one line refusing the scenario when it does not fit {@code limits}, naming the estimate,
     * the limit and how to raise it; empty when it fits.
     */
    public Optional<String> refusal(final Limits limits)
    {
        final boolean heapShort = heapBytes() > limits.heapBytes();
        final boolean directShort = directBytes() > limits.directBytes();
        if (!heapShort && !directShort)
        {
            return Optional.empty();
        }
        final StringBuilder sb = new StringBuilder("scenario ").append(name).append(" needs about ");
        if (directShort)
        {
            sb.append(Sizes.human(directBytes())).append(" of direct memory (page tables ").append(Sizes.human(tableBytes))
                .append(", host frames ").append(Sizes.human(hostBytes)).append(") but this JVM allows ")
                .append(Sizes.human(limits.directBytes()));
        }
        if (heapShort)
        {
            sb.append(directShort ? ", and " : "").append(Sizes.human(heapBytes())).append(" of heap (VM ")
                .append(Sizes.human(vmHeapBytes)).append(", ").append(results()).append(" ").append(Sizes.human(resultHeapBytes))
                .append(") but this JVM allows ").append(Sizes.human(limits.heapBytes()));
        }
        final long total = add(heapBytes(), directBytes());
        if (limits.physicalBytes() > 0 && total > limits.physicalBytes())
        {
            sb.append("; that is more than this machine's ").append(Sizes.human(limits.physicalBytes()))
                .append(" of RAM: use a smaller VM, fewer vCPUs or fewer iterations");
        }
        else
        {
            sb.append("; raise the limits with TDPMMU_JAVA_OPTS='-Xmx").append(gib(heapBytes())).append("g")
                .append(" -XX:MaxDirectMemorySize=").append(gib(directBytes())).append("g' (see README)");
        }
        return Optional.of(sb.toString());
    }

    /** The note a long run gets on stderr before it starts; empty for a run of ordinary length. */
    public Optional<String> longRunNote()
    {
        final long work = add(accesses, spteVisits);
        if (work <= LONG_RUN_WORK)
        {
            return Optional.empty();
        }
        return Optional.of("note: scenario " + name + " is long: " + describeWork()
            + "; at a few million per second per core this takes minutes or more (--progress shows each step)");
    }

    private String results()
    {
        return (runs == 1 ? "" : runs + " x ") + count(steps) + " step results";
    }

    /** Whole GiB above {@code bytes} with an eighth of headroom, at least 1. */
    private static long gib(final long bytes)
    {
        return Math.max(1, ceilDiv(add(bytes, bytes / 8), 1L << 30));
    }

    private static String count(final long n)
    {
        if (n < 10_000)
        {
            return Long.toString(n);
        }
        final String[] unit = {"k", "M", "G", "T", "P", "E"};
        double v = n;
        int i = -1;
        while (v >= 1000 && i < unit.length - 1)
        {
            v /= 1000;
            i++;
        }
        return String.format(Locale.ROOT, v < 10 ? "%.1f %s" : "%.0f %s", v, unit[i]);
    }

    static long add(final long a, final long b)
    {
        final long r = a + b;
        return ((a ^ r) & (b ^ r)) < 0 ? Long.MAX_VALUE : r;
    }

    static long mul(final long a, final long b)
    {
        final long hi = Math.multiplyHigh(a, b);
        final long lo = a * b;
        return (hi == 0 && lo >= 0) ? lo : Long.MAX_VALUE;
    }

    private static long ceilDiv(final long a, final long b)
    {
        return a / b + (a % b == 0 ? 0 : 1);
    }
}
