package org.tdpmmu.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class VmSmokeTest
{
    private static final long PAGES = 32L * 512; // 64 MiB

    @ParameterizedTest
    @EnumSource(RecoveryStrategy.class)
    void dirtyLogCycleThenRecoveryTakesTheExpectedFaults(final RecoveryStrategy strategy)
    {
        try (Vm vm = new Vm(VmConfig.small()))
        {
            final Memslot slot = vm.addMemslot(0x100000, PAGES, Backing.PAGE_2M);
            final Vcpu vcpu = vm.createVcpu();
            for (long g = slot.baseGfn(); g < slot.endGfn(); g++)
            {
                vcpu.write(g, g * 3);
            }
            assertEquals(32, vcpu.faults(), "one fault per 2 MiB page while populating");
            final DirtyLogging log = new DirtyLogging(vm);
            log.enable(slot, Memslot.LOG_WRPROT, false);
            for (long g = slot.baseGfn(); g < slot.endGfn(); g += 2)
            {
                vcpu.write(g, g * 5);
            }
            final long[] bitmap = log.getDirtyLog(slot, false);
            for (long g = slot.baseGfn(); g < slot.endGfn(); g++)
            {
                final long off = g - slot.baseGfn();
                final boolean dirty = (bitmap[(int)(off >>> 6)] & (1L << (off & 63))) != 0;
                assertEquals(off % 2 == 0, dirty, "page " + off);
            }
            log.disable(slot, strategy.recovery());
            vcpu.exitGuest();
            final long before = vcpu.faults();
            for (long g = slot.baseGfn(); g < slot.endGfn(); g++)
            {
                final long off = g - slot.baseGfn();
                assertEquals(off % 2 == 0 ? g * 5 : g * 3, vcpu.read(g));
            }
            final long after = vcpu.faults() - before;
            if (strategy == RecoveryStrategy.PROMOTE_IN_PLACE)
            {
                assertEquals(0, after);
            }
            else
            {
                assertEquals(32, after);
            }
            vcpu.exitGuest();
            vm.destroy();
            assertEquals(0, vm.store().liveCount(), "no leaked table");
            assertTrue(vm.store().allocatedCount() > 32);
        }
    }
}
