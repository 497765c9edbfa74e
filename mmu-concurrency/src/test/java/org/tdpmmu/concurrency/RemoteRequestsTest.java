package org.tdpmmu.concurrency;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdpmmu.concurrency.RemoteRequests.REQ_TLB_FLUSH;
import static org.tdpmmu.concurrency.TestThreads.assertFinishes;
import static org.tdpmmu.concurrency.TestThreads.assertStillBlocked;
import static org.tdpmmu.concurrency.TestThreads.await;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;

class RemoteRequestsTest
{
    private static final int REQ_OTHER = 1 << 1;

    @Test
    void requestReachesVcpuInGuestAndWaiterReturnsOnlyAfterTheAck() throws Exception
    {
        final RemoteRequests requests = new RemoteRequests(4);
        final int vcpu = requests.register();
        final CountDownLatch entered = new CountDownLatch(1);
        final CountDownLatch ack = new CountDownLatch(1);
        final AtomicInteger seen = new AtomicInteger();
        try (TestThreads threads = new TestThreads())
        {
            threads.start("vcpu", () ->
            {
                requests.enterGuest(vcpu);
                assertEquals(0, requests.checkRequests(vcpu));
                entered.countDown();
                await(ack);
                seen.set(requests.checkRequests(vcpu));
                assertEquals(0, requests.checkRequests(vcpu), "bits are taken once");
                requests.exitGuest(vcpu);
            });
            await(entered);
            assertTrue(requests.inGuest(vcpu));
            final Thread flusher = threads.start("flusher", () ->
            {
                requests.makeAllCpusRequest(REQ_TLB_FLUSH, true);
                assertEquals(0, ack.getCount(), "the waiter returned before the vCPU acknowledged");
            });
            assertStillBlocked(flusher);
            ack.countDown();
            assertFinishes(flusher);
            threads.joinAll();
        }
        assertEquals(REQ_TLB_FLUSH, seen.get());
        assertEquals(1, requests.requests());
        assertEquals(1, requests.vcpusInterrupted());
        assertEquals(1, requests.acks());
        assertTrue(requests.waitNanosTotal() > 0);
    }

    @Test
    void vcpuOutsideGuestModeDoesNotHoldUpAndSeesTheBitsAtEntry()
    {
        final RemoteRequests requests = new RemoteRequests(2);
        final int vcpu = requests.register();
        assertFalse(requests.inGuest(vcpu));
        requests.makeAllCpusRequest(REQ_TLB_FLUSH, true); // returns at once: nobody in guest mode
        requests.makeRequest(vcpu, REQ_OTHER, true);
        assertEquals(0, requests.vcpusInterrupted());
        assertEquals(0, requests.acks());

        requests.enterGuest(vcpu);
        assertEquals(1, requests.acks(), "the entry took (acknowledged) the pending bits");
        assertEquals(REQ_TLB_FLUSH | REQ_OTHER, requests.checkRequests(vcpu), "the bits taken at entry are handed over");
        assertEquals(0, requests.checkRequests(vcpu));
        requests.exitGuest(vcpu);
    }

    @Test
    void vcpuStateHandleTakesTheSameBitsAsTheIdLookup()
    {
        final RemoteRequests requests = new RemoteRequests(2);
        final int vcpu = requests.register();
        assertThrows(IllegalArgumentException.class, () -> requests.vcpuState(vcpu + 1), "not registered");
        final VcpuState state = requests.vcpuState(vcpu);
        requests.enterGuest(vcpu);
        requests.makeRequest(vcpu, REQ_OTHER, false);
        assertEquals(REQ_OTHER, state.checkRequests());
        assertEquals(0, requests.checkRequests(vcpu), "taken once, through either door");
        assertEquals(1, requests.acks());
        requests.exitGuest(vcpu);
        requests.makeRequest(vcpu, REQ_TLB_FLUSH, false);
        requests.enterGuest(vcpu);
        assertEquals(REQ_TLB_FLUSH, state.checkRequests(), "bits taken at entry are handed over by the handle too");
        assertEquals(0, state.checkRequests());
        requests.exitGuest(vcpu);
    }

    @Test
    void vcpuLeavingGuestModeReleasesTheWaiter() throws Exception
    {
        final RemoteRequests requests = new RemoteRequests(1);
        final int vcpu = requests.register();
        final CountDownLatch entered = new CountDownLatch(1);
        final CountDownLatch exit = new CountDownLatch(1);
        final AtomicInteger seenAfterReentry = new AtomicInteger();
        try (TestThreads threads = new TestThreads())
        {
            threads.start("vcpu", () ->
            {
                requests.enterGuest(vcpu);
                entered.countDown();
                await(exit);
                requests.exitGuest(vcpu); // leaves without checking
                requests.enterGuest(vcpu);
                seenAfterReentry.set(requests.checkRequests(vcpu));
                requests.exitGuest(vcpu);
            });
            await(entered);
            final Thread flusher = threads.start("flusher", () -> requests.makeAllCpusRequest(REQ_TLB_FLUSH, true));
            // The request must be set (and the vCPU seen in guest mode) before the vCPU leaves:
            // on a loaded machine the flusher may not have run at all after a fixed pause.
            final long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(30);
            while (requests.vcpusInterrupted() == 0 && System.nanoTime() < deadline)
            {
                Thread.sleep(1);
            }
            assertEquals(1, requests.vcpusInterrupted(), "the flusher saw the vCPU in guest mode");
            assertStillBlocked(flusher);
            exit.countDown();
            assertFinishes(flusher);
            threads.joinAll();
        }
        assertEquals(REQ_TLB_FLUSH, seenAfterReentry.get());
    }

    @Test
    void requestFromTheVcpusOwnThreadDoesNotWaitForItself()
    {
        final RemoteRequests requests = new RemoteRequests(1);
        final int vcpu = requests.register();
        requests.enterGuest(vcpu);
        requests.makeAllCpusRequest(REQ_TLB_FLUSH, true);
        requests.makeRequest(vcpu, REQ_TLB_FLUSH, true);
        assertEquals(0, requests.vcpusInterrupted(), "no IPI to itself");
        assertEquals(REQ_TLB_FLUSH, requests.checkRequests(vcpu));
        requests.exitGuest(vcpu);
    }

    @Test
    void makeRequestTargetsOneVcpu()
    {
        final RemoteRequests requests = new RemoteRequests(3);
        final int a = requests.register();
        final int b = requests.register();
        requests.makeRequest(b, REQ_TLB_FLUSH, false);
        requests.enterGuest(a);
        requests.enterGuest(b);
        assertEquals(0, requests.checkRequests(a));
        assertEquals(REQ_TLB_FLUSH, requests.checkRequests(b));
        // Both are in guest mode, entered by this very thread: it is handling an exit for them, so
        // neither counts as interrupted (the kernel sends no IPI to the requesting CPU).
        requests.makeAllCpusRequest(REQ_OTHER, false);
        assertEquals(0, requests.vcpusInterrupted());
        assertEquals(REQ_OTHER, requests.checkRequests(a));
        assertEquals(REQ_OTHER, requests.checkRequests(b));
        requests.exitGuest(a);
        requests.exitGuest(b);
        assertEquals(2, requests.requests());
        assertEquals(3, requests.acks());
    }

    @Test
    void misuseIsRefused()
    {
        assertThrows(IllegalArgumentException.class, () -> new RemoteRequests(0));
        assertThrows(IllegalArgumentException.class, () -> new RemoteRequests(RemoteRequests.MAX_VCPUS_LIMIT + 1));
        final RemoteRequests requests = new RemoteRequests(2);
        assertEquals(0, requests.register());
        assertEquals(1, requests.register());
        assertEquals(2, requests.registered());
        final IllegalStateException full = assertThrows(IllegalStateException.class, requests::register);
        assertTrue(full.getMessage().contains("maxVcpus=2"), full.getMessage());

        assertThrows(IllegalArgumentException.class, () -> requests.makeAllCpusRequest(0, false));
        assertThrows(IllegalArgumentException.class, () -> requests.makeRequest(0, 0, false));
        assertThrows(IllegalArgumentException.class, () -> requests.makeRequest(5, REQ_TLB_FLUSH, false));
        assertThrows(IllegalArgumentException.class, () -> requests.enterGuest(-1));
        assertThrows(IllegalArgumentException.class, () -> requests.checkRequests(2));

        assertThrows(IllegalStateException.class, () -> requests.exitGuest(0));
        requests.enterGuest(0);
        assertThrows(IllegalStateException.class, () -> requests.enterGuest(0));
        requests.exitGuest(0);
    }

    /**
     * 128 vCPU threads loop enter / (check, "access") x4 / exit while 2 threads flush with wait.
     * Each vCPU keeps a TLB stamp: the flush counter's value when it last flushed. Before each access
     * and at the end of each access it checks its stamp is at least every flush that has already
     * returned to its requester: a vCPU that could still use a translation from before a completed
     * flush is the bug. (A vCPU in guest mode at request time is waited for until its next check, so
     * a flush can only complete during an access if the vCPU took it before that access.)
     */
    @Test
    void manyVcpusAndConcurrentFlushesStayTractableAndEveryFlushIsAcknowledged() throws Exception
    {
        final int vcpuCount = 128;
        final int flushers = 2;
        final int flushesEach = 100;
        final RemoteRequests requests = new RemoteRequests(vcpuCount);
        final AtomicLong flushId = new AtomicLong();
        final AtomicLong completed = new AtomicLong();
        final AtomicLong staleAccesses = new AtomicLong();
        final AtomicLong tlbFlushes = new AtomicLong();
        final AtomicBoolean stop = new AtomicBoolean();
        final long start = System.nanoTime();
        try (TestThreads vcpus = new TestThreads(); TestThreads flushThreads = new TestThreads())
        {
            for (int i = 0; i < vcpuCount; i++)
            {
                final int vcpu = requests.register();
                vcpus.start("vcpu-" + vcpu, () ->
                {
                    long tlbStamp = 0;
                    long round = 0;
                    while (!stop.get())
                    {
                        requests.enterGuest(vcpu);
                        for (int access = 0; access < 4; access++)
                        {
                            if ((requests.checkRequests(vcpu) & REQ_TLB_FLUSH) != 0)
                            {
                                tlbStamp = flushId.get();
                                tlbFlushes.incrementAndGet();
                            }
                            if (tlbStamp < completed.get())
                            {
                                staleAccesses.incrementAndGet();
                            }
                            for (int spin = 0; spin < 10; spin++)
                            {
                                Thread.onSpinWait(); // the access uses the TLB for a while
                            }
                            if (access == 0 && (round & 7) == 0)
                            {
                                Thread.yield(); // now and then, lose the CPU in the middle of an access
                            }
                            if (tlbStamp < completed.get())
                            {
                                staleAccesses.incrementAndGet();
                            }
                        }
                        requests.exitGuest(vcpu);
                        if ((++round & 1) == 0)
                        {
                            Thread.yield();
                        }
                    }
                });
            }
            for (int f = 0; f < flushers; f++)
            {
                flushThreads.start("flusher-" + f, () ->
                {
                    for (int i = 0; i < flushesEach; i++)
                    {
                        final long id = flushId.incrementAndGet();
                        requests.makeAllCpusRequest(REQ_TLB_FLUSH, true);
                        completed.accumulateAndGet(id, Math::max);
                    }
                });
            }
            flushThreads.joinAll();
            stop.set(true);
            vcpus.joinAll();
        }
        final long millis = (System.nanoTime() - start) / 1_000_000;
        assertEquals(0, staleAccesses.get(), "a vCPU ran an access with a TLB older than a completed flush");
        assertEquals(flushers * flushesEach, requests.requests());
        assertEquals(flushers * flushesEach, completed.get());
        assertTrue(requests.acks() > 0);
        assertTrue(tlbFlushes.get() > 0);
        assertTrue(millis < TestThreads.GUARD_MILLIS, "took " + millis + " ms");
    }

    @Test
    void everyRegisteredVcpuIsRequestedEvenWithNoneInGuestMode()
    {
        // The requester's per-vCPU work (kernel: kvm_make_vcpu_request on each vCPU) is what a flush
        // costs when nobody runs: counted per vCPU, apart from the interruptions.
        final RemoteRequests requests = new RemoteRequests(8);
        for (int i = 0; i < 3; i++)
        {
            requests.register();
        }
        requests.makeAllCpusRequest(REQ_TLB_FLUSH, true);
        requests.makeAllCpusRequest(REQ_TLB_FLUSH, true);
        requests.makeRequest(1, REQ_TLB_FLUSH, false);
        assertEquals(3, requests.requests());
        assertEquals(7, requests.vcpusRequested());
        assertEquals(0, requests.vcpusInterrupted());
    }
}
