package org.tdpmmu.explore;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.L_Result;
import org.tdpmmu.concurrency.RemoteRequests;

/**
 * The catalogue's {@code EnterGuestVsFlushRequest} in the model checker's form (an arbiter instead
 * of per-actor results): a vCPU enters guest mode and looks at its requests while a remote TLB
 * flush is requested. The kernel's property (vcpu_enter_guest: smp_store_mb of IN_GUEST_MODE, then
 * kvm_request_pending; kvm_make_all_cpus_request: kvm_make_request's set_bit and
 * smp_mb__after_atomic, then kvm_request_needs_ipi's read of vcpu->mode): a vCPU that entered guest
 * mode after the request was set sees it before running guest code, or the requester found it in
 * guest mode and kicks it (and, had it asked to wait, would wait for it). The pairing is a Dekker
 * pair, so it fails even under sequential consistency if either side reads before it writes: the
 * requester reading the mode before its atomic OR, the vCPU reading its requests before it
 * publishes its mode. Model checker only; the vCPU stays in guest mode after its actor.
 */
@Description("vCPU entry against a flush request: the requester sees the vCPU in guest mode or the vCPU sees the request.")
@Outcome(id = "seen=1 kicked=1", expect = ACCEPTABLE, desc = "Both saw each other.")
@Outcome(id = "seen=1 kicked=0", expect = ACCEPTABLE,
    desc = "The vCPU took the request at entry; the requester found it outside guest mode.")
@Outcome(id = "seen=0 kicked=1", expect = ACCEPTABLE,
    desc = "The requester found the vCPU in guest mode and kicks it; the request came after the vCPU looked.")
@Outcome(id = "seen=0 kicked=0", expect = FORBIDDEN,
    desc = "Neither saw the other: the flush returns while the vCPU runs guest code on its old TLB.")
@Outcome(expect = FORBIDDEN, desc = "An exception in the handshake.")
@State
public class EnterGuestVsRequest
{
    private final RemoteRequests requests = new RemoteRequests(1);
    private final int vcpu = requests.register();
    private int seen = -1;

    @Actor
    public void enterGuest()
    {
        requests.enterGuest(vcpu);
        // The bits the entry took, or any that arrived since: what the vCPU acts on before its first access.
        seen = (requests.checkRequests(vcpu) & RemoteRequests.REQ_TLB_FLUSH) != 0 ? 1 : 0;
    }

    @Actor
    public void request()
    {
        requests.makeAllCpusRequest(RemoteRequests.REQ_TLB_FLUSH, false);
    }

    @Arbiter
    public void arbiter(final L_Result r)
    {
        r.r1 = "seen=" + seen + " kicked=" + requests.vcpusInterrupted();
    }
}
