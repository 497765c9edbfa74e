package org.tdpmmu.explore;

import org.tdpmmu.stress.HarvestVsSlotDelete;

/**
 * The catalogue's {@link HarvestVsSlotDelete} (a subclass: same VM, actors, arbiter, outcomes) with
 * KVM_X86_QUIRK_SLOT_ZAP_ALL off, so the delete flushes the slot by zapping its range under the
 * write lock (kvm_arch_flush_shadow_memslot without the quirk) rather than by a fast invalidation.
 * The race is the harvest's slots_lock and slot re-lookup against the delete's free of the slot's
 * bitmap, and the flush sits between the swap and that free under slots_lock either way, so it is
 * the same race. With the quirk on, the zap of the invalidated root walks its tables 4 KiB first
 * (handle_removed_pt's 512-entry freeze loops, then the root's passes), which Lincheck's loop
 * heuristic takes for a livelock of every unfinished thread: the harvest waits for slots_lock
 * while the zap loops. The slot is one bitmap word ({@value #PAGES} pages, the catalogue's is 1,024):
 * the flush's walk of its range then fits within {@link LoopsBeforeSwitch} instead of being cut
 * into forced switches every ten entries (which made one schedule cost seconds). Model checker only.
 */
@LoopsBeforeSwitch(128)
public class HarvestVsSlotRangeZap extends HarvestVsSlotDelete
{
    static final long PAGES = 64;

    public HarvestVsSlotRangeZap()
    {
        super(false, PAGES);
    }
}
