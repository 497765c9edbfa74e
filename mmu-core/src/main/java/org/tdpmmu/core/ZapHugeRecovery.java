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
        final TdpIter iter = new TdpIter(mmu.store());
        mmu.lock().readLock();
        mmu.rcu().readLock();
        try
        {
            for (iter.start(mmu.rootPfn(), mmu.rootLevel(), Spte.PG_LEVEL_2M, slot.baseGfn(), slot.endGfn());
                iter.valid(); iter.next())
            {
                if (mmu.condResched(iter, false, true))
                {
                    continue;
                }
                while (iter.level() <= Spte.PG_LEVEL_1G && Spte.isPresentTable(iter.oldSpte(), iter.level()) &&
                    slot.maxMappingLevel(iter.gfn()) == iter.level())
                {
                    if (mmu.zapSpteAtomic(iter))
                    {
                        break;
                    }
                }
            }
        }
        finally
        {
            mmu.rcu().readUnlock();
            mmu.lock().readUnlock();
        }
    }
}
