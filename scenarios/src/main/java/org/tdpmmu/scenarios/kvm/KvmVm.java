package org.tdpmmu.scenarios.kvm;

import com.sun.jna.LastErrorException;
import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import java.util.ArrayList;
import java.util.List;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * One real KVM VM made through /dev/kvm with JNA: memslots backed by anonymous host memory, vCPUs
 * running {@link GuestCode}, the dirty-log ioctls (KVM_GET_DIRTY_LOG, KVM_CLEAR_DIRTY_LOG) or the
 * dirty ring, and the binary statistics. Slot 0 holds the code and the vCPUs' access tables and is
 * never logged; the slots under test are 1.. in the order they were added.
 *
 * <p>Not thread-safe, except that different vCPUs may {@link #runPass} at once from different
 * threads (KVM serialises what it must; their dirty-ring harvests into one array are serialised
 * on it).
 */
public final class KvmVm implements AutoCloseable {
    /** Where the code starts in slot 0. */
    static final long CODE_GPA = 0x1000;
    /** Where the first vCPU's access table starts in slot 0. */
    static final long TABLES_GPA = 0x10000;
    private static final long HUGE = 2L << 20;

    /** Host memory behind a slot: its first address and the length mapped. */
    private record Region(Pointer base, long length) {
    }

    private final int kvmFd;
    private final int vmFd;
    private final int runSize;
    private final long ringBytes;
    private final List<Slot> slots = new ArrayList<>();
    private final List<Vcpu> vcpus = new ArrayList<>();
    private final List<Region> mappings = new ArrayList<>();
    private Region control;
    private long tableBytes;

    /** A memslot under test. */
    public static final class Slot {
        final int id;
        final long gpa;
        final long pages;
        final Pointer hva;
        final boolean huge;
        boolean logging;

        Slot(int id, long gpa, long pages, Pointer hva, boolean huge) {
            this.id = id;
            this.gpa = gpa;
            this.pages = pages;
            this.hva = hva;
            this.huge = huge;
        }

        public long gpa() {
            return gpa;
        }

        public long pages() {
            return pages;
        }
    }

    private static final class Vcpu {
        final int fd;
        final Pointer run;
        final Pointer ring;
        /** The ring's entries, for ordered access to each entry's flags word. */
        final UnsafeBuffer ringBuffer;
        final long tableGpa;
        long ringFetch;

        Vcpu(int fd, Pointer run, Pointer ring, long ringBytes, long tableGpa) {
            this.fd = fd;
            this.run = run;
            this.ring = ring;
            this.ringBuffer = ring == null ? null : new UnsafeBuffer(Pointer.nativeValue(ring), (int) ringBytes);
            this.tableGpa = tableGpa;
        }
    }

    private KvmVm(int kvmFd, int vmFd, int runSize, long ringBytes) {
        this.kvmFd = kvmFd;
        this.vmFd = vmFd;
        this.runSize = runSize;
        this.ringBytes = ringBytes;
    }

    /**
     * Creates a VM. {@code manualProtect} turns on KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 (with
     * {@code initiallySet}, its INITIALLY_SET bit); {@code ringBytes > 0} turns on the dirty ring of
     * that size per vCPU instead of the bitmap (a VM uses one or the other).
     */
    public static KvmVm create(boolean manualProtect, boolean initiallySet, long ringBytes)
            throws KvmUnavailableException {
        final int kvm = Kvm.open();
        int vm = -1;
        try {
            vm = LibC.C.ioctl(kvm, KvmApi.CREATE_VM, 0L);
            final int runSize = LibC.C.ioctl(kvm, KvmApi.GET_VCPU_MMAP_SIZE, 0L);
            if (manualProtect) {
                enableCap(vm, KvmApi.CAP_MANUAL_DIRTY_LOG_PROTECT2,
                        KvmApi.MANUAL_PROTECT_ENABLE | (initiallySet ? KvmApi.INITIALLY_SET : 0));
            }
            if (ringBytes > 0) {
                final int cap = LibC.C.ioctl(vm, KvmApi.CHECK_EXTENSION, KvmApi.CAP_DIRTY_LOG_RING_ACQ_REL) > 0
                        ? KvmApi.CAP_DIRTY_LOG_RING_ACQ_REL : KvmApi.CAP_DIRTY_LOG_RING;
                enableCap(vm, cap, ringBytes);
            }
            return new KvmVm(kvm, vm, runSize, ringBytes);
        } catch (LastErrorException e) {
            closeQuietly(vm);
            closeQuietly(kvm);
            throw new KvmUnavailableException("/dev/kvm refused to create the VM: " + Kvm.describe(e));
        }
    }

    private static void enableCap(int vm, int cap, long arg0) {
        try (Memory m = new Memory(104)) {
            m.clear();
            m.setInt(0, cap);
            m.setLong(8, arg0);
            LibC.C.ioctl(vm, KvmApi.ENABLE_CAP, m);
        }
    }

    /**
     * Maps slot 0 (code and access tables) for {@code vcpus} vCPUs with tables of
     * {@code entriesPerVcpu} accesses each, and puts the code in it. Call once, before
     * {@link #addSlot} and {@link #addVcpu}.
     */
    public void setUpControlSlot(int vcpus, long entriesPerVcpu) {
        tableBytes = ((entriesPerVcpu + 1) * 4 + 4095) & ~4095L;
        final long size = align(TABLES_GPA + vcpus * tableBytes, HUGE);
        control = map(size, false);
        control.base.write(CODE_GPA, GuestCode.bytes(), 0, GuestCode.bytes().length);
        setRegion(0, 0, 0, size, control.base);
    }

    /** Highest guest physical address the control slot may reach, for a check against the test slots. */
    public static long controlSlotEnd(int vcpus, long entriesPerVcpu) {
        return align(TABLES_GPA + vcpus * (((entriesPerVcpu + 1) * 4 + 4095) & ~4095L), HUGE);
    }

    /**
     * Adds a test slot of {@code pages} 4 KiB pages at {@code gpa}; {@code huge} asks for
     * transparent huge pages behind it (madvise), else 4 KiB pages.
     */
    public Slot addSlot(long gpa, long pages, boolean huge) {
        final Region r = map(pages * 4096, huge);
        final Slot s = new Slot(slots.size() + 1, gpa, pages, r.base, huge);
        setRegion(s.id, 0, gpa, pages * 4096, s.hva);
        slots.add(s);
        return s;
    }

    public List<Slot> slots() {
        return slots;
    }

    /** KVM_MEM_LOG_DIRTY_PAGES on or off for {@code slot}: the memslot is updated in place. */
    public void setLogging(Slot slot, boolean on) {
        setRegion(slot.id, on ? KvmApi.MEM_LOG_DIRTY_PAGES : 0, slot.gpa, slot.pages * 4096, slot.hva);
        slot.logging = on;
    }

    private void setRegion(int id, int flags, long gpa, long size, Pointer hva) {
        try (Memory m = new Memory(32)) {
            m.setInt(0, id);
            m.setInt(4, flags);
            m.setLong(8, gpa);
            m.setLong(16, size);
            m.setLong(24, Pointer.nativeValue(hva));
            LibC.C.ioctl(vmFd, KvmApi.SET_USER_MEMORY_REGION, m);
        }
    }

    /** Creates a vCPU in flat 32-bit protected mode at the code, EDI at its access table. */
    public int addVcpu() {
        final int index = vcpus.size();
        final int fd = LibC.C.ioctl(vmFd, KvmApi.CREATE_VCPU, index);
        final Pointer run = LibC.C.mmap(null, runSize, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_SHARED, fd, 0);
        Pointer ring = null;
        if (ringBytes > 0) {
            ring = LibC.C.mmap(null, ringBytes, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_SHARED, fd,
                    KvmApi.DIRTY_RING_OFFSET);
        }
        final long table = TABLES_GPA + index * tableBytes;
        try (Memory s = new Memory(KvmApi.SREGS_SIZE)) {
            LibC.C.ioctl(fd, KvmApi.GET_SREGS, s);
            // cs: base 0, limit 4 GiB, selector 8, type 0xb (code, read, accessed), 32-bit, 4 KiB granularity
            segment(s, 0, 8, 0xB);
            // ds es fs gs ss: selector 0x10, type 3 (data, read/write, accessed)
            for (int i = 1; i <= 5; i++) {
                segment(s, i * KvmApi.SEGMENT_SIZE, 0x10, 3);
            }
            s.setLong(KvmApi.SREGS_CR0, s.getLong(KvmApi.SREGS_CR0) | 1); // PE, paging stays off
            s.setLong(KvmApi.SREGS_CR4, 0);
            s.setLong(KvmApi.SREGS_EFER, 0);
            LibC.C.ioctl(fd, KvmApi.SET_SREGS, s);
        }
        try (Memory r = new Memory(KvmApi.REGS_SIZE)) {
            r.clear();
            r.setLong(KvmApi.REGS_RIP, CODE_GPA);
            r.setLong(KvmApi.REGS_RFLAGS, 2); // bit 1 is always set
            r.setLong(KvmApi.REGS_RDI, table);
            r.setLong(KvmApi.REGS_RSP, TABLES_GPA);
            LibC.C.ioctl(fd, KvmApi.SET_REGS, r);
        }
        vcpus.add(new Vcpu(fd, run, ring, ringBytes, table));
        return index;
    }

    private static void segment(Memory s, int off, int selector, int type) {
        s.setLong(off, 0);
        s.setInt(off + 8, 0xFFFFFFFF);
        s.setShort(off + 12, (short) selector);
        final byte[] attrs = {(byte) type, 1, 0, 1, 1, 0, 1, 0, 0, 0}; // type present dpl db s l g avl unusable pad
        s.write(off + 14, attrs, 0, attrs.length);
    }

    public int vcpuCount() {
        return vcpus.size();
    }

    /**
     * Runs one pass of vCPU {@code index}: writes {@code entries} (gpa | {@link GuestCode#WRITE})
     * as its table and enters the guest until it reports the pass done. With the dirty ring, a
     * ring-full exit harvests into {@code ringOut} (gfn offsets per slot, see {@link #harvestRing})
     * and resumes.
     */
    public void runPass(int index, int[] entries, int count, long[][] ringOut) {
        final Vcpu v = vcpus.get(index);
        if ((long) (count + 1) * 4 > tableBytes) {
            throw new IllegalArgumentException(count + " accesses do not fit the table of " + tableBytes + " bytes");
        }
        control.base.write(v.tableGpa, entries, 0, count);
        control.base.setInt(v.tableGpa + 4L * count, 0);
        while (true) {
            LibC.C.ioctl(v.fd, KvmApi.RUN, 0L);
            final int reason = v.run.getInt(KvmApi.RUN_EXIT_REASON);
            if (reason == KvmApi.EXIT_IO && (v.run.getShort(KvmApi.RUN_IO_PORT) & 0xFFFF) == GuestCode.PASS_DONE_PORT) {
                return;
            }
            if (reason == KvmApi.EXIT_DIRTY_RING_FULL && ringOut != null) {
                // vCPUs running at once share ringOut: one harvest into it at a time.
                synchronized (ringOut) {
                    harvestRingOf(v, ringOut);
                    resetRings();
                }
                continue;
            }
            throw new IllegalStateException("vCPU " + index + ": unexpected KVM exit reason " + reason);
        }
    }

    /** KVM_GET_DIRTY_LOG of {@code slot} into a new bitmap, bit i = page i of the slot. */
    public long[] getDirtyLog(Slot slot) {
        final int words = (int) ((slot.pages + 63) >>> 6);
        try (Memory bitmap = new Memory(words * 8L); Memory arg = new Memory(16)) {
            bitmap.clear();
            arg.setInt(0, slot.id);
            arg.setInt(4, 0);
            arg.setPointer(8, bitmap);
            LibC.C.ioctl(vmFd, KvmApi.GET_DIRTY_LOG, arg);
            return bitmap.getLongArray(0, words);
        }
    }

    /** KVM_CLEAR_DIRTY_LOG of the bits of {@code masks} over the whole slot (manual protect). */
    public void clearDirtyLog(Slot slot, long[] masks) {
        try (Memory bitmap = new Memory(masks.length * 8L); Memory arg = new Memory(24)) {
            bitmap.write(0, masks, 0, masks.length);
            arg.setInt(0, slot.id);
            arg.setInt(4, (int) slot.pages);
            arg.setLong(8, 0);
            arg.setPointer(16, bitmap);
            LibC.C.ioctl(vmFd, KvmApi.CLEAR_DIRTY_LOG, arg);
        }
    }

    /**
     * Collects every vCPU's dirty-ring entries into {@code out[slot index][word]} (bit per page) and
     * marks them for reset, then KVM_RESET_DIRTY_RINGS re-protects those pages.
     */
    public void harvestRing(long[][] out) {
        synchronized (out) {
            for (Vcpu v : vcpus) {
                harvestRingOf(v, out);
            }
            resetRings();
        }
    }

    private void harvestRingOf(Vcpu v, long[][] out) {
        final long entries = ringBytes / KvmApi.DIRTY_GFN_SIZE;
        while (true) {
            final long off = (v.ringFetch & (entries - 1)) * KvmApi.DIRTY_GFN_SIZE;
            // Acquire: the flags word is published last by KVM; read it before the slot and offset.
            final int flags = v.ringBuffer.getIntAcquire((int) off);
            if ((flags & KvmApi.DIRTY_GFN_F_DIRTY) == 0) {
                return;
            }
            final int slotId = v.ringBuffer.getInt((int) off + 4) & 0xFFFF;
            final long page = v.ringBuffer.getLong((int) off + 8);
            if (slotId >= 1 && slotId <= out.length) {
                out[slotId - 1][(int) (page >>> 6)] |= 1L << (page & 63);
            }
            // Release: KVM may reuse the entry once it sees RESET, after our reads above.
            v.ringBuffer.putIntRelease((int) off, KvmApi.DIRTY_GFN_F_RESET);
            v.ringFetch++;
        }
    }

    private void resetRings() {
        LibC.C.ioctl(vmFd, KvmApi.RESET_DIRTY_RINGS, 0L);
    }

    /** The VM's binary statistics (KVM_GET_STATS_FD on the VM). */
    public KvmStats vmStats() {
        return KvmStats.read(LibC.C.ioctl(vmFd, KvmApi.GET_STATS_FD, 0L));
    }

    /** vCPU {@code index}'s binary statistics. */
    public KvmStats vcpuStats(int index) {
        return KvmStats.read(LibC.C.ioctl(vcpus.get(index).fd, KvmApi.GET_STATS_FD, 0L));
    }

    /** Bytes of slot memory the host backs with transparent huge pages (from /proc/self/smaps). */
    public long hugeBackedBytes(Slot slot) {
        return Smaps.anonHugeBytes(Pointer.nativeValue(slot.hva), slot.pages * 4096);
    }

    private Region map(long size, boolean huge) {
        // Over-map by 2 MiB so the slot can start on a 2 MiB host boundary, as a huge page needs.
        final long length = size + HUGE;
        final Pointer raw = LibC.C.mmap(null, length, LibC.PROT_READ | LibC.PROT_WRITE,
                LibC.MAP_PRIVATE | LibC.MAP_ANONYMOUS | LibC.MAP_NORESERVE, -1, 0);
        mappings.add(new Region(raw, length));
        final long aligned = align(Pointer.nativeValue(raw), HUGE);
        final Pointer base = new Pointer(aligned);
        LibC.C.madvise(base, size, huge ? LibC.MADV_HUGEPAGE : LibC.MADV_NOHUGEPAGE);
        return new Region(base, size);
    }

    private static long align(long v, long to) {
        return (v + to - 1) & -to;
    }

    @Override
    public void close() {
        for (Vcpu v : vcpus) {
            unmapQuietly(v.run, runSize);
            if (v.ring != null) {
                unmapQuietly(v.ring, ringBytes);
            }
            closeQuietly(v.fd);
        }
        vcpus.clear();
        closeQuietly(vmFd);
        closeQuietly(kvmFd);
        for (Region r : mappings) {
            unmapQuietly(r.base, r.length);
        }
        mappings.clear();
    }

    private static void unmapQuietly(Pointer p, long length) {
        try {
            LibC.C.munmap(p, length);
        } catch (LastErrorException ignored) {
            // closing: nothing more to do with it
        }
    }

    static void closeQuietly(int fd) {
        if (fd >= 0) {
            try {
                LibC.C.close(fd);
            } catch (LastErrorException ignored) {
                // closing: nothing more to do with it
            }
        }
    }
}
