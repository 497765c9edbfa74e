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
 * A vCPU with the gfn in its TLB writes and reads it back while the host migrates the page. The
 * invalidation zaps the SPTE and then flushes remote TLBs, waiting until every vCPU in guest mode
 * has acknowledged (kernel: kvm_flush_remote_tlbs, KVM_REQ_TLB_FLUSH checked at VM entry) before
 * the old frame is copied and freed. A translation the vCPU cached, or filled by a walk just before
 * the zap, must be gone before the frame goes away. The vCPU keeps writing until the migration has
 * returned and then writes once more, so every phase of the migration meets a TLB fill or hit.
 */
@JCStressTest
@Description("A remote TLB flush against a TLB fill: no stale translation survives the invalidation.")
@Outcome(id = "ok", expect = ACCEPTABLE,
    desc = "Every write reached the frame that backs the gfn (directly, or the old frame before the copy); the last was read back.")
@Outcome(id = Probe.STALE_TRANSLATION, expect = FORBIDDEN,
    desc = "The vCPU accessed the freed old frame through its TLB: the zap was not followed by a flush.")
@Outcome(id = Probe.LOST_WRITE, expect = FORBIDDEN,
    desc = "The last write went to the old frame after the migration copied it: a stale TLB entry outlived the zap.")
@Outcome(id = "read-back-wrong", expect = FORBIDDEN, desc = "The vCPU read back something other than what it wrote.")
@Outcome(expect = FORBIDDEN, desc = "Any other exception, a stale SPTE, or a leaked table.")
@State
public class FlushVsTlbFill
{
    private static final long GFN = 7;
    /** Upper bound on the writes while the migration runs (it normally ends long before). */
    private static final int MAX_WRITES = 4096;

    private final Vm vm = StressVm.create();
    private final Rendezvous rendezvous = new Rendezvous();
    private final Memslot slot = vm.addMemslot(0, 1024, Backing.PAGE_4K);
    private final Vcpu vcpu = vm.createVcpu();
    private long readBack;
    private long lastWritten;
    private volatile boolean migrated;
    private String vcpuFailure;
    private String hostFailure;

    public FlushVsTlbFill()
    {
        // Fill the TLB; it survives the exit (VPID-tagged TLBs are not flushed on VM exit).
        vcpu.read(GFN);
        vcpu.exitGuest();
    }

    @Actor
    public void vcpu()
    {
        rendezvous.meet(0);
        try
        {
            long value = 1;
            do
            {
                vcpu.write(GFN, value++);
            }
            while (!migrated && value < MAX_WRITES);
            // One write after the migration returned: it must reach the new frame.
            vcpu.write(GFN, value);
            lastWritten = value;
            readBack = vcpu.read(GFN);
        }
        catch (final Throwable t)
        {
            vcpuFailure = Probe.classify(t);
        }
        finally
        {
            vcpu.exitGuest();
        }
    }

    @Actor
    public void migrate()
    {
        rendezvous.meet(1);
        try
        {
            vm.migrate(slot, GFN, 1);
            migrated = true;
        }
        catch (final Throwable t)
        {
            hostFailure = Probe.classify(t);
        }
    }

    @Arbiter
    public void arbiter(final L_Result r)
    {
        r.r1 = outcome();
    }

    private String outcome()
    {
        if (vcpuFailure != null)
        {
            return vcpuFailure;
        }
        if (hostFailure != null)
        {
            return hostFailure;
        }
        try
        {
            if (Probe.content(vm, slot, GFN) != lastWritten)
            {
                return Probe.LOST_WRITE;
            }
            if (readBack != lastWritten)
            {
                return "read-back-wrong";
            }
            if (Probe.stalePfn(vm, slot, GFN))
            {
                return Probe.STALE_PFN;
            }
            return Probe.leakedAfterDestroy(vm) == 0 ? "ok" : Probe.LEAK;
        }
        catch (final Throwable t)
        {
            return Probe.classify(t);
        }
    }
}
