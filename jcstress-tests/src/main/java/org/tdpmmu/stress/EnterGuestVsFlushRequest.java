package org.tdpmmu.stress;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.II_Result;
import org.tdpmmu.concurrency.RemoteRequests;

/**
 * The request/entry handshake alone (kernel: vcpu_enter_guest's smp_store_mb(vcpu->mode,
 * IN_GUEST_MODE) before kvm_request_pending, against kvm_make_all_cpus_request's set-bit then
 * read-mode): a vCPU enters guest mode and looks at its requests while a TLB flush is requested.
 * Either the requester sees the vCPU in guest mode (and would wait for its acknowledgement) or the
 * vCPU sees the request before its first access. Neither is the store->load reordering of the
 * Dekker pair: the flush would return while the vCPU runs on with its old TLB. The vCPU stays in
 * guest mode after its actor, so a late request is always seen as in guest.
 */
@JCStressTest
@Description("vCPU entry against a flush request: the requester sees the vCPU in guest mode or the vCPU sees the request.")
@Outcome(id = "1, 1", expect = ACCEPTABLE, desc = "Both saw each other.")
@Outcome(id = "1, 0", expect = ACCEPTABLE, desc = "The vCPU took the request at entry; the requester saw it outside guest mode.")
@Outcome(id = "0, 1", expect = ACCEPTABLE, desc = "The requester saw the vCPU in guest mode (it would wait); the request came after the vCPU looked.")
@Outcome(id = "0, 0", expect = FORBIDDEN, desc = "Neither saw the other: the flush does not wait for a vCPU that never flushes.")
@State
public class EnterGuestVsFlushRequest
{
    private final RemoteRequests requests = new RemoteRequests(1);
    private final int vcpu = requests.register();
    private final Rendezvous rendezvous = new Rendezvous();

    @Actor
    public void vcpu(final II_Result r)
    {
        rendezvous.meet(0);
        requests.enterGuest(vcpu);
        // The bits the entry took, or any that arrived since: what the vCPU acts on before its first access.
        r.r1 = (requests.checkRequests(vcpu) & RemoteRequests.REQ_TLB_FLUSH) != 0 ? 1 : 0;
    }

    @Actor
    public void requester(final II_Result r)
    {
        rendezvous.meet(1);
        requests.makeAllCpusRequest(RemoteRequests.REQ_TLB_FLUSH, false);
        r.r2 = (int)requests.vcpusInterrupted();
    }
}
