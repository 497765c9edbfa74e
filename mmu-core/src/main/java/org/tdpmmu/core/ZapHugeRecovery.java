package org.tdpmmu.core;

/**
 * The 2022 way (kernel: kvm_tdp_mmu_zap_collapsible_sptes): under the read lock, zap each present
 * non-leaf entry at exactly the largest level the slot and backing allow there, so a vCPU refaults
 * one huge page; each zap flushes remote TLBs. Child tables go through handle_removed_pt and RCU.
 */
final class ZapHugeRecovery implements HugePageRecovery
{
    @Override
    public String name()
    {
        return "zap_huge";
    }

    @Override
    public void recover(final TdpMmu mmu, final Memslot slot)
    {
        mmu.walkShared(slot.baseGfn(), slot.endGfn(), Spte.PG_LEVEL_2M, iter ->
        {
            while (iter.level() <= Spte.PG_LEVEL_1G && Spte.isPresentTable(iter.oldSpte(), iter.level()) &&
                slot.maxMappingLevel(iter.gfn()) == iter.level() && !mmu.zapSpteAtomic(iter))
            {
                Thread.onSpinWait();
            }
            return false;
        });
    }
}
