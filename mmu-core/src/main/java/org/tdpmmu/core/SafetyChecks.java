package org.tdpmmu.core;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

import org.tdpmmu.concurrency.MmuLock;

/**
 * Checkers of the safety properties of docs/DESIGN.md, for unit tests, stress tests, the
 * scenario runner and jcstress. Each returns a list of violations, empty when the property holds;
 * each message starts with the property ("property 5 (stale translation): ...") and names the gfn,
 * the level and {@link Spte#describe} of the offending entry.
 *
 * <p>The structure walks ({@link #noStaleTranslation}, {@link #noOversizedMapping}, {@link #lookup})
 * hold the MMU lock for write (taken here unless the calling thread already holds it for write) and
 * an RCU read-side section, so no fault, zap, split or promotion runs meanwhile. vCPUs may keep
 * running: their walks only set A/D bits and the lockless fast path only sets W, which no check here
 * depends on. TLB contents are private to each {@link Vcpu} and not checked here; a stale TLB entry
 * shows up as a {@link StaleTranslationException} or a lost write instead.
 *
 * <p>Property 3 (no use after free) needs no checker: every table access goes through
 * {@link PageTableStore}, which raises {@link UseAfterFreeException} on its own.
 */
public final class SafetyChecks
{
    private static final VarHandle LONGS = MethodHandles.arrayElementVarHandle(long[].class);

    private SafetyChecks()
    {
    }

    /** One present leaf SPTE and where it lives. */
    public record Mapping(long gfn, int level, long spte, long tablePfn, int index)
    {
        /** First gfn the leaf covers. */
        public long baseGfn()
        {
            return Spte.roundGfn(gfn, level);
        }

        /** Host pfn the leaf maps {@link #gfn()} to. */
        public long pfn()
        {
            return Spte.pfn(spte) + (gfn - baseGfn());
        }

        @Override
        public String toString()
        {
            return "gfn 0x" + Long.toHexString(gfn) + " mapped by " + Spte.describe(spte, level);
        }
    }

    @FunctionalInterface
    private interface LeafVisitor
    {
        void leaf(long gfn, int level, long spte);
    }

    /**
     * Property 5, no stale translation: every present leaf maps, for every gfn it covers that lies
     * in a memslot, exactly the host pfn {@link HostMemory#resolvePfn} gives now, and that frame is
     * live. Also reports leaves above 1 GiB (no host page is that large). Gfns outside every memslot
     * are left to {@link #noOversizedMapping}. One message per offending leaf.
     */
    public static List<String> noStaleTranslation(final Vm vm)
    {
        final List<String> out = new ArrayList<>();
        final HostMemory host = vm.host();
        final Memslots slots = vm.memslots();
        walkLeaves(vm, (gfn, level, spte) ->
        {
            if (level > Spte.PG_LEVEL_1G)
            {
                out.add("property 5 (stale translation): gfn 0x" + Long.toHexString(gfn) + " level " + level +
                    ": leaf " + Spte.describe(spte, level) + " is larger than any host page");
                return;
            }
            final long pages = Spte.pagesPerLevel(level);
            Memslot slot = null;
            for (long g = gfn; g < gfn + pages; g++)
            {
                if (slot == null || !slot.contains(g))
                {
                    slot = slots.find(g);
                    if (slot == null)
                    {
                        continue;
                    }
                }
                final long actual = Spte.pfn(spte) + (g - gfn);
                final long expected = host.resolvePfn(slot, g);
                final String liveness = frameLiveness(host, actual);
                if (actual != expected || liveness != null)
                {
                    out.add("property 5 (stale translation): gfn 0x" + Long.toHexString(g) + " level " + level +
                        ": leaf " + Spte.describe(spte, level) + " maps it to host pfn 0x" + Long.toHexString(actual) +
                        (actual != expected ? ", but " + slot + " has it at host pfn 0x" + Long.toHexString(expected) :
                            "") + (liveness != null ? "; that frame " + liveness : ""));
                    break;
                }
            }
        });
        return out;
    }

    /**
     * Property 6, no oversized mapping: no leaf outside a memslot (or straddling its end), no leaf
     * larger than {@link Memslot#maxLevelIgnoringLog} allows at its gfn, and in a dirty-logged slot no
     * writable leaf above 4 KiB. Decisions: a write-protected huge leaf may stay mapped in a logged
     * slot when eager splitting is off, as in the kernel; the first write splits it. A writable huge
     * leaf is allowed only while every page it covers is still set in the dirty bitmap (enable with
     * KVM_DIRTY_LOG_INITIALLY_SET protects nothing until the first clear): then no write through it
     * can go unreported, and the clear that takes any of those bits write-protects the leaf.
     *
     * <p>Call it while no {@link DirtyLogging#enable} is in progress: between the log mode switch and
     * the end of enable's write-protection a writable huge leaf is expected.
     */
    public static List<String> noOversizedMapping(final Vm vm)
    {
        final List<String> out = new ArrayList<>();
        final Memslots slots = vm.memslots();
        walkLeaves(vm, (gfn, level, spte) ->
        {
            final Memslot slot = slots.find(gfn);
            final long last = gfn + Spte.pagesPerLevel(level) - 1;
            if (slot == null || !slot.contains(last))
            {
                out.add("property 6 (oversized mapping): gfn 0x" + Long.toHexString(gfn) + " level " + level +
                    ": leaf " + Spte.describe(spte, level) + " covers gfns up to 0x" + Long.toHexString(last) +
                    (slot == null ? " but gfn 0x" + Long.toHexString(gfn) + " is in no memslot" :
                        " beyond the end of " + slot));
                return;
            }
            final int max = slot.maxLevelIgnoringLog(gfn);
            if (level > max)
            {
                out.add("property 6 (oversized mapping): gfn 0x" + Long.toHexString(gfn) + " level " + level +
                    ": leaf " + Spte.describe(spte, level) + " is larger than level " + max + ", the most " + slot +
                    " allows there");
                return;
            }
            if (level > Spte.PG_LEVEL_4K && slot.dirtyLogging() && Spte.isWritable(spte) &&
                !allMarkedDirty(slot, gfn, Spte.pagesPerLevel(level)))
            {
                out.add("property 6 (oversized mapping): gfn 0x" + Long.toHexString(gfn) + " level " + level +
                    ": leaf " + Spte.describe(spte, level) + " is a writable huge page in dirty-logged " + slot);
            }
        });
        return out;
    }

    /** True if every page of [gfn, gfn + pages) has its bit set in the slot's dirty bitmap. */
    private static boolean allMarkedDirty(final Memslot slot, final long gfn, final long pages)
    {
        final DirtyBitmap bitmap = slot.dirtyBitmap();
        for (long g = gfn; g < gfn + pages; g++)
        {
            if (!bitmap.lvBit(g - slot.baseGfn()))
            {
                return false;
            }
        }
        return true;
    }

    /**
     * Property 4, no leak: after {@link Vm#destroy()} (which waits for an RCU barrier) every
     * page-table page is back in the store. Names up to eight leaked table pfns.
     *
     * @throws IllegalStateException if the VM is not destroyed yet.
     */
    public static List<String> noLeak(final Vm vm)
    {
        if (vm.mmu().rootValid())
        {
            throw new IllegalStateException("noLeak needs a destroyed VM: call vm.destroy() first");
        }
        final List<String> out = new ArrayList<>();
        final PageTableStore store = vm.store();
        final long live = store.liveCount();
        if (live == 0)
        {
            return out;
        }
        final StringBuilder sb = new StringBuilder(160);
        sb.append("property 4 (leak): ").append(live).append(" page-table page(s) still live after destroy and an ")
            .append("RCU barrier (allocated ").append(store.allocatedCount()).append(", freed ")
            .append(store.freedCount()).append(", RCU callbacks pending ").append(vm.rcu().pendingCallbacks())
            .append("); live tables:");
        int named = 0;
        for (long pfn = PageTableStore.PFN_BASE; named < 8 && store.ownsPfn(pfn); pfn++)
        {
            final boolean isLive;
            try
            {
                isLive = store.isLive(pfn);
            }
            catch (final IllegalArgumentException neverHandedOut)
            {
                break;
            }
            if (isLive)
            {
                int present = 0;
                for (int i = 0; i < Spte.ENTRIES_PER_TABLE; i++)
                {
                    if (Spte.isPresent(store.lvSpte(pfn, i)))
                    {
                        present++;
                    }
                }
                sb.append(" pfn 0x").append(Long.toHexString(pfn)).append(" (").append(present)
                    .append(" present entries)");
                named++;
            }
        }
        out.add(sb.toString());
        return out;
    }

    /**
     * Nothing left frozen, nothing half-linked: with the MMU lock held for write (so no zap or
     * handle_removed_pt is in flight, the only owners of a frozen entry) no entry reachable from
     * the root is {@link Spte#FROZEN}, and every non-leaf entry points at a live table of the store.
     * A frozen entry left behind is what an error path that gives up half-way through
     * handle_removed_pt or tdp_mmu_zap_spte_atomic would leave; a table pointer to a freed page is
     * what a link undone on the wrong path would leave. One message per bad entry, at most 16.
     */
    public static List<String> noFrozenOrDanglingEntry(final Vm vm)
    {
        final List<String> out = new ArrayList<>();
        final PageTableStore store = vm.store();
        underWriteLock(vm, () ->
        {
            final TdpIter it = new TdpIter(store);
            final TdpMmu mmu = vm.mmu();
            if (!mmu.hasValidRoot())
            {
                return;
            }
            try
            {
                for (it.start(mmu.rootPfn(), mmu.rootLevel(), Spte.PG_LEVEL_4K, 0, vm.memslots().gfnLimit());
                    it.valid() && out.size() < 16; it.next())
                {
                    final long spte = it.oldSpte();
                    if (Spte.isFrozen(spte))
                    {
                        out.add("frozen entry left behind: gfn 0x" + Long.toHexString(it.gfn()) + " level " +
                            it.level() + " (table pfn 0x" + Long.toHexString(it.sptepTable()) + " index " +
                            it.sptepIndex() + ") is " + Spte.describe(spte, it.level()) + " with no zap in flight");
                    }
                    else if (it.level() > Spte.PG_LEVEL_4K && Spte.isPresentTable(spte, it.level()) &&
                        !(store.ownsPfn(Spte.pfn(spte)) && store.isLive(Spte.pfn(spte))))
                    {
                        out.add("half-linked table: gfn 0x" + Long.toHexString(it.gfn()) + " level " + it.level() +
                            " points at table pfn 0x" + Long.toHexString(Spte.pfn(spte)) + ", which is not live");
                        return;
                    }
                }
            }
            catch (final UseAfterFreeException | IllegalArgumentException e)
            {
                out.add("half-linked table: the walk from the root failed: " + e.getMessage());
            }
        });
        return out;
    }

    /**
     * The roots after fast invalidations (TdpMmu#zapAllFast), with no vCPU running, no zapAllFast or
     * eager split in flight, and after an RCU barrier:
     * <ul>
     *   <li>no use after free by a vCPU still on an invalid root: each vCPU's root is in the list,
     *       counts the vCPU's reference, and its table is live at the generation it was allocated
     *       at, so the vCPU's next walk reads memory the root still owns;</li>
     *   <li>each root's count is exactly its holders: the vCPUs on it, plus the TDP MMU for a valid
     *       root (a reference left by a zap or an iterator would keep an invalid root forever);</li>
     *   <li>each invalid root is empty: its zap is done and nothing was installed after it;</li>
     *   <li>no invalid root's tables leak: every live page-table page is reachable from a root in
     *       the list or sits in a vCPU's memory cache.</li>
     * </ul>
     * One message per problem. Property checks 5 and 6 look at the valid root only: no vCPU can use an
     * invalid one once it has taken the reload request.
     */
    public static List<String> roots(final Vm vm)
    {
        final List<String> out = new ArrayList<>();
        final PageTableStore store = vm.store();
        final List<TdpMmuRoots.Root> roots = vm.mmu().roots().snapshot();
        final List<Vcpu> vcpus = vm.vcpus();
        underWriteLock(vm, () ->
        {
            long reachable = 0;
            for (final TdpMmuRoots.Root root : roots)
            {
                int holders = root.invalid() ? 0 : 1;
                for (final Vcpu v : vcpus)
                {
                    if (v.root() == root)
                    {
                        holders++;
                    }
                }
                if (root.refs() != holders)
                {
                    out.add("roots: " + root + " has " + root.refs() + " reference(s) but " + holders +
                        " holder(s) (vCPUs on it" + (root.invalid() ? ")" : ", and the TDP MMU)"));
                }
                if (!store.isLive(root.pfn()) || store.generation(root.pfn()) != root.generation())
                {
                    out.add("roots: " + root + " is in the list but its table was freed");
                    continue;
                }
                final long[] n = {1};
                final boolean[] present = {false};
                final TdpIter it = new TdpIter(store);
                try
                {
                    for (it.start(root.pfn(), vm.mmu().rootLevel(), Spte.PG_LEVEL_4K, 0, vm.memslots().gfnLimit());
                        it.valid(); it.next())
                    {
                        if (Spte.isPresent(it.oldSpte()))
                        {
                            present[0] = true;
                            if (it.level() > Spte.PG_LEVEL_4K && Spte.isPresentTable(it.oldSpte(), it.level()))
                            {
                                n[0]++;
                            }
                        }
                    }
                }
                catch (final UseAfterFreeException e)
                {
                    out.add("roots: the walk of " + root + " read a freed table: " + e.getMessage());
                }
                reachable += n[0];
                if (root.invalid() && present[0])
                {
                    out.add("roots: invalid " + root + " still has present entries after its zap (" + (n[0] - 1) +
                        " table(s) below it)");
                }
            }
            for (final Vcpu v : vcpus)
            {
                final TdpMmuRoots.Root r = v.root();
                if (r != null && !roots.contains(r))
                {
                    out.add("roots (use after free): vCPU " + v.id() + " holds " + r + ", which is no longer in " +
                        "the list" + (store.isLive(r.pfn()) && store.generation(r.pfn()) == r.generation() ? "" :
                        "; its table was freed under it"));
                }
                reachable += v.memoryCache().size();
            }
            final long live = store.liveCount();
            if (live != reachable)
            {
                out.add("roots (leak): " + live + " page-table page(s) live but " + reachable + " reachable from the " +
                    roots.size() + " root(s) in the list or held in vCPU memory caches");
            }
        });
        return out;
    }

    /** Properties 5 and 6 in one list (two walks). */
    public static List<String> structure(final Vm vm)
    {
        final List<String> out = noStaleTranslation(vm);
        out.addAll(noOversizedMapping(vm));
        return out;
    }

    /** The present leaf mapping {@code gfn} now, or null (MMU write lock + RCU, as the checks). */
    public static Mapping lookup(final Vm vm, final long gfn)
    {
        final Mapping[] found = new Mapping[1];
        underWriteLock(vm, () -> found[0] = lookupLocked(vm, gfn));
        return found[0];
    }

    /** Page-table pages reachable from the root, the root included (MMU write lock + RCU). */
    public static long reachableTables(final Vm vm)
    {
        final long[] n = {1};
        underWriteLock(vm, () ->
        {
            final TdpIter it = new TdpIter(vm.store());
            final TdpMmu mmu = vm.mmu();
            if (!mmu.hasValidRoot())
            {
                return;
            }
            for (it.start(mmu.rootPfn(), mmu.rootLevel(), Spte.PG_LEVEL_4K, 0, vm.memslots().gfnLimit());
                it.valid(); it.next())
            {
                if (it.level() > Spte.PG_LEVEL_4K && Spte.isPresentTable(it.oldSpte(), it.level()))
                {
                    n[0]++;
                }
            }
        });
        return n[0];
    }

    private static Mapping lookupLocked(final Vm vm, final long gfn)
    {
        final TdpMmu mmu = vm.mmu();
        final PageTableStore store = vm.store();
        if (!mmu.hasValidRoot())
        {
            return null;
        }
        long table = mmu.rootPfn();
        for (int level = mmu.rootLevel(); level >= Spte.PG_LEVEL_4K; level--)
        {
            final int index = Spte.index(gfn, level);
            final long spte = store.lvSpte(table, index);
            if (!Spte.isPresent(spte))
            {
                return null;
            }
            if (Spte.isLastAtLevel(spte, level))
            {
                return new Mapping(gfn, level, spte, table, index);
            }
            table = Spte.pfn(spte);
        }
        return null;
    }

    private static String describeMapping(final Vm vm, final long gfn)
    {
        final Mapping m = lookupLocked(vm, gfn);
        return m == null ? "not mapped" : "mapped by " + Spte.describe(m.spte(), m.level());
    }

    private static void walkLeaves(final Vm vm, final LeafVisitor visitor)
    {
        underWriteLock(vm, () ->
        {
            final TdpIter it = new TdpIter(vm.store());
            final TdpMmu mmu = vm.mmu();
            if (!mmu.hasValidRoot())
            {
                return;
            }
            for (it.start(mmu.rootPfn(), mmu.rootLevel(), Spte.PG_LEVEL_4K, 0, vm.memslots().gfnLimit());
                it.valid(); it.next())
            {
                final long spte = it.oldSpte();
                if (Spte.isPresentLeaf(spte, it.level()))
                {
                    visitor.leaf(it.gfn(), it.level(), spte);
                }
            }
        });
    }

    private static void underWriteLock(final Vm vm, final Runnable body)
    {
        final MmuLock lock = vm.lock();
        if (lock.heldForRead())
        {
            throw new IllegalStateException("SafetyChecks walk the paging structure under the MMU lock for write; " +
                "the calling thread holds it for read");
        }
        final boolean take = !lock.heldForWrite();
        if (take)
        {
            lock.writeLock();
        }
        try
        {
            if (!vm.mmu().rootValid())
            {
                throw new IllegalStateException("the VM is destroyed: its paging structure is gone");
            }
            vm.rcu().readLock();
            try
            {
                body.run();
            }
            finally
            {
                vm.rcu().readUnlock();
            }
        }
        finally
        {
            if (take)
            {
                lock.writeUnlock();
            }
        }
    }

    /** Null if the frame is live, else why not. */
    private static String frameLiveness(final HostMemory host, final long pfn)
    {
        try
        {
            return host.isLive(pfn) ? null : "is freed (dead)";
        }
        catch (final IllegalArgumentException ex)
        {
            return "was never allocated";
        }
    }

    private static Memslot slotOf(final Memslot[] slots, final long gfn)
    {
        for (final Memslot s : slots)
        {
            if (s.contains(gfn))
            {
                return s;
            }
        }
        throw new IllegalArgumentException("gfn 0x" + Long.toHexString(gfn) + " is in no tracked memslot");
    }

    /**
     * Point 4 for a deleted memslot: after the delete returned, no SPTE and no vCPU TLB entry maps a
     * gfn of the deleted slot that no current slot holds, nor any host frame that backed the slot.
     * Built before the delete (it records the slot's frames then), checked after it. The TLB half
     * reads each vCPU's TLB, so check while the vCPU threads are stopped; a vCPU with a flush
     * pending is skipped (it was out of guest mode and drops its TLB at its next VM entry).
     */
    public static final class DeletedSlotCheck
    {
        private final Memslot slot;
        private final long[] frames;

        /** Records {@code slot}'s range and the host frames behind it now. */
        public DeletedSlotCheck(final Vm vm, final Memslot slot)
        {
            this.slot = slot;
            final long[] f = new long[(int)slot.npages()];
            for (long g = slot.baseGfn(); g < slot.endGfn(); g++)
            {
                f[(int)(g - slot.baseGfn())] = vm.host().resolvePfn(slot, g);
            }
            java.util.Arrays.sort(f);
            this.frames = f;
        }

        /** @return one message per SPTE or TLB entry that still maps the deleted slot, empty if none. */
        public List<String> check(final Vm vm)
        {
            final List<String> out = new ArrayList<>();
            walkLeaves(vm, (gfn, level, spte) ->
            {
                final String why = offends(vm, gfn, level, Spte.pfn(spte));
                if (why != null)
                {
                    out.add("deleted " + slot + ": leaf " + Spte.describe(spte, level) + " at gfn 0x" +
                        Long.toHexString(gfn) + " " + why);
                }
            });
            for (final Vcpu vcpu : vm.vcpus())
            {
                if (vcpu.tlbFlushPending())
                {
                    // Out of guest mode at the flush: it drops the whole TLB at its next entry.
                    continue;
                }
                vcpu.forEachTlbEntry((gfn, level, pfn) ->
                {
                    final String why = offends(vm, gfn, level, pfn);
                    if (why != null)
                    {
                        out.add("deleted " + slot + ": vCPU " + vcpu.id() + " TLB entry for gfn 0x" +
                            Long.toHexString(gfn) + " level " + level + " " + why);
                    }
                });
            }
            return out;
        }

        private String offends(final Vm vm, final long gfn, final int level, final long pfn)
        {
            final long pages = Spte.pagesPerLevel(level);
            for (long g = Math.max(gfn, slot.baseGfn()); g < Math.min(gfn + pages, slot.endGfn()); g++)
            {
                final Memslot now = vm.memslots().find(g);
                if (now == null || now.invalid())
                {
                    return "maps gfn 0x" + Long.toHexString(g) + ", which is in no memslot now";
                }
            }
            // A frame given to a slot created since is that slot's to map (the stale-translation check covers it).
            final Memslot holder = vm.memslots().find(gfn);
            if (holder != null && !holder.invalid() && vm.host().resolvePfn(holder, gfn) == pfn)
            {
                return null;
            }
            final int at = java.util.Arrays.binarySearch(frames, pfn);
            final int next = at >= 0 ? at : -at - 1;
            if (at >= 0 || (next < frames.length && frames[next] < pfn + pages))
            {
                return "maps host pfn 0x" + Long.toHexString(at >= 0 ? pfn : frames[next]) + ", a frame of the deleted slot";
            }
            return null;
        }
    }

    /**
     * Property 1, no lost write: remembers, per gfn, the last value its (single) test writer wrote,
     * and checks the host frame the gfn is backed by holds it. Call {@link #wrote} from the writer of
     * that gfn after {@code vcpu.write} returns, and {@link #check} once the writers have stopped
     * (joined). One long per page; {@link Long#MIN_VALUE} is reserved as "never written".
     */
    public static final class LostWriteTracker
    {
        private static final long NONE = Long.MIN_VALUE;

        private final Memslot[] slots;
        private final long[][] values;

        /** Tracks every page of {@code slots}. */
        public LostWriteTracker(final Memslot... slots)
        {
            if (slots.length == 0)
            {
                throw new IllegalArgumentException("LostWriteTracker needs at least one memslot");
            }
            this.slots = slots.clone();
            this.values = new long[slots.length][];
            for (int i = 0; i < slots.length; i++)
            {
                if (slots[i].npages() > Integer.MAX_VALUE - 8)
                {
                    throw new IllegalArgumentException(slots[i] + " is too large to track");
                }
                values[i] = new long[(int)slots[i].npages()];
                java.util.Arrays.fill(values[i], NONE);
            }
        }

        /** Records that {@code value} is now the last value written to {@code gfn}. */
        public void wrote(final long gfn, final long value)
        {
            if (value == NONE)
            {
                throw new IllegalArgumentException("Long.MIN_VALUE is reserved by LostWriteTracker");
            }
            for (int i = 0; i < slots.length; i++)
            {
                if (slots[i].contains(gfn))
                {
                    LONGS.setRelease(values[i], (int)(gfn - slots[i].baseGfn()), value);
                    return;
                }
            }
            throw new IllegalArgumentException("gfn 0x" + Long.toHexString(gfn) + " is in no tracked memslot");
        }

        /** True if a write to {@code gfn} was recorded. */
        public boolean written(final long gfn)
        {
            final Memslot s = slotOf(slots, gfn);
            return (long)LONGS.getAcquire(values[indexOf(s)], (int)(gfn - s.baseGfn())) != NONE;
        }

        /** The last value recorded for {@code gfn}. @throws IllegalStateException if none was. */
        public long expected(final long gfn)
        {
            final Memslot s = slotOf(slots, gfn);
            final long v = (long)LONGS.getAcquire(values[indexOf(s)], (int)(gfn - s.baseGfn()));
            if (v == NONE)
            {
                throw new IllegalStateException("no write to gfn 0x" + Long.toHexString(gfn) + " was recorded");
            }
            return v;
        }

        /** Pages with at least one recorded write. */
        public long writtenPages()
        {
            long n = 0;
            for (final long[] v : values)
            {
                for (int p = 0; p < v.length; p++)
                {
                    if ((long)LONGS.getAcquire(v, p) != NONE)
                    {
                        n++;
                    }
                }
            }
            return n;
        }

        /** Every written page whose host frame does not hold its last written value. */
        public List<String> check(final Vm vm)
        {
            final List<String> out = new ArrayList<>();
            final HostMemory host = vm.host();
            for (int i = 0; i < slots.length; i++)
            {
                final Memslot slot = slots[i];
                final long[] v = values[i];
                for (int p = 0; p < v.length; p++)
                {
                    final long want = (long)LONGS.getAcquire(v, p);
                    if (want == NONE)
                    {
                        continue;
                    }
                    final long gfn = slot.baseGfn() + p;
                    final long have = host.contentOf(slot, gfn);
                    if (have != want)
                    {
                        final String[] where = {"the VM is destroyed"};
                        if (vm.mmu().rootValid())
                        {
                            underWriteLock(vm, () -> where[0] = describeMapping(vm, gfn));
                        }
                        out.add("property 1 (lost write): gfn 0x" + Long.toHexString(gfn) + " of " + slot +
                            " holds 0x" + Long.toHexString(have) + " in host pfn 0x" +
                            Long.toHexString(host.resolvePfn(slot, gfn)) + ", but its last write was 0x" +
                            Long.toHexString(want) + "; " + where[0]);
                    }
                }
            }
            return out;
        }

        private int indexOf(final Memslot s)
        {
            for (int i = 0; i < slots.length; i++)
            {
                if (slots[i] == s)
                {
                    return i;
                }
            }
            throw new IllegalArgumentException(s + " is not tracked");
        }
    }

    /**
     * Property 2, no missed dirty page, for one memslot. A logical clock (an {@link AtomicLong},
     * shareable between trackers) orders writes and harvests:
     * <ul>
     *   <li>a writer calls {@link #beginWrite} just before {@code vcpu.write} of a logged page and
     *       {@link #endWrite} just after it returns;</li>
     *   <li>a harvester calls {@link #beginHarvest} before {@code getDirtyLog} and {@link #endHarvest}
     *       with the pages it reported once the harvest is complete: after {@code getDirtyLog(slot,
     *       false)}, or after {@code getDirtyLog(slot, true)} and the {@code clearDirtyLog} that
     *       re-protects them (the user may copy a page only after that).</li>
     * </ul>
     * {@link #check} reports every page whose last write started after the end of the last harvest
     * that reported it although some harvest started after that write had finished. Only the last
     * write of a page matters: a harvest reporting the page later covers the earlier ones.
     *
     * <p>Property 7, no extra dirty page: {@link #endHarvest} also checks each page it is given
     * against the writes, and {@link #extra} lists every report of a page no write justifies: one
     * never written, or whose last write had finished before the previous harvest that reported
     * it began (that harvest covered it). Allowed, as KVM documents: the all-ones first harvest
     * after an enable with KVM_DIRTY_LOG_INITIALLY_SET ({@link #initiallySet}), until a harvest
     * has reported the page once. A write the clock cannot place (overwritten by a later write
     * that began after the harvest ended) counts as justifying, so the check never reports falsely.
     * Allocation-free after construction but on a violation: four longs per page.
     */
    public static final class DirtyLogTracker
    {
        private final Memslot slot;
        private final AtomicLong clock;
        private final long[] writeStart;
        private final long[] writeEnd;
        private final long[] reportedEnd;
        /** Start tick of the last harvest that reported each page (property 7). */
        private final long[] reportedStart;
        /** Pages an initially-set enable reported dirty without a write, until first harvested. */
        private final java.util.BitSet initiallySet;
        private final List<String> extra = new java.util.concurrent.CopyOnWriteArrayList<>();
        private volatile long lastHarvestStart;
        private volatile long harvests;

        public DirtyLogTracker(final Memslot slot)
        {
            this(slot, new AtomicLong());
        }

        /** @param clock a clock shared with other trackers (ticks start after its current value). */
        public DirtyLogTracker(final Memslot slot, final AtomicLong clock)
        {
            if (slot.npages() > Integer.MAX_VALUE - 8)
            {
                throw new IllegalArgumentException(slot + " is too large to track");
            }
            this.slot = slot;
            this.clock = clock;
            final int n = (int)slot.npages();
            this.writeStart = new long[n];
            this.writeEnd = new long[n];
            this.reportedEnd = new long[n];
            this.reportedStart = new long[n];
            this.initiallySet = new java.util.BitSet(n);
        }

        /** Logging was enabled with KVM_DIRTY_LOG_INITIALLY_SET: every page may be reported once unwritten. */
        public void initiallySet()
        {
            synchronized (initiallySet)
            {
                initiallySet.set(0, writeStart.length);
            }
        }

        /** Property 7 violations found by the harvests so far (see the class comment). */
        public List<String> extra()
        {
            return List.copyOf(extra);
        }

        /** Before {@code vcpu.write(gfn, ..)}: @return the write's start tick. */
        public long beginWrite(final long gfn)
        {
            final long t = clock.incrementAndGet();
            LONGS.setRelease(writeStart, page(gfn), t);
            return t;
        }

        /** After {@code vcpu.write(gfn, ..)} returned. */
        public void endWrite(final long gfn)
        {
            LONGS.setRelease(writeEnd, page(gfn), clock.incrementAndGet());
        }

        /** Before the harvest's {@code getDirtyLog}. @return its start tick. */
        public long beginHarvest()
        {
            final long t = clock.incrementAndGet();
            lastHarvestStart = t;
            return t;
        }

        /**
         * After the harvest completed; bit i of {@code bitmap} is page baseGfn + i, as
         * {@code getDirtyLog} returns it. Harvests of one slot are serialised (one harvester).
         *
         * @return pages reported.
         */
        public long endHarvest(final long[] bitmap)
        {
            final long t = clock.incrementAndGet();
            long reported = 0;
            for (int w = 0; w < bitmap.length; w++)
            {
                long bits = bitmap[w];
                while (bits != 0)
                {
                    final int p = (w << 6) + Long.numberOfTrailingZeros(bits);
                    bits &= bits - 1;
                    if (p >= writeStart.length)
                    {
                        throw new IllegalArgumentException("dirty bitmap reports page " + p + " outside " + slot);
                    }
                    checkJustified(p, t);
                    LONGS.setRelease(reportedEnd, p, t);
                    LONGS.setRelease(reportedStart, p, lastHarvestStart);
                    reported++;
                }
            }
            harvests = harvests + 1;
            return reported;
        }

        /** Property 7 for page {@code p} reported by the harvest ending at tick {@code end}. */
        private void checkJustified(final int p, final long end)
        {
            synchronized (initiallySet)
            {
                if (initiallySet.get(p))
                {
                    initiallySet.clear(p);
                    return;
                }
            }
            final long ws = (long)LONGS.getAcquire(writeStart, p);
            final long we = (long)LONGS.getAcquire(writeEnd, p);
            final long prev = (long)LONGS.getAcquire(reportedStart, p);
            if (ws != 0 && (ws > end || we < ws || we > prev))
            {
                // Unplaceable (a later write overwrote it), in flight, or after the last report began.
                return;
            }
            extra.add("property 7 (extra dirty page): gfn 0x" + Long.toHexString(slot.baseGfn() + p) + " of " + slot +
                " was reported by the harvest ending at tick " + end + (ws == 0 ? " but never written" :
                " but its last write ended at tick " + we + ", before the harvest that reported it at tick " + prev +
                " began"));
        }

        public long harvests()
        {
            return harvests;
        }

        /** Missed dirty pages; call once writers and the harvester have stopped. */
        public List<String> check()
        {
            return check(null);
        }

        /** As {@link #check()}, naming the SPTE that maps each missed page now. */
        public List<String> check(final Vm vm)
        {
            final List<String> out = new ArrayList<>();
            final long lastStart = lastHarvestStart;
            for (int p = 0; p < writeStart.length; p++)
            {
                final long ws = (long)LONGS.getAcquire(writeStart, p);
                if (ws == 0)
                {
                    continue;
                }
                final long we = (long)LONGS.getAcquire(writeEnd, p);
                final long rep = (long)LONGS.getAcquire(reportedEnd, p);
                if (we < ws || ws < rep || lastStart < we)
                {
                    // Still in flight, covered by a harvest, or no harvest began after it finished.
                    continue;
                }
                final long gfn = slot.baseGfn() + p;
                String where = "";
                if (vm != null && vm.mmu().rootValid())
                {
                    final String[] w = new String[1];
                    underWriteLock(vm, () -> w[0] = describeMapping(vm, gfn));
                    where = "; " + w[0];
                }
                out.add("property 2 (missed dirty page): gfn 0x" + Long.toHexString(gfn) + " of " + slot +
                    " was written at ticks " + ws + ".." + we + ", the harvest that began at tick " + lastStart +
                    " did not report it and the last harvest that did ended at tick " + rep + where);
            }
            return out;
        }

        private int page(final long gfn)
        {
            if (!slot.contains(gfn))
            {
                throw new IllegalArgumentException("gfn 0x" + Long.toHexString(gfn) + " is not in " + slot);
            }
            return (int)(gfn - slot.baseGfn());
        }
    }
}
