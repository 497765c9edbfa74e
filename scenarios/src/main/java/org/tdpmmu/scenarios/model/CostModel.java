package org.tdpmmu.scenarios.model;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Modeled time: what a run's counted events would cost on real hardware, as
 * {@code Σ count × unit cost}. The simulator's own wall time says how fast Java runs the model;
 * modeled time says how the strategies compare on a host, where an exit, a fault or a remote TLB
 * flush costs far more than a store to a page table.
 *
 * <p>The result is CPU time summed over every vCPU and host thread, not an estimate of wall time.
 *
 * <h2>Default unit costs (ns)</h2>
 * Orders of magnitude for a recent x86 server, chosen so the ratios between them are plausible;
 * override them per scenario ({@code costModel:} in the scenario file) to match a measured host.
 * <table>
 * <caption>cost keys</caption>
 * <tr><th>key</th><th>ns</th><th>one unit is</th><th>why this value</th></tr>
 * <tr><td>vmexit</td><td>1000</td><td>a VM exit plus re-entry</td><td>the hardware round trip is
 *   several hundred ns; KVM's exit dispatch and state reload bring it near 1 µs</td></tr>
 * <tr><td>fault</td><td>1500</td><td>an EPT violation handled by the slow path, beyond the exit</td>
 *   <td>memslot lookup, host pfn lookup (get_user_pages fast path), mmu_lock for read, walk,
 *   cmpxchg install: 1-2 µs</td></tr>
 * <tr><td>fault.fast</td><td>300</td><td>a write fault fixed by the lockless fast path</td><td>a
 *   lockless walk and one cmpxchg restoring W; no pfn lookup, no lock</td></tr>
 * <tr><td>tlb.flush.vcpus</td><td>3000</td><td>one vCPU interrupted by a remote TLB flush</td><td>IPI
 *   delivery, the target's exit, INVEPT, the acknowledgement the requester waits for: a few µs</td></tr>
 * <tr><td>tlb.flush.request.vcpus</td><td>18</td><td>one vCPU a remote TLB flush request is set on, in
 *   guest mode or not</td><td>kvm_make_all_cpus_request visits every vCPU: an atomic set of the request bit
 *   and a read of the mode, on a line the vCPU last wrote (a cross-core miss, 15-20 ns). Paid even when no
 *   vCPU runs, so a flush per 4 KiB zap costs 96 x 18 ns with 96 idle vCPUs; calibrated on the 2021
 *   zap figure (45.7 s / 25,165,824 flushes = 1.82 µs a zap, less zap.leaf, over 96 vCPUs), which agrees
 *   with that reason</td></tr>
 * <tr><td>walk.levels</td><td>25</td><td>one paging-structure entry read by a hardware walk</td><td>a
 *   cache hit in L1/L2 per level; walks mostly miss the TLB but hit the caches</td></tr>
 * <tr><td>table.alloc</td><td>200</td><td>a page-table page allocated</td><td>take a page from the
 *   per-vCPU cache and initialize 512 entries (a 4 KiB memset)</td></tr>
 * <tr><td>table.free</td><td>150</td><td>a page-table page freed</td><td>queue an RCU callback and
 *   return the page after the grace period</td></tr>
 * <tr><td>zap.leaf</td><td>60</td><td>a leaf SPTE zapped</td><td>an atomic exchange plus the
 *   changed-SPTE bookkeeping (dirty and accessed propagation, pfn release)</td></tr>
 * <tr><td>zap.nonleaf</td><td>60</td><td>a non-leaf SPTE zapped</td><td>the entry itself costs like a
 *   leaf; the child table is charged through table.free and its entries through removed_pt.entry</td></tr>
 * <tr><td>removed_pt.entry</td><td>75</td><td>one entry of an unlinked table taken over by
 *   handle_removed_pt (in a zap of a table or an in-place promotion)</td><td>an exchange to frozen on an
 *   entry of a table tree far larger than the caches (96 GiB mapped at 4 KiB is 192 MiB of entries: a miss
 *   per 8 entries), then handle_changed_spte on the old value: the pfn's accessed and dirty propagation
 *   (a struct page each). Calibrated on the 2021 promotion figure (1.95 s for 96 x 262,656 entries = 77 ns);
 *   the 2024 in-place figure (4.8 s for 131,072 x 512 entries = 73 ns) agrees</td></tr>
 * <tr><td>split</td><td>800</td><td>a huge mapping split into 512 smaller ones</td><td>fill 512
 *   entries derived from the huge SPTE and link the table (allocation charged separately)</td></tr>
 * <tr><td>promote</td><td>1000</td><td>a child table replaced by a huge mapping in place</td><td>scan
 *   for the first present leaf, check the allowed level against the host mapping, install</td></tr>
 * <tr><td>dirty.wrprot</td><td>20</td><td>W cleared on one SPTE for dirty logging</td><td>one locked
 *   bit clear on a cached line</td></tr>
 * <tr><td>dirty.dbit.cleared</td><td>20</td><td>D cleared on one SPTE for dirty logging</td><td>as
 *   dirty.wrprot</td></tr>
 * <tr><td>age.gfn</td><td>60</td><td>one gfn an aging notifier call (clear_young, test_young) walks,
 *   in either locking mode</td><td>the host side of an MGLRU pass per present PTE (walk_pte_range: the
 *   PTE, its folio, the generation update) and KVM's lockless part (SRCU, the memslot lookup,
 *   kvm_tdp_mmu_age_gfn_range's walk and atomic clear). Calibrated on the lockless 16-vCPU pass of the
 *   2024 MGLRU series' v4 cover letter (0.122 s; the pass runs while the vCPUs populate, so it meets on
 *   average half of the 4,194,304 pages: 60 ns a page)</td></tr>
 * <tr><td>age.lock.wait</td><td>510</td><td>one aging call made with mmu_lock for write (before 6.15)
 *   while vCPUs fault under the read lock</td><td>the qrwlock write acquisition waits out the read-side
 *   sections in progress (kvm_tdp_mmu_map of every faulting vCPU) and the line hand-offs of the lock
 *   word with them. Calibrated on the same figure's mmu_lock pass: 1.247 s over about 2.18 M pages a
 *   pass (two passes, a quarter and three quarters populated) is 573 ns a page, less age.gfn.
 *   Charged by tdpmmu access -p (the driver knows the vCPUs are populating)</td></tr>
 * <tr><td>age.lock.stall</td><td>100</td><td>what each populating vCPU loses to one such call</td><td>a
 *   vCPU reaching its read-side section while the aging thread waits for or holds the write lock
 *   queues behind it. Calibrated on the same figure's vCPU wall times: 2.399 s with mmu_lock against
 *   2.001 s lockless, 0.398 s over the about 4.0 M calls made while vCPUs populated</td></tr>
 * <tr><td>rmap.spte</td><td>80</td><td>one SPTE the legacy (shadow) MMU reaches through its gfn's rmap in
 *   a slot-wide walk (kernel: kvm_mmu_zap_collapsible_sptes through slot_handle_level, before the TDP MMU
 *   was the default)</td><td>per 4 KiB gfn the walk reads the rmap head (for a gfn mapped once it holds the
 *   SPTE pointer itself, no pte_list_desc), the SPTE in its shadow page and, for the collapsible check,
 *   the pfn's struct page: streams over 25 M gfns far beyond the caches, about one DRAM line per SPTE
 *   (8-byte heads and SPTEs, a 64-byte struct page each), a local-DRAM load of about 80 ns on the kernel
 *   tests' Skylake servers. Not calibrated on a figure; tdpmmu models only the TDP MMU, so no counter
 *   carries this name: FIGURES.md charges it per leaf the TDP MMU's zap run zapped, beside zap.leaf, for
 *   the legacy-MMU row of the 2021 disable</td></tr>
 * <tr><td>line.handoff</td><td>90</td><td>one hand-off of a cache line that every CPU of the host writes
 *   (a lock word or a reference count) to the next CPU that writes it</td><td>the owner's copy moves to
 *   the writer and the others are invalidated: about 50 ns between cores of one Skylake-SP socket, about
 *   130 ns across the two sockets of the kernel tests' hosts; with the vCPUs spread over both, about half
 *   the hand-offs cross, 90 ns. These are estimates of the right order, not a measurement of the kernel's
 *   host: the one published figure found for the era is Intel's Memory Latency Checker giving 40 ns for a
 *   modified line between cores of one Broadwell-EP socket (Intel developer forum, "Core-to-Core
 *   Communication Latency in Skylake/Kaby Lake"); Skylake-SP's mesh and a second socket only add to it.
 *   Hand-offs of one line cannot overlap, so they are serialised time for
 *   the whole host whatever the CPU count. Not calibrated on a figure; no counter carries this name:
 *   FIGURES.md charges a populate's hand-offs per fault (the 2021 parallel-fault figures): the mm's
 *   mmap_lock count taken and dropped by get_user_pages (kernel: hva_to_pfn_slow) and mmu_lock's count
 *   for read (5.12+), four a fault; eight when every vCPU faults the same page (-o), adding the
 *   host PTE page's lock and the page's reference count (get by get_user_pages, put by KVM)</td></tr>
 * <tr><td>spurious.locked</td><td>280</td><td>one fault that took mmu_lock exclusively only to find
 *   the SPTE already present (kernel: direct_page_fault before 5.12, when mmu_lock was a spinlock every
 *   fault took; tdp_mmu_map_handle_target_level returns RET_PF_SPURIOUS), the part the lock
 *   serialises</td><td>a vCPU faulting on a gfn another vCPU has just mapped waits its turn for the lock
 *   and then does little inside it: the lock word's two hand-offs, in and out (2 x line.handoff), and a
 *   4-level walk of the entries the previous holder just wrote (4 x walk.levels), 280 ns, against
 *   fault's 1.5 µs for a fault that installs a page. Not calibrated on a figure; no counter carries this
 *   name (a spurious fault is counted as fault.spurious and charged as fault): FIGURES.md charges it to
 *   the 2021 overlapping populate under the write lock, where 95 of each page's 96 faults are spurious,
 *   for that populate's serialised part</td></tr>
 * </table>
 *
 * <h2>Which counters are charged</h2>
 * A counter is charged at the unit of the cost key of the same name. Besides, every fault-outcome
 * counter {@code fault.X} ({@code fault.installed}, {@code fault.retry}, {@code fault.spurious}, ...;
 * one level below {@code fault}) is charged as {@code fault} — except {@code fault.fast}, which has its
 * own key. A deeper name {@code fault.X.Y} is a breakdown of {@code fault.X} (for example
 * {@code fault.retry.invalidation}, the retries the invalidation sequence caused, already counted in
 * {@code fault.retry}) and costs nothing, so nothing is charged twice. Every other counter (e.g.
 * {@code tlb.flush.requests}, {@code spte.cmpxchg.fail}, {@code promote.skip.*}, {@code tlb.hit}) costs
 * nothing: its cost is already in a charged counter, or it is diagnostic.
 */
public final class CostModel {

    private static final Map<String, Long> DEFAULTS;

    static {
        Map<String, Long> m = new LinkedHashMap<>();
        m.put("vmexit", 1000L);
        m.put("fault", 1500L);
        m.put("fault.fast", 300L);
        m.put("tlb.flush.vcpus", 3000L);
        m.put("tlb.flush.request.vcpus", 18L);
        m.put("walk.levels", 25L);
        m.put("table.alloc", 200L);
        m.put("table.free", 150L);
        m.put("zap.leaf", 60L);
        m.put("zap.nonleaf", 60L);
        m.put("removed_pt.entry", 75L);
        m.put("split", 800L);
        m.put("promote", 1000L);
        m.put("dirty.wrprot", 20L);
        m.put("dirty.dbit.cleared", 20L);
        // aging (access_tracking_perf_test -p -l; FIGURES.md "Aging")
        m.put("age.gfn", 60L);
        m.put("age.lock.wait", 510L);
        m.put("age.lock.stall", 100L);
        // the kernel tests' hosts beyond the TDP MMU (FIGURES.md "Calibrate, then predict": the legacy
        // MMU's rmap walk, the lines every faulting CPU writes, a spurious fault's turn at the pre-5.12
        // lock); no counter carries these names
        m.put("rmap.spte", 80L);
        m.put("line.handoff", 90L);
        m.put("spurious.locked", 280L);
        DEFAULTS = Collections.unmodifiableMap(m);
    }

    private static final CostModel DEFAULT = new CostModel(DEFAULTS);

    /** The largest unit cost an override may set: one second. */
    public static final long MAX_UNIT_NANOS = 1_000_000_000L;

    private final Map<String, Long> units;

    private CostModel(Map<String, Long> units) {
        this.units = Collections.unmodifiableMap(new LinkedHashMap<>(units));
    }

    /** The documented default unit costs. */
    public static CostModel defaults() {
        return DEFAULT;
    }

    /** Every cost key, in documentation order. */
    public static Set<String> keys() {
        return DEFAULTS.keySet();
    }

    /**
     * This model with some unit costs replaced.
     *
     * @throws IllegalArgumentException on an unknown key or a cost outside 0..{@link #MAX_UNIT_NANOS}
     */
    public CostModel withOverrides(Map<String, Long> overrides) {
        Map<String, Long> m = new LinkedHashMap<>(units);
        overrides.forEach((k, v) -> {
            if (!DEFAULTS.containsKey(k)) {
                throw new IllegalArgumentException("unknown cost key \"" + k + "\"; known keys: "
                        + String.join(", ", keys()));
            }
            if (v == null || v < 0 || v > MAX_UNIT_NANOS) {
                throw new IllegalArgumentException("cost of " + k + " must be in 0.." + MAX_UNIT_NANOS + " ns, not " + v);
            }
            m.put(k, v);
        });
        return new CostModel(m);
    }

    /** The unit costs in ns, by key, in documentation order. */
    public Map<String, Long> units() {
        return units;
    }

    /** The unit cost in ns of {@code key}. */
    public long unit(String key) {
        Long v = units.get(key);
        if (v == null) {
            throw new IllegalArgumentException("unknown cost key \"" + key + "\"");
        }
        return v;
    }

    /** The cost key {@code counter} is charged as, or null if it is not charged (see class doc). */
    public static String costKeyOf(String counter) {
        if (DEFAULTS.containsKey(counter)) {
            return counter;
        }
        return isFaultOutcome(counter) ? "fault" : null;
    }

    /**
     * Whether {@code counter} counts faults by outcome: {@code fault.X} with no further dot. Their sum
     * is the number of faults handled; {@code fault.X.Y} breakdowns are not part of it.
     */
    public static boolean isFaultOutcome(String counter) {
        return counter.startsWith("fault.") && counter.length() > 6 && counter.indexOf('.', 6) < 0;
    }

    /**
     * {@code Σ count × unit} over the charged counters, saturating at {@link Long#MAX_VALUE}.
     * Negative counts (a counter that went down over a phase) are charged as zero.
     */
    public long modeledNanos(Map<String, Long> counters) {
        long total = 0;
        for (Map.Entry<String, Long> e : counters.entrySet()) {
            String key = costKeyOf(e.getKey());
            Long count = e.getValue();
            if (key == null || count == null || count <= 0) {
                continue;
            }
            long cost;
            try {
                cost = Math.multiplyExact(count, units.get(key));
                total = Math.addExact(total, cost);
            } catch (ArithmeticException overflow) {
                return Long.MAX_VALUE;
            }
        }
        return total;
    }

    /**
     * The keys charged to the thread that runs an ioctl (the dirty-log disable, enable, clear), not to
     * vCPUs: zaps, removed tables, promotions, splits, protection changes, and the flush requests with
     * the vCPUs each interrupts (the requester waits for their acknowledgement). vCPU work — faults,
     * exits, walks, table allocations for faults — is left out.
     */
    private static final Set<String> REQUESTER_KEYS = Set.of("tlb.flush.vcpus", "tlb.flush.request.vcpus",
            "zap.leaf", "zap.nonleaf", "removed_pt.entry", "table.free", "promote", "split", "dirty.wrprot",
            "dirty.dbit.cleared");

    /**
     * {@link #modeledNanos} over the requester's keys only: what an ioctl's own thread spends while
     * vCPUs run beside it (dirty_log_perf_test -e), comparable with the kernel test's wall time of
     * that ioctl. With the vCPUs idle both sums are the same but for table allocations.
     */
    public long requesterNanos(Map<String, Long> counters) {
        Map<String, Long> requester = new LinkedHashMap<>();
        counters.forEach((k, v) -> {
            if (REQUESTER_KEYS.contains(k)) {
                requester.put(k, v);
            }
        });
        return modeledNanos(requester);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof CostModel c && c.units.equals(units);
    }

    @Override
    public int hashCode() {
        return units.hashCode();
    }

    @Override
    public String toString() {
        return "CostModel" + units;
    }

    /** The keys whose unit differs from the default, with their units. */
    public Map<String, Long> overrides() {
        Map<String, Long> m = new LinkedHashMap<>();
        units.forEach((k, v) -> {
            if (!Objects.equals(DEFAULTS.get(k), v)) {
                m.put(k, v);
            }
        });
        return m;
    }
}
