package org.tdpmmu.core;

/**
 * The 2021 way to disable dirty logging (kernel 5.1x zap_collapsible_spte_range on the TDP MMU):
 * under the read lock, zap every 4 KiB leaf whose gfn could be mapped larger, each zap an atomic
 * zap with its own TLB flush; vCPUs then refault huge pages. The slow case in-place promotion fixed.
 */
final class ZapLeafsRecovery implements HugePageRecovery
{
    @Override
    public String name()
    {
        return "zap_leafs";
    }

    @Override
    public void recover(final TdpMmu mmu, final Memslot slot)
    {
        mmu.walkShared(slot.baseGfn(), slot.endGfn(), Spte.PG_LEVEL_4K, iter ->
        {
            // A lost race leaves the new value in the iterator: look again. Each zap flushes.
            while (iter.level() == Spte.PG_LEVEL_4K && Spte.isPresentLeaf(iter.oldSpte(), iter.level()) &&
                slot.maxMappingLevel(iter.gfn()) > Spte.PG_LEVEL_4K && !mmu.zapSpteAtomic(iter))
            {
                Thread.onSpinWait();
            }
            return false;
        });
    }
}
