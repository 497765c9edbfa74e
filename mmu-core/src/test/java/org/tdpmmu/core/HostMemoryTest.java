package org.tdpmmu.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.Test;

/** Host frames behind memslots: backing, content words, migration, and what a dead frame does. */
class HostMemoryTest
{
    /** Records the notifier calls a migration makes, and what the host map said during them. */
    private static final class RecordingNotifier implements MmuNotifier
    {
        final List<String> calls = new ArrayList<>();

        @Override
        public void invalidateRangeStart(final long startGfn, final long endGfn)
        {
            calls.add("start 0x" + Long.toHexString(startGfn) + "-0x" + Long.toHexString(endGfn));
        }

        @Override
        public void invalidateRangeEnd(final long startGfn, final long endGfn)
        {
            calls.add("end 0x" + Long.toHexString(startGfn) + "-0x" + Long.toHexString(endGfn));
        }
    }

    @Test
    void backingIsAlignedContiguousPerHostPageAndZeroed()
    {
        final Memslots slots = new Memslots(1L << 36);
        final HostMemory host = new HostMemory(1L << 16);
        final Memslot s4k = slots.add(0x10, 5, Backing.PAGE_4K);
        final Memslot s2m = slots.add(0x100000 + 100, 600, Backing.PAGE_2M);
        host.back(s4k);
        host.back(s2m);
        // 5 frames, then two whole 2 MiB host pages (the slot starts and ends inside one each).
        assertEquals(5 + 2 * 512, host.framesInUse());
        for (long g = s2m.baseGfn(); g < s2m.endGfn(); g++)
        {
            final long pfn = host.resolvePfn(s2m, g);
            assertEquals(g & 511, pfn & 511, "host 2M pages are aligned to the gfn");
            assertTrue(host.isLive(pfn));
            assertEquals(0, host.lvContent(pfn));
        }
        assertEquals(host.resolvePfn(s2m, 0x100000 + 100) + 411, host.resolvePfn(s2m, 0x100000 + 511),
            "contiguous inside a host page");
        final List<Long> pfns = new ArrayList<>();
        for (long g = s4k.baseGfn(); g < s4k.endGfn(); g++)
        {
            pfns.add(host.resolvePfn(s4k, g));
        }
        assertEquals(5, pfns.stream().distinct().count());
        assertFalse(pfns.contains(host.resolvePfn(s2m, s2m.baseGfn())));

        final long pfn = host.resolvePfn(s4k, 0x12);
        host.soContent(pfn, 42);
        assertEquals(42, host.lvContent(pfn));
        assertEquals(42, host.contentOf(s4k, 0x12));
        final IllegalArgumentException outside = assertThrows(IllegalArgumentException.class,
            () -> host.resolvePfn(s4k, 0x15));
        assertTrue(outside.getMessage().contains("gfn 0x15") && outside.getMessage().contains(s4k.toString()));
        assertThrows(IllegalArgumentException.class, () -> host.lvContent((1L << 16) + 5), "beyond the limit");
    }

    @Test
    void migrationMovesContentAndKillsTheOldFrames()
    {
        final Memslots slots = new Memslots(1L << 36);
        final HostMemory host = new HostMemory(1L << 16);
        final Memslot s = slots.add(0x100000, 2 * 512, Backing.PAGE_2M);
        host.back(s);
        for (long g = s.baseGfn(); g < s.endGfn(); g++)
        {
            host.soContent(host.resolvePfn(s, g), g * 3);
        }
        final long old0 = host.resolvePfn(s, 0x100007);
        final long old1 = host.resolvePfn(s, 0x100207);
        final RecordingNotifier notifier = new RecordingNotifier();
        assertEquals(1, host.migrate(notifier, s, 0x100007, 1), "one whole host page");
        assertEquals(List.of("start 0x100000-0x100200", "end 0x100000-0x100200"), notifier.calls);
        final long new0 = host.resolvePfn(s, 0x100007);
        assertNotEquals(old0, new0);
        assertEquals(old1, host.resolvePfn(s, 0x100207), "the other host page stays");
        assertEquals(7, new0 & 511);
        for (long g = s.baseGfn(); g < s.endGfn(); g++)
        {
            assertEquals(g * 3, host.contentOf(s, g), "content moved");
        }
        assertFalse(host.isLive(old0));
        assertFalse(host.isLive(old0 - 7 + 511));
        final StaleTranslationException read = assertThrows(StaleTranslationException.class, () -> host.lvContent(old0));
        assertTrue(read.getMessage().contains("pfn 0x" + Long.toHexString(old0)), read.getMessage());
        assertThrows(StaleTranslationException.class, () -> host.soContent(old0, 1));
        assertEquals(1, host.migrations());
        assertEquals(512, host.framesMigrated());
        assertEquals(2 * 512, host.framesInUse(), "the old page went back");

        // The freed host page is reused by the next migration, zeroed and live again.
        assertEquals(2, host.migrate(notifier, s, 0x100100, 0x200));
        assertTrue(host.isLive(old0));
        final long reused0 = host.resolvePfn(s, 0x100000);
        final long reused1 = host.resolvePfn(s, 0x100200);
        assertTrue(reused0 == old0 - 7 || reused1 == old0 - 7, "the freed block came back");
        for (long g = s.baseGfn(); g < s.endGfn(); g++)
        {
            assertEquals(g * 3, host.contentOf(s, g));
        }

        final IllegalArgumentException bad = assertThrows(IllegalArgumentException.class,
            () -> host.migrate(notifier, s, 0x1003ff, 2));
        assertTrue(bad.getMessage().contains(s.toString()), bad.getMessage());
        assertThrows(IllegalArgumentException.class, () -> host.migrate(notifier, s, 0x100000, 0));
    }

    @Test
    void runningOutOfHostFramesIsReported()
    {
        final Memslots slots = new Memslots(1L << 36);
        final HostMemory host = new HostMemory(1024);
        final Memslot s = slots.add(0, 1024, Backing.PAGE_2M);
        host.back(s);
        final ResourceExhaustedException ex = assertThrows(ResourceExhaustedException.class,
            () -> host.migrate(new RecordingNotifier(), s, 0, 1));
        assertTrue(ex.getMessage().contains("host memory exhausted"), ex.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new HostMemory(0));
    }

    /** Through the VM: a vCPU's mapping follows the data to the new frame; the old SPTE is gone. */
    @Test
    void vmMigrationZapsTheMappingAndTheVcpuRefaultsToTheNewFrame()
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            final Memslot s = vm.addMemslot(0x100000, 512, Backing.PAGE_2M);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(0x100010, 99);
            final long oldPfn = SafetyChecks.lookup(vm, 0x100010).pfn();
            final long seq = vm.invalidation().sequence();
            assertEquals(1, vm.migrate(s, 0x100010, 1));
            assertEquals(seq + 1, vm.invalidation().sequence());
            assertNull(SafetyChecks.lookup(vm, 0x100010), "zapped");
            final long faults = vcpu.faults();
            assertEquals(99, vcpu.read(0x100010));
            assertEquals(faults + 1, vcpu.faults(), "refaulted, not served from a stale TLB entry");
            final long newPfn = SafetyChecks.lookup(vm, 0x100010).pfn();
            assertNotEquals(oldPfn, newPfn);
            assertEquals(vm.host().resolvePfn(s, 0x100010), newPfn);
            vcpu.exitGuest();
            SafetyChecksTest.assertClean(SafetyChecks.structure(vm));
        }
    }

    /**
     * With the flush after the zap seeded away, the vCPU's TLB still holds the old frame: its next
     * access touches the dead frame and is reported as a stale translation.
     */
    @Test
    void aStaleTlbEntryAfterMigrationHitsADeadFrame()
    {
        try (Vm vm = new Vm(VmConfig.small().withSeededBugs(Set.of(SeededBug.NO_FLUSH_AFTER_ZAP))))
        {
            final Memslot s = vm.addMemslot(0x100000, 512, Backing.PAGE_2M);
            final Vcpu vcpu = vm.createVcpu();
            vcpu.write(0x100010, 99);
            vm.migrate(s, 0x100010, 1);
            SafetyChecksTest.assertClean(SafetyChecks.noStaleTranslation(vm), "the SPTE itself was zapped");
            final StaleTranslationException ex = assertThrows(StaleTranslationException.class,
                () -> vcpu.write(0x100010, 100));
            assertTrue(ex.getMessage().contains("freed host frame"), ex.getMessage());
            vcpu.exitGuest();
        }
    }
}
