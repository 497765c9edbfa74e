package org.tdpmmu.scenarios.sim;

import java.util.Map;

import org.tdpmmu.core.DirtyLogging;
import org.tdpmmu.core.Memslot;
import org.tdpmmu.core.Spte;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;
import org.tdpmmu.scenarios.model.RecoveryStrategy;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.model.SlotConfig;

/**
 * A scenario's VM in the model, driven one access and one ioctl at a time from a single thread, so
 * a replay is deterministic and its dirty bitmaps can be compared bit for bit with a real KVM's
 * (kvm-check). The VM, its slots and its sizing are the scenario engine's ({@link
 * ScenarioRun#coreConfig}); accesses come from {@link AccessScript}; writes store the engine's
 * values.
 */
public final class ModelReplay implements AutoCloseable
{
    private final Vm vm;
    private final DirtyLogging logging;
    private final GuestLayout layout;
    private final Vcpu[] vcpus;

    /** @param vcpus vCPUs to create; a replay may run several scenario vCPUs' passes on one. */
    public ModelReplay(final Scenario scenario, final int vcpus)
    {
        this.vm = new Vm(ScenarioRun.coreConfig(scenario).withMaxVcpus(Math.max(vcpus, scenario.vm().vcpus())));
        final Memslot[] slots = new Memslot[scenario.vm().slots().size()];
        for (int i = 0; i < slots.length; i++)
        {
            final SlotConfig s = scenario.vm().slots().get(i);
            slots[i] = vm.addMemslot(s.baseGfn(), s.pages(), ScenarioRun.coreBacking(s));
        }
        this.layout = new GuestLayout(slots);
        this.logging = new DirtyLogging(vm);
        this.vcpus = new Vcpu[vcpus];
        for (int i = 0; i < vcpus; i++)
        {
            this.vcpus[i] = vm.createVcpu();
        }
    }

    /** Runs {@code accesses} ({@link AccessScript} encoding) on vCPU {@code vcpu}, then leaves guest mode. */
    public void pass(final int vcpu, final long[] accesses, final int passNo)
    {
        final Vcpu v = vcpus[vcpu];
        try
        {
            for (final long a : accesses)
            {
                final long gfn = layout.gfnOf(AccessScript.index(a));
                if (AccessScript.isWrite(a))
                {
                    v.write(gfn, ScenarioRun.value(gfn, passNo));
                }
                else
                {
                    v.read(gfn);
                }
            }
        }
        finally
        {
            v.exitGuest();
        }
    }

    /** Dirty logging on for every slot: {@code dbit} picks D-bit over write-protect logging. */
    public void enable(final boolean dbit, final boolean eagerSplit, final boolean initiallySet)
    {
        for (final Memslot slot : layout.slots())
        {
            logging.enable(slot, dbit ? Memslot.LOG_DBIT : Memslot.LOG_WRPROT, eagerSplit, initiallySet);
        }
    }

    /** KVM_GET_DIRTY_LOG of every slot, in slot order. */
    public long[][] get(final boolean manualProtect)
    {
        final Memslot[] slots = layout.slots();
        final long[][] out = new long[slots.length][];
        for (int i = 0; i < slots.length; i++)
        {
            out[i] = logging.getDirtyLog(slots[i], manualProtect);
        }
        return out;
    }

    /** KVM_CLEAR_DIRTY_LOG of every slot with the bits of {@code masks[slot]}. */
    public void clear(final long[][] masks)
    {
        final Memslot[] slots = layout.slots();
        for (int i = 0; i < slots.length; i++)
        {
            logging.clearDirtyLog(slots[i], 0, masks[i]);
        }
    }

    public void disable(final RecoveryStrategy strategy)
    {
        for (final Memslot slot : layout.slots())
        {
            if (slot.dirtyLogging())
            {
                logging.disable(slot, ScenarioRun.coreStrategy(strategy).recovery());
            }
        }
    }

    /** The MMU's counters now (names as in the reports). */
    public Map<String, Long> counters()
    {
        final Map<String, Long> m = vm.counters().snapshot();
        m.put("tlb.flush.vcpus", vm.requests().vcpusInterrupted());
        m.put("tlb.flush.request.vcpus", vm.requests().vcpusRequested());
        return m;
    }

    /** Present leaves mapped now at 4 KiB, 2 MiB and 1 GiB (KVM's pages_4k, pages_2m, pages_1g). */
    public long[] leafCounts()
    {
        final long[] n = new long[3];
        for (final Memslot slot : layout.slots())
        {
            vm.mmu().walkShared(slot.baseGfn(), slot.endGfn(), Spte.PG_LEVEL_4K, iter ->
            {
                if (iter.level() <= 3 && Spte.isPresentLeaf(iter.oldSpte(), iter.level()))
                {
                    n[iter.level() - 1]++;
                }
                return false;
            });
        }
        return n;
    }

    @Override
    public void close()
    {
        vm.destroy();
        vm.close();
    }
}
