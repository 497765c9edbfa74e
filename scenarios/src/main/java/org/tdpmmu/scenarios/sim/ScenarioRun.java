package org.tdpmmu.scenarios.sim;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

import org.HdrHistogram.Histogram;
import org.HdrHistogram.PackedHistogram;
import org.tdpmmu.core.Backing;
import org.tdpmmu.core.DirtyLogging;
import org.tdpmmu.core.FaultInjection;
import org.tdpmmu.core.KvmSetMemoryRegion;
import org.tdpmmu.core.Memslot;
import org.tdpmmu.core.RecoveryStrategy;
import org.tdpmmu.core.ResourceExhaustedException;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;
import org.tdpmmu.core.TdpIter;
import org.tdpmmu.core.TdpMmuAge;
import org.tdpmmu.core.VmConfig;
import org.tdpmmu.scenarios.engine.PhaseResult;
import org.tdpmmu.scenarios.engine.ProgressListener;
import org.tdpmmu.scenarios.engine.RunResult;
import org.tdpmmu.scenarios.engine.Violation;
import org.tdpmmu.scenarios.model.DirtyLogMode;
import org.tdpmmu.scenarios.model.HarvestMethod;
import org.tdpmmu.scenarios.model.HostEvent;
import org.tdpmmu.scenarios.model.HostEventKind;
import org.tdpmmu.scenarios.model.Phase;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.model.SlotConfig;
import org.tdpmmu.scenarios.model.Step;
import org.tdpmmu.scenarios.model.StepKind;

/**
 * One run of a scenario: builds the VM, starts one thread per vCPU, runs each step between two
 * barrier crossings (vCPU work on the vCPU threads, ioctl-like work on this thread), races the host
 * events against the steps they apply to, and checks the safety properties.
 *
 * <p>vCPU i owns pages [i·n, (i+1)·n) of the guest index space (slots end to end), as memstress
 * gives each vCPU its own region; with overlapping vCPU memory (perf {@code -o}) every vCPU goes
 * over all of them. Each write stores a value derived from the gfn and the pass, the same from
 * every vCPU, and the pass is remembered per page (one byte), so lost writes are found without
 * keeping values. With overlap, the rounds vCPUs run while logging is disabled ({@code -e}) all
 * write one pass's value, because vCPUs at different rounds write the same page at once; a lost
 * write from an earlier round is then not told apart.
 * Pages written while their slot logs dirty pages are remembered in a bitset until the next
 * harvest, which must report every one of them (no missed dirty page).
 * A {@link TimelineSampler} records the vCPUs' accesses and faults over the run for the report's
 * timeline; the vCPUs only publish their own totals to it, they never wait for it.
 *
 * <p><b>Orderly stop.</b> A {@link ResourceExhaustedException} (a page-table or host page the model
 * could not allocate: the kernel's -ENOMEM, which makes KVM_RUN fail) stops the run instead of
 * being counted as a violation: the vCPU that hit it leaves its pass with the access undone, the
 * others leave theirs within {@value #STOP_CHECK_EVERY} accesses, the step ends, no later step runs, the vCPU
 * threads exit, and the run tears the VM down (RCU barrier included) after checking what was done: no lost
 * write of a completed access, no missed dirty page, no stale, oversized, frozen or half-linked
 * entry, no leaked table. If every check held, {@link #execute} throws a ResourceExhaustedException
 * naming where the run stopped (the CLI prints it as one line and exits 4); if one did not, it
 * returns the violations and a {@code stopped} entry (exit 1: a failure path broke a property).
 */
final class ScenarioRun implements AutoCloseable
{
    private static final int PROGRESS_CHUNK = 4096;
    /**
     * Accesses between two looks at {@link #stopping} and {@link #hostWaiting}: volatile reads,
     * cheap enough to keep an orderly stop and the ioctl thread's wait for a pCPU short whatever
     * the time slice.
     */
    private static final int STOP_CHECK_EVERY = 256;
    /**
     * Accesses between two publications of a vCPU's totals to the timeline sampler (and after each
     * fault, and at the end of a pass): 64 TLB hits take a few µs, well inside one sampling
     * interval, and the hit path pays two stores per 64 accesses instead of per access.
     */
    private static final int PUBLISH_EVERY = 64;

    private final Scenario scenario;
    private final ProgressListener progress;
    private final Vm vm;
    private final DirtyLogging logging;
    private final GuestLayout layout;
    private final int vcpuCount;
    private final long pagesPerVcpu;
    /** Pages one vCPU goes over in a pass: its own region, or all of them with overlapping memory. */
    private final long passPages;
    private final boolean overlap;
    private final Vcpu[] vcpus;
    private final Thread[] threads;
    private final Histogram[] latency;
    private final long[] vcpuNanos;
    /** Accesses a vCPU runs on a simulated pCPU before it leaves it to a waiting one (vm.sliceAccesses). */
    private final int slice;
    /**
     * Per vCPU, the accesses left in its current slice when its last pass ended: a slice is the
     * vCPU's time on the pCPU, so it runs on across passes (the -e rounds, the memslot-change rounds)
     * and a pass shorter than a slice still ends one. Read and written by the vCPU's thread alone.
     */
    private final int[] sliceLeft;
    private final CyclicBarrier barrier;
    private final PageBytes lastPass;
    private final AtomicLongArray writtenSinceHarvest;
    private final ConcurrentLinkedQueue<Violation> violations = new ConcurrentLinkedQueue<>();
    /**
     * Simulated physical CPUs, one per core. A vCPU is in guest mode only while it holds one: a
     * descheduled vCPU is outside guest mode, as KVM's kvm_sched_out makes it, so a remote flush
     * waits only for the vCPUs actually running and never for a thread the OS preempted among
     * dozens. Without this, a flush with wait under -e costs a full scheduling round of every vCPU
     * thread. The ioctl thread that disables dirty logging beside running vCPUs (-e) holds one too
     * while it works: the kernel test's ioctl thread has a CPU of its own, and without one here it
     * competed with the vCPUs holding both cores, so each of its flushes waited for the OS to run a
     * vCPU thread it had preempted (a 64 x 512 MiB zap_huge disable took 20-34 s for 16,384 flushes
     * at a load of 14-33, 2.2-3.6 s with its own pCPU). On a machine of C cores the vCPUs then run on
     * C - 1 while it works, so a flush finds at most C - 1 of them in guest mode.
     * Unfair on purpose: a vCPU at its slice's end takes a free permit back if the waiter it woke has
     * not run yet, so a turn happens only when the OS runs that waiter first. First come, first
     * served made every slice's end a turn at the same CPU time, but each turn parks a thread, and
     * on a loaded machine the core went to other work: the 96 x 1 GiB second dirty pass took
     * 6.3 s against 4.8-5.0 s unfair (load 5-6.5).
     */
    private final Semaphore pcpus = new Semaphore(Math.max(1, Runtime.getRuntime().availableProcessors()));
    private final Map<Integer, long[]> gotBitmaps = new HashMap<>();
    /**
     * With rings: per slot id, the pages collected since the last harvest step (by that step, or
     * by a vCPU that reaped at a full ring), bit i = page i. Guarded by {@link #ringLock}, which
     * also makes the collector of each ring one thread at a time (the BQL's role in QEMU).
     */
    private final Map<Integer, long[]> ringCollected = new HashMap<>();
    private final Object ringLock = new Object();
    /** Entries the last collect-dirty-ring step collected, for its reset step's count. */
    private long ringCollectedEntries;
    private final TimelineSampler sampler;
    /**
     * Pages an initially-set enable reported dirty without a write and no harvest has reported
     * since: property 7 allows their one report (KVM_DIRTY_LOG_INITIALLY_SET's all-ones bitmap).
     */
    private final java.util.BitSet initiallySetPending = new java.util.BitSet();

    private volatile Step current;
    private volatile boolean shutdown;
    private volatile boolean keepRunning;
    private Phase.DirtyPass lastPassPhase;
    private boolean destroyed;
    /** Where and why the run stopped (first one wins), or null while it runs. */
    private final AtomicReference<Stop> stop = new AtomicReference<>();
    /** Mirrors {@code stop != null}; a volatile read the vCPU loops make every {@value #STOP_CHECK_EVERY} accesses. */
    private volatile boolean stopping;
    /**
     * The ioctl thread is waiting for a pCPU to disable logging beside running vCPUs (-e). A vCPU
     * that sees it ends its slice early: the host's scheduler preempts a running vCPU thread for
     * the ioctl thread it wakes (kernel: check_preempt_wakeup_fair), so that thread waits for no
     * slice to run out, however long the slices are.
     */
    private volatile boolean hostWaiting;

    /** An orderly stop: what could not be allocated, and where. */
    private record Stop(String where, ResourceExhaustedException cause)
    {
    }

    ScenarioRun(final Scenario scenario, final ProgressListener progress)
    {
        this(scenario, progress, FaultInjection.NONE);
    }

    /** @param faults the allocation-failure test hook, {@link FaultInjection#NONE} outside tests. */
    ScenarioRun(final Scenario scenario, final ProgressListener progress, final FaultInjection faults)
    {
        this.scenario = scenario;
        this.progress = progress;
        final org.tdpmmu.scenarios.model.VmConfig shape = scenario.vm();
        this.vcpuCount = shape.vcpus();
        this.pagesPerVcpu = shape.pagesPerVcpu();
        this.passPages = shape.pagesPerVcpuPass();
        this.overlap = shape.overlapVcpuMemory();
        final Memslot[] slots = new Memslot[shape.slots().size()];
        this.vm = buildVm(scenario, faults, slots);
        this.layout = new GuestLayout(slots);
        if (pagesPerVcpu * vcpuCount > layout.totalPages())
        {
            throw new IllegalArgumentException(vcpuCount + " vCPUs x " + pagesPerVcpu + " pages exceed the " +
                layout.totalPages() + " pages of the memslots");
        }
        this.logging = new DirtyLogging(vm);
        this.lastPass = new PageBytes(layout.totalPages());
        this.writtenSinceHarvest = new AtomicLongArray((int)((layout.totalPages() + 63) >>> 6));
        this.vcpus = new Vcpu[vcpuCount];
        this.threads = new Thread[vcpuCount];
        this.latency = new Histogram[vcpuCount];
        this.vcpuNanos = new long[vcpuCount];
        this.slice = shape.sliceAccesses();
        this.sliceLeft = new int[vcpuCount];
        this.barrier = new CyclicBarrier(vcpuCount + 1);
        this.sampler = new TimelineSampler(vcpuCount, scenario.steps().size());
        if (scenario.dirtyRingEntries() > 0)
        {
            // QEMU enables the ring capability right after KVM_CREATE_VM, before any vCPU.
            vm.enableDirtyRing(scenario.dirtyRingEntries());
        }
        for (int i = 0; i < vcpuCount; i++)
        {
            final int id = i;
            vcpus[i] = vm.createVcpu();
            latency[i] = new Histogram(3);
            final Histogram h = latency[i];
            final Vcpu v = vcpus[i];
            v.setFaultObserver((gfn, write, result, nanos) ->
            {
                h.recordValue(Math.max(1, nanos));
                // A storm of faults is what the timeline is for: each timed one (one in
                // Vcpu.LATENCY_SAMPLE) is published at once, the pass publishes every 64 accesses.
                sampler.publish(id, v.accesses(), v.faults());
            });
            // KVM_EXIT_DIRTY_RING_FULL: the vCPU's thread reaps every ring itself and re-enters,
            // as QEMU's vCPU thread does (kvm_dirty_ring_reap under the BQL).
            v.setDirtyRingFullHandler(vcpu -> reapDirtyRings());
            threads[i] = new Thread(() -> vcpuLoop(id), "vcpu-" + i);
            threads[i].setDaemon(true);
            threads[i].start();
        }
    }

    /**
     * The VM with its memslots backed (KVM_CREATE_VM, KVM_SET_USER_MEMORY_REGION). If a table or a
     * host page cannot be allocated, nothing has run: the VM is closed (RCU reclaimer stopped, the
     * root freed after a barrier) and checked for leaked tables before the failure is passed on.
     */
    private static Vm buildVm(final Scenario scenario, final FaultInjection faults, final Memslot[] slots)
    {
        final Vm vm;
        try
        {
            vm = new Vm(coreConfig(scenario), faults);
        }
        catch (final ResourceExhaustedException e)
        {
            throw new ResourceExhaustedException("run stopped while creating the VM: " + e.getMessage() +
                "; nothing ran", e);
        }
        try
        {
            for (int i = 0; i < slots.length; i++)
            {
                final SlotConfig s = scenario.vm().slots().get(i);
                slots[i] = vm.addMemslot(s.baseGfn(), s.pages(), coreBacking(s));
            }
            // KVM_CAP_DISABLE_QUIRKS2 before any vCPU runs, as a VMM sets it.
            vm.memoryRegions().setSlotZapAll(scenario.vm().slotZapAllQuirk());
        }
        catch (final ResourceExhaustedException e)
        {
            vm.close();
            final long live = vm.store().liveCount();
            if (live != 0)
            {
                throw new IllegalStateException("property 4 (leak): " + live + " page-table page(s) still live after " +
                    "a failed VM build was closed", e);
            }
            throw new ResourceExhaustedException("run stopped while backing the memslots: " + e.getMessage() +
                "; nothing ran, the VM was closed with no table leaked", e);
        }
        return vm;
    }

    /** The VM sized by {@link MemoryEstimate}'s rules, so the estimate bounds what the run holds. */
    static VmConfig coreConfig(final Scenario scenario)
    {
        return VmConfig.small()
            .withRootLevel(scenario.vm().rootLevel())
            .withMaxVcpus(scenario.vm().vcpus())
            .withTableCapacity((int)MemoryEstimate.tableCapacity(scenario))
            .withHostFrameLimit(MemoryEstimate.hostFrameLimit(scenario))
            .withRcuReclaimer(true)
            .withLocklessAging(scenario.vm().locklessAging())
            .withSuppressVeNonPresent(scenario.vm().kernel().suppressVeNonPresent())
            .withSpteNeedsAtomicUpdate(scenario.vm().kernel().spteNeedsAtomicUpdate())
            .withRetryBeforeMmuLock(scenario.vm().kernel().retryBeforeMmuLock())
            .withEagerPageSplit(scenario.vm().kernel().eagerPageSplit())
            .withSplitHugeOnFault(scenario.vm().kernel().splitHugeOnFault())
            .withFaultUnderWriteLock(scenario.vm().kernel().faultUnderWriteLock());
    }

    static Backing coreBacking(final SlotConfig s)
    {
        return coreBacking(s.backing());
    }

    static Backing coreBacking(final org.tdpmmu.scenarios.model.Backing b)
    {
        switch (b.maxLevel())
        {
            case 1:
                return Backing.PAGE_4K;
            case 2:
                return Backing.PAGE_2M;
            default:
                return Backing.PAGE_1G;
        }
    }

    RunResult execute() throws Exception
    {
        final List<PhaseResult> phases = new ArrayList<>();
        RecoveryStrategy used = null;
        sampler.start();
        for (final Step step : scenario.steps())
        {
            phases.add(runStep(step, phases.size()));
            if (step.kind() == StepKind.DISABLE_DIRTY_LOGGING)
            {
                used = coreStrategy(((Phase.DisableDirtyLogging)step.phase()).strategy());
            }
            if (stop.get() != null)
            {
                break;
            }
        }
        final Stop stopped = stop.get();
        if (stopped != null)
        {
            stopVcpuThreads();
        }
        if (!destroyed)
        {
            checkBeforeTeardown();
            teardown();
        }
        if (stopped != null)
        {
            final String line = "run stopped in " + stopped.where() + ": " + stopped.cause().getMessage();
            if (violations.isEmpty())
            {
                throw new ResourceExhaustedException(line + "; the VM was torn down and every check held on what " +
                    "was done", stopped.cause());
            }
            violations.add(new Violation("stopped", line));
        }
        return new RunResult(scenario.name(), used == null ? null : scenarioStrategy(used), phases,
            new ArrayList<>(violations), sampler.finish());
    }

    private PhaseResult runStep(final Step step, final int index) throws Exception
    {
        final Map<String, Long> before = counters();
        final long units = unitsOf(step);
        progress.phaseStarted(step.name(), units);
        final List<Thread> hosts = startHostEvents(step);
        current = step;
        // Set before the vCPUs start: with -e they run until the disable step clears it.
        keepRunning = true;
        final long t0 = System.nanoTime();
        sampler.stepStarted(index, t0);
        awaitBarrier();
        try
        {
            mainWork(step);
        }
        catch (final ResourceExhaustedException e)
        {
            stopRun("step " + step.name(), e);
        }
        catch (final RuntimeException e)
        {
            violations.add(new Violation("engine", step.name() + ": " + e));
        }
        finally
        {
            keepRunning = false;
            awaitBarrier();
        }
        final long t1 = System.nanoTime();
        sampler.stepEnded(index, t1);
        final long wall = t1 - t0;
        stopHostEvents(hosts);
        final Error failed = fatal;
        if (failed != null)
        {
            throw failed;
        }
        progress.phaseEnded();
        final Map<String, Long> delta = delta(before, counters());
        // Packed: a step's result keeps only the non-zero counts (a few KiB), not the 200 KiB array a
        // histogram reaching seconds has; a scenario of 100,000 iterations keeps 200,000 of them.
        final Histogram merged = new PackedHistogram(3);
        for (final Histogram h : latency)
        {
            merged.add(h);
            h.reset();
        }
        return new PhaseResult(step.name(), wall, vcpuWork(step) ? vcpuNanos.clone() : new long[0],
            scenario.costModel().modeledNanos(delta), delta, merged.getTotalCount() == 0 ? null : merged,
            vm.store().peakLive(), vm.store().offHeapBytes() + vm.host().offHeapBytes());
    }

    private static boolean vcpuWork(final Step step)
    {
        return step.kind() == StepKind.POPULATE || step.kind() == StepKind.DIRTY_PASS ||
            step.kind() == StepKind.SECOND_PASS || step.kind() == StepKind.MEMSLOT_CHANGE;
    }

    private long unitsOf(final Step step)
    {
        return vcpuWork(step) ? passPages * vcpuCount : 0;
    }

    /** The part of a step the "VMM" does: the dirty-log ioctls, teardown. vCPUs run meanwhile. */
    private void mainWork(final Step step)
    {
        switch (step.kind())
        {
            case ENABLE_DIRTY_LOGGING:
            {
                final Phase.EnableDirtyLogging e = (Phase.EnableDirtyLogging)step.phase();
                final int mode = e.mode() == DirtyLogMode.DBIT ? Memslot.LOG_DBIT : Memslot.LOG_WRPROT;
                for (final Memslot slot : layout.slots())
                {
                    logging.enable(slot, mode, e.eagerSplit(), e.initiallySet());
                }
                if (e.initiallySet())
                {
                    initiallySetPending.set(0, (int)Math.min(Integer.MAX_VALUE, layout.totalPages()));
                }
                break;
            }
            case GET_DIRTY_LOG:
                harvestGet(((Phase.Harvest)step.phase()).method() == HarvestMethod.CLEAR);
                break;
            case COLLECT_DIRTY_RING:
                harvestRings();
                break;
            case RESET_DIRTY_RINGS:
            {
                final int reset;
                synchronized (ringLock)
                {
                    reset = logging.resetDirtyRings(vm.vcpus());
                }
                if (reset != ringCollectedEntries)
                {
                    violations.add(new Violation("ring-reset-count", step.name() + ": KVM_RESET_DIRTY_RINGS reset " +
                        reset + " entries, the collect before it collected " + ringCollectedEntries));
                }
                break;
            }
            case CLEAR_DIRTY_LOG:
                for (final Memslot slot : layout.slots())
                {
                    final long[] got = gotBitmaps.remove(slot.id());
                    if (got != null)
                    {
                        logging.clearDirtyLog(slot, 0, got);
                    }
                }
                break;
            case DISABLE_DIRTY_LOGGING:
            {
                final Phase.DisableDirtyLogging d = (Phase.DisableDirtyLogging)step.phase();
                final RecoveryStrategy strategy = coreStrategy(d.strategy());
                final boolean beside = d.vcpusRunning();
                if (beside)
                {
                    hostWaiting = true;
                    pcpus.acquireUninterruptibly();
                    hostWaiting = false;
                }
                try
                {
                    for (final Memslot slot : layout.slots())
                    {
                        if (slot.dirtyLogging())
                        {
                            logging.disable(slot, strategy.recovery());
                        }
                    }
                }
                finally
                {
                    if (beside)
                    {
                        pcpus.release();
                    }
                }
                break;
            }
            case AGE:
                age((Phase.Age)step.phase());
                break;
            case MEMSLOT_CHANGE:
                memslotChanges((Phase.MemslotChange)step.phase());
                break;
            case TEARDOWN:
                checkBeforeTeardown();
                teardown();
                break;
            default:
                break;
        }
    }

    /**
     * The memslotChange phase's requests, in order, each one KVM_SET_USER_MEMORY_REGION while the
     * vCPUs run. The loader replayed them against the same slots, so a refusal here is a bug of
     * the model (named with the file's line), not of the scenario.
     */
    private void memslotChanges(final Phase.MemslotChange m)
    {
        final KvmSetMemoryRegion regions = vm.memoryRegions();
        for (final Phase.MemslotChange.Change c : m.changes())
        {
            if (m.delayMicros() > 0)
            {
                LockSupport.parkNanos(m.delayMicros() * 1000);
            }
            try
            {
                switch (c.op())
                {
                    case CREATE:
                    case RECREATE:
                        regions.create(c.slot(), c.baseGfn(), c.pages(), coreBacking(c.backing()));
                        break;
                    case DELETE:
                        regions.delete(c.slot());
                        break;
                    case MOVE:
                        regions.move(c.slot(), c.baseGfn());
                        break;
                    default:
                        regions.set(new KvmSetMemoryRegion.Region(c.slot(),
                            c.dirtyLogging() ? KvmSetMemoryRegion.KVM_MEM_LOG_DIRTY_PAGES : 0, c.baseGfn() * 4096,
                            c.pages() * 4096, coreBacking(c.backing())));
                        break;
                }
            }
            catch (final IllegalArgumentException e)
            {
                throw new IllegalStateException(scenario.source() + ":" + c.line() + ": " + c.path() + ": " +
                    "refused at run time although the loader accepted it: " + e.getMessage(), e);
            }
        }
    }

    /** The age phase: one notifier call per {@code pagesPerCall} pages of every slot, in order. */
    private void age(final Phase.Age a)
    {
        final TdpMmuAge age = new TdpMmuAge(vm);
        final TdpIter iter = new TdpIter(vm.store());
        for (final Memslot slot : layout.slots())
        {
            final long end = slot.baseGfn() + slot.npages();
            for (long start = slot.baseGfn(); start < end; start += a.pagesPerCall())
            {
                final long stop = Math.min(end, start + a.pagesPerCall());
                if (a.flush())
                {
                    age.clearFlushYoung(iter, start, stop);
                }
                else
                {
                    age.clearYoung(iter, start, stop);
                }
            }
        }
    }

    /** Collects every vCPU's ring into {@link #ringCollected}, under {@link #ringLock}. @return entries. */
    private long collectRings()
    {
        assert Thread.holdsLock(ringLock);
        long n = 0;
        for (final Vcpu v : vcpus)
        {
            n += v.dirtyRing().collect((slotId, offset) ->
            {
                final long[] bits = ringCollected.computeIfAbsent(slotId,
                    id -> new long[(int)((vm.memslots().byId(id).npages() + 63) >>> 6)]);
                bits[(int)(offset >>> 6)] |= 1L << (offset & 63);
            });
        }
        return n;
    }

    /** A vCPU at KVM_EXIT_DIRTY_RING_FULL: collect every ring and reset them (counts must agree). */
    private void reapDirtyRings()
    {
        synchronized (ringLock)
        {
            final long collected = collectRings();
            final int reset = logging.resetDirtyRings(vm.vcpus());
            if (reset != collected)
            {
                violations.add(new Violation("ring-reset-count", "reap at a full ring: KVM_RESET_DIRTY_RINGS reset " +
                    reset + " entries, " + collected + " were collected"));
            }
        }
    }

    /**
     * The collect step: every ring collected (vCPUs stopped), the pages since the last harvest,
     * these and those reaped at full rings, checked as a bitmap harvest is (properties 2 and 7).
     */
    private void harvestRings()
    {
        synchronized (ringLock)
        {
            ringCollectedEntries = collectRings();
            for (final Memslot slot : layout.slots())
            {
                if (slot.dirtyLogging())
                {
                    final long[] bits = ringCollected.remove(slot.id());
                    checkDirtyReported(slot, bits != null ? bits : new long[slot.dirtyBitmap().words()]);
                }
            }
            ringCollected.clear();
        }
    }

    private void harvestGet(final boolean manualProtect)
    {
        for (final Memslot slot : layout.slots())
        {
            if (!slot.dirtyLogging())
            {
                continue;
            }
            final long[] bitmap = logging.getDirtyLog(slot, manualProtect);
            if (manualProtect)
            {
                gotBitmaps.put(slot.id(), bitmap);
            }
            checkDirtyReported(slot, bitmap);
        }
    }

    /**
     * Property 2: every page written since the last harvest is in this one. Property 7: every page
     * in it was written since the last harvest that reported it, but for the one all-ones report
     * of an initially-set enable. Harvests run while the vCPUs are stopped, so the written set is
     * exact.
     */
    private void checkDirtyReported(final Memslot slot, final long[] bitmap)
    {
        final int slotIndex = slotIndex(slot);
        long missed = 0;
        long firstMissed = -1;
        long extra = 0;
        long firstExtra = -1;
        for (long page = 0; page < slot.npages(); page++)
        {
            final long index = layout.indexOf(slotIndex, slot.baseGfn() + page);
            final long bit = 1L << (index & 63);
            final boolean reported = (bitmap[(int)(page >>> 6)] & (1L << (page & 63))) != 0;
            final boolean pending = initiallySetPending.get((int)index);
            if (reported && pending)
            {
                initiallySetPending.clear((int)index);
            }
            if ((writtenSinceHarvest.get((int)(index >>> 6)) & bit) == 0)
            {
                if (reported && !pending)
                {
                    extra++;
                    if (firstExtra < 0)
                    {
                        firstExtra = slot.baseGfn() + page;
                    }
                }
                continue;
            }
            if (!reported)
            {
                missed++;
                if (firstMissed < 0)
                {
                    firstMissed = slot.baseGfn() + page;
                }
            }
            writtenSinceHarvest.getAndAccumulate((int)(index >>> 6), bit, (a, b) -> a & ~b);
        }
        if (missed > 0)
        {
            violations.add(new Violation("no-missed-dirty-page", missed + " page(s) written while logging was on " +
                "are missing from the harvest of " + slot + ", first gfn 0x" + Long.toHexString(firstMissed)));
        }
        if (extra > 0)
        {
            violations.add(new Violation("no-extra-dirty-page", extra + " page(s) in the harvest of " + slot +
                " were not written since the last harvest that reported them, first gfn 0x" +
                Long.toHexString(firstExtra)));
        }
    }

    private int slotIndex(final Memslot slot)
    {
        final Memslot[] all = layout.slots();
        for (int i = 0; i < all.length; i++)
        {
            if (all[i] == slot)
            {
                return i;
            }
        }
        throw new IllegalArgumentException(slot.toString());
    }

    private void vcpuLoop(final int id)
    {
        final Vcpu vcpu = vcpus[id];
        while (true)
        {
            try
            {
                barrier.await();
            }
            catch (final InterruptedException | BrokenBarrierException e)
            {
                return;
            }
            if (shutdown)
            {
                return;
            }
            final Step step = current;
            final long t0 = System.nanoTime();
            pcpus.acquireUninterruptibly();
            sliceLeft[id] = slice;
            try
            {
                vcpuWork(id, vcpu, step);
            }
            catch (final ResourceExhaustedException e)
            {
                // kernel: the fault returned -ENOMEM, KVM_RUN returns it; this vCPU runs no more.
                stopRun("step " + step.name() + " on vCPU " + id, e);
            }
            catch (final RuntimeException e)
            {
                violations.add(new Violation(violationName(e), "vCPU " + id + " in " + step.name() + ": " + e.getMessage()));
            }
            catch (final Error e)
            {
                // Not a safety violation (exit 1) but the engine failing (exit 4): the main thread
                // rethrows it after the step's barrier, which this thread still reaches.
                fatal(e);
            }
            finally
            {
                vcpu.exitGuest();
                pcpus.release();
            }
            vcpuNanos[id] = System.nanoTime() - t0;
            try
            {
                barrier.await();
            }
            catch (final InterruptedException | BrokenBarrierException e)
            {
                return;
            }
        }
    }

    private static String violationName(final RuntimeException e)
    {
        switch (e.getClass().getSimpleName())
        {
            case "StaleTranslationException":
                return "no-stale-translation";
            case "UseAfterFreeException":
                return "no-use-after-free";
            case "MmuBugException":
                return "mmu-bug";
            default:
                return "vcpu-error";
        }
    }

    private void vcpuWork(final int id, final Vcpu vcpu, final Step step)
    {
        switch (step.kind())
        {
            case POPULATE:
                pass(id, vcpu, 1, 100, AccessOrder.forStep(step, id, passPages));
                break;
            case DIRTY_PASS:
                lastPassPhase = (Phase.DirtyPass)step.phase();
                pass(id, vcpu, passNumber(step.index() + 1), AccessOrder.writePercent(step),
                    AccessOrder.forStep(step, id, passPages));
                break;
            case SECOND_PASS:
                pass(id, vcpu, passNumber(250), AccessOrder.writePercent(step), AccessOrder.forStep(step, id, passPages));
                break;
            case MEMSLOT_CHANGE:
            {
                // One pass at least, then more until the last change returned: the changes race them.
                final Phase.MemslotChange m = (Phase.MemslotChange)step.phase();
                int round = 0;
                do
                {
                    round++;
                    pass(id, vcpu, passNumber(overlap ? 240 : 240 + (round & 7)), m.writePercent(),
                        new AccessOrder(m.pattern(), passPages, m.zipfExponent(), AccessOrder.seed(m.seed(), id, -1000 - round)));
                }
                while (keepRunning && !stopping);
                break;
            }
            case DISABLE_DIRTY_LOGGING:
            {
                final Phase.DisableDirtyLogging d = (Phase.DisableDirtyLogging)step.phase();
                final Phase.DirtyPass p = lastPassPhase;
                if (d.vcpusRunning() && p != null)
                {
                    // -e: the vCPUs keep running the last pass's workload while logging goes off.
                    int round = 0;
                    while (keepRunning && !stopping)
                    {
                        final int passNo = passNumber(overlap ? 200 : 200 + (round & 31));
                        round++;
                        pass(id, vcpu, passNo, p.writePercent(),
                            new AccessOrder(p.pattern(), passPages, p.zipfExponent(), AccessOrder.seed(p.seed(), id, -round)));
                    }
                }
                break;
            }
            default:
                break;
        }
    }

    private static int passNumber(final int n)
    {
        return 1 + (n - 1) % 254;
    }

    /** One pass of vCPU {@code id} over its region; stops early when the run says so (-e). */
    private void pass(final int id, final Vcpu vcpu, final int passNo, final int writePercent, final AccessOrder order)
    {
        final long first = overlap ? 0 : id * pagesPerVcpu;
        final boolean stoppable = current.kind() == StepKind.DISABLE_DIRTY_LOGGING;
        // Per-write bookkeeping was a CAS on the shared written-bits word per page: with a region of
        // its own and harvests only between passes (no ring reaped mid-pass), a vCPU owns its words and
        // gathers a word's bits locally, publishing each word once (a word shared with a neighbour's
        // region at an unaligned boundary still goes through the atomic OR).
        final boolean batchWritten = !overlap && scenario.dirtyRingEntries() == 0;
        int pendingWord = -1;
        long pendingBits = 0;
        int left = sliceLeft[id];
        for (long i = 0; i < passPages; i++)
        {
            final long index = first + order.next(i);
            final int slotIndex = layout.slotOf(index);
            final Memslot slot = layout.slot(slotIndex);
            final long gfn = slot.baseGfn() + (index - layout.indexOf(slotIndex, slot.baseGfn()));
            if (order.coin(writePercent))
            {
                final boolean logged = slot.dirtyLogging();
                vcpu.write(gfn, value(gfn, passNo));
                lastPass.set(index, passNo);
                if (logged)
                {
                    final int word = (int)(index >>> 6);
                    final long bit = 1L << (index & 63);
                    if (batchWritten)
                    {
                        if (word != pendingWord)
                        {
                            publishWritten(pendingWord, pendingBits);
                            pendingWord = word;
                            pendingBits = 0;
                        }
                        pendingBits |= bit;
                    }
                    else if ((writtenSinceHarvest.get(word) & bit) == 0)
                    {
                        writtenSinceHarvest.getAndAccumulate(word, bit, (a, b) -> a | b);
                    }
                }
            }
            else
            {
                vcpu.read(gfn);
            }
            if ((i & (PUBLISH_EVERY - 1)) == PUBLISH_EVERY - 1)
            {
                sampler.publish(id, vcpu.accesses(), vcpu.faults());
            }
            if ((i & (STOP_CHECK_EVERY - 1)) == STOP_CHECK_EVERY - 1 && stopping)
            {
                // Another vCPU or the host could not allocate: the run stops (see the class comment).
                publishWritten(pendingWord, pendingBits);
                return;
            }
            if (--left == 0 || (i & (STOP_CHECK_EVERY - 1)) == STOP_CHECK_EVERY - 1 && hostWaiting)
            {
                left = slice;
                if (pcpus.hasQueuedThreads())
                {
                    // End of the time slice: leave guest mode and the pCPU to a waiting vCPU.
                    vcpu.exitGuest();
                    pcpus.release();
                    pcpus.acquireUninterruptibly();
                }
            }
            if ((i & (PROGRESS_CHUNK - 1)) == PROGRESS_CHUNK - 1)
            {
                progress.advanced(PROGRESS_CHUNK);
                if (stoppable && !keepRunning)
                {
                    publishWritten(pendingWord, pendingBits);
                    sampler.publish(id, vcpu.accesses(), vcpu.faults());
                    sliceLeft[id] = left;
                    return;
                }
            }
        }
        sliceLeft[id] = left;
        publishWritten(pendingWord, pendingBits);
        progress.advanced(passPages & (PROGRESS_CHUNK - 1));
        sampler.publish(id, vcpu.accesses(), vcpu.faults());
    }

    /** ORs a vCPU's gathered written bits into their word (nothing for word -1 or no bits). */
    private void publishWritten(final int word, final long bits)
    {
        if (word >= 0 && bits != 0 && (writtenSinceHarvest.get(word) & bits) != bits)
        {
            writtenSinceHarvest.getAndAccumulate(word, bits, (a, b) -> a | b);
        }
    }

    static long value(final long gfn, final int pass)
    {
        long z = gfn * 0x9E3779B97F4A7C15L + pass;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        return (z ^ (z >>> 27)) | 1;
    }

    /** Property 1 (no lost write) and the MMU's own structural checks, before the VM goes away. */
    private void checkBeforeTeardown()
    {
        long lost = 0;
        long firstLost = -1;
        final long pages = vcpuCount * pagesPerVcpu;
        for (long index = 0; index < pages; index++)
        {
            final int pass = lastPass.get(index);
            if (pass == 0)
            {
                continue;
            }
            final int s = layout.slotOf(index);
            final Memslot slot = layout.slot(s);
            final long gfn = slot.baseGfn() + (index - layout.indexOf(s, slot.baseGfn()));
            if (vm.host().contentOf(slot, gfn) != value(gfn, pass))
            {
                lost++;
                if (firstLost < 0)
                {
                    firstLost = gfn;
                }
            }
        }
        if (lost > 0)
        {
            violations.add(new Violation("no-lost-write", lost + " page(s) do not hold the last value written, " +
                "first gfn 0x" + Long.toHexString(firstLost)));
        }
        SafetyHooks.check(vm, violations);
    }

    private void teardown()
    {
        destroyed = true;
        vm.destroy();
        if (vm.store().liveCount() != 0)
        {
            violations.add(new Violation("no-leak", vm.store().liveCount() +
                " page-table page(s) still allocated after teardown and an RCU barrier"));
        }
    }

    private Map<String, Long> counters()
    {
        final Map<String, Long> m = vm.counters().snapshot();
        m.put("tlb.flush.vcpus", vm.requests().vcpusInterrupted());
        m.put("tlb.flush.request.vcpus", vm.requests().vcpusRequested());
        return m;
    }

    private static Map<String, Long> delta(final Map<String, Long> before, final Map<String, Long> after)
    {
        final Map<String, Long> d = new HashMap<>();
        after.forEach((k, v) -> d.put(k, v - before.getOrDefault(k, 0L)));
        return d;
    }

    private List<Thread> startHostEvents(final Step step)
    {
        final List<Thread> list = new ArrayList<>();
        int n = 0;
        for (final HostEvent e : scenario.host())
        {
            if (!e.appliesTo(step))
            {
                continue;
            }
            final long eventSeed = e.seed() + step.index() * 31L + n++;
            final Thread t = new Thread(() -> hostLoop(e, eventSeed), "host-" + e.kind().yamlName());
            t.setDaemon(true);
            list.add(t);
        }
        hostStop = false;
        list.forEach(Thread::start);
        return list;
    }

    private volatile boolean hostStop;
    /** The first Error a vCPU or host thread hit (an OutOfMemoryError, most likely). */
    private volatile Error fatal;

    private synchronized void fatal(final Error e)
    {
        if (fatal == null)
        {
            fatal = e;
        }
    }

    private void hostLoop(final HostEvent e, final long seed)
    {
        final SplittableRandom random = new SplittableRandom(seed);
        final long periodNanos = (long)(1e9 / e.ratePerSecond());
        final Memslot[] slots = layout.slots();
        final TdpMmuAge age = e.kind() == HostEventKind.AGE ? new TdpMmuAge(vm) : null;
        final TdpIter ageIter = age != null ? new TdpIter(vm.store()) : null;
        final MemslotChurn churn = e.kind() == HostEventKind.MEMSLOT ? new MemslotChurn(vm, slots, e.pagesPerEvent(),
            scenario.memslotChangeEndGfn()) : null;
        while (!hostStop)
        {
            LockSupport.parkNanos(periodNanos);
            if (hostStop)
            {
                return;
            }
            if (churn != null)
            {
                try
                {
                    churn.next();
                }
                catch (final RuntimeException ex)
                {
                    violations.add(new Violation("host-event", "memslot " + churn + ": " + ex));
                    return;
                }
                continue;
            }
            final Memslot slot = slots[random.nextInt(slots.length)];
            final long count = Math.min(e.pagesPerEvent(), slot.npages());
            final long start = slot.baseGfn() + (slot.npages() == count ? 0 : random.nextLong(slot.npages() - count));
            try
            {
                if (e.kind() == HostEventKind.MIGRATE)
                {
                    vm.migrate(slot, start, count);
                }
                else if (age != null)
                {
                    age.clearYoung(ageIter, start, start + count);
                }
                else
                {
                    vm.invalidate(start, start + count);
                }
            }
            catch (final ResourceExhaustedException ex)
            {
                stopRun("host " + e.kind().yamlName() + " of [gfn 0x" + Long.toHexString(start) + ", +" + count + ")", ex);
                return;
            }
            catch (final RuntimeException ex)
            {
                violations.add(new Violation("host-event", e.kind().yamlName() + " of [gfn 0x" +
                    Long.toHexString(start) + ", +" + count + "): " + ex));
                return;
            }
            catch (final Error ex)
            {
                fatal(ex);
                return;
            }
        }
    }

    private void stopHostEvents(final List<Thread> hosts) throws InterruptedException
    {
        hostStop = true;
        for (final Thread t : hosts)
        {
            t.join(TimeUnit.SECONDS.toMillis(30));
        }
    }

    /** Records the first orderly stop; later ones (other vCPUs running out too) add nothing. */
    private void stopRun(final String where, final ResourceExhaustedException cause)
    {
        if (stop.compareAndSet(null, new Stop(where, cause)))
        {
            stopping = true;
        }
    }

    /**
     * After a stop, between steps: lets every vCPU thread out of its loop and waits for it, so no
     * thread touches the VM while it is checked and torn down.
     */
    private void stopVcpuThreads() throws Exception
    {
        shutdown = true;
        awaitBarrier();
        for (final Thread t : threads)
        {
            t.join(TimeUnit.SECONDS.toMillis(30));
            if (t.isAlive())
            {
                throw new IllegalStateException(t.getName() + " did not stop within 30 s after the run stopped");
            }
        }
    }

    private void awaitBarrier() throws Exception
    {
        barrier.await(10, TimeUnit.MINUTES);
    }

    static RecoveryStrategy coreStrategy(final org.tdpmmu.scenarios.model.RecoveryStrategy s)
    {
        return RecoveryStrategy.valueOf(s.name());
    }

    private static org.tdpmmu.scenarios.model.RecoveryStrategy scenarioStrategy(final RecoveryStrategy s)
    {
        return org.tdpmmu.scenarios.model.RecoveryStrategy.valueOf(s.name());
    }

    @Override
    public void close()
    {
        shutdown = true;
        current = null;
        sampler.abandon();
        barrier.reset();
        for (final Thread t : threads)
        {
            t.interrupt();
        }
        vm.close();
    }
}
