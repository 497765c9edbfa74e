package org.tdpmmu.stress;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.L_Result;
import org.tdpmmu.core.Backing;
import org.tdpmmu.core.Memslot;
import org.tdpmmu.core.Vcpu;
import org.tdpmmu.core.Vm;

/**
 * Two faults on one gfn of an empty VM: both vCPUs walk down, find nothing, and race to link the
 * same three missing tables and then to install the same leaf, each with a cmpxchg under the MMU
 * read lock (kernel: kvm_tdp_mmu_map, tdp_mmu_link_sp, tdp_mmu_set_spte_atomic). Every lost race
 * must free its table and retry; the winner's translation is the one both vCPUs end up using.
 */
@JCStressTest
@Description("Two vCPUs fault on the same missing gfn: one translation, no leaked table, no lost write.")
@Outcome(id = "read-0", expect = ACCEPTABLE,
    desc = "The reader's access came first: it read the frame's initial 0, then the write landed.")
@Outcome(id = "read-written", expect = ACCEPTABLE,
    desc = "The write landed first: the reader read it through the shared translation.")
@Outcome(id = Probe.LEAK, expect = FORBIDDEN,
    desc = "A table that lost its link race (or was overwritten by a non-atomic store) was never freed.")
@Outcome(id = Probe.LOST_WRITE, expect = FORBIDDEN,
    desc = "The written value is not in the frame backing the gfn.")
@Outcome(id = Probe.STALE_PFN, expect = FORBIDDEN, desc = "The installed leaf maps a frame that does not back the gfn.")
@Outcome(expect = FORBIDDEN, desc = "An exception inside the MMU, the gfn left unmapped, or a value nobody wrote.")
@State
public class TwoFaultsOneGfn
{
    private static final long GFN = 600;
    private static final long VALUE = 0x11;

    private final Vm vm = StressVm.create();
    private final Rendezvous rendezvous = new Rendezvous();
    private final Memslot slot = vm.addMemslot(0, 1024, Backing.PAGE_4K);
    private final Vcpu writer = vm.createVcpu();
    private final Vcpu reader = vm.createVcpu();
    private String writerFailure;
    private String readerFailure;
    private long read;

    @Actor
    public void writer()
    {
        rendezvous.meet(0);
        writerFailure = Probe.guestWrite(writer, GFN, VALUE);
    }

    @Actor
    public void reader()
    {
        rendezvous.meet(1);
        try
        {
            read = reader.read(GFN);
        }
        catch (final Throwable t)
        {
            readerFailure = Probe.classify(t);
        }
        finally
        {
            reader.exitGuest();
        }
    }

    @Arbiter
    public void arbiter(final L_Result r)
    {
        r.r1 = outcome();
    }

    private String outcome()
    {
        if (writerFailure != null)
        {
            return writerFailure;
        }
        if (readerFailure != null)
        {
            return readerFailure;
        }
        try
        {
            if (!Probe.mapped(vm, GFN))
            {
                return "unmapped";
            }
            if (Probe.stalePfn(vm, slot, GFN))
            {
                return Probe.STALE_PFN;
            }
            if (Probe.content(vm, slot, GFN) != VALUE)
            {
                return Probe.LOST_WRITE;
            }
            if (Probe.leakedAfterDestroy(vm) != 0)
            {
                return Probe.LEAK;
            }
        }
        catch (final Throwable t)
        {
            return Probe.classify(t);
        }
        return read == 0 ? "read-0" : read == VALUE ? "read-written" : "read-garbage";
    }
}
