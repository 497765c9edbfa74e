package org.tdpmmu.scenarios.kvm;

/**
 * The x86-64 KVM ABI this package uses: ioctl numbers, capabilities, exit reasons and the offsets of
 * the structures it fills by hand (include/uapi/linux/kvm.h, arch/x86/include/uapi/asm/kvm.h). An
 * ioctl number is {@code dir << 30 | size << 16 | 0xAE << 8 | nr}, dir 1 = write, 2 = read.
 */
final class KvmApi {
    static final long GET_API_VERSION = 0xAE00L;
    static final long CREATE_VM = 0xAE01L;
    static final long CHECK_EXTENSION = 0xAE03L;
    static final long GET_VCPU_MMAP_SIZE = 0xAE04L;
    static final long CREATE_VCPU = 0xAE41L;
    /** _IOW(0xAE, 0x42, struct kvm_dirty_log: u32 slot, u32 pad, u64 bitmap pointer). */
    static final long GET_DIRTY_LOG = 0x4010AE42L;
    /** _IOW(0xAE, 0x46, struct kvm_userspace_memory_region: u32 slot, u32 flags, u64 gpa, size, hva). */
    static final long SET_USER_MEMORY_REGION = 0x4020AE46L;
    static final long RUN = 0xAE80L;
    /** _IOW(0xAE, 0x82, struct kvm_regs, 18 u64). */
    static final long SET_REGS = 0x4090AE82L;
    /** _IOR(0xAE, 0x83, struct kvm_sregs, 312 bytes). */
    static final long GET_SREGS = 0x8138AE83L;
    static final long SET_SREGS = 0x4138AE84L;
    /** _IOW(0xAE, 0xa3, struct kvm_enable_cap: u32 cap, u32 flags, u64 args[4], u8 pad[64]). */
    static final long ENABLE_CAP = 0x4068AEA3L;
    /** _IOWR(0xAE, 0xc0, struct kvm_clear_dirty_log: u32 slot, u32 num_pages, u64 first_page, u64 bitmap). */
    static final long CLEAR_DIRTY_LOG = 0xC018AEC0L;
    static final long RESET_DIRTY_RINGS = 0xAEC7L;
    static final long GET_STATS_FD = 0xAECEL;

    static final int CAP_NR_MEMSLOTS = 10;
    static final int CAP_MAX_VCPUS = 66;
    static final int CAP_MANUAL_DIRTY_LOG_PROTECT2 = 168;
    static final int CAP_DIRTY_LOG_RING = 192;
    static final int CAP_BINARY_STATS_FD = 203;
    static final int CAP_DIRTY_LOG_RING_ACQ_REL = 223;
    /** KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 argument bits. */
    static final long MANUAL_PROTECT_ENABLE = 1;
    static final long INITIALLY_SET = 2;

    static final int MEM_LOG_DIRTY_PAGES = 1;

    static final int EXIT_IO = 2;
    static final int EXIT_HLT = 5;
    static final int EXIT_SHUTDOWN = 8;
    static final int EXIT_FAIL_ENTRY = 9;
    static final int EXIT_INTERNAL_ERROR = 17;
    static final int EXIT_DIRTY_RING_FULL = 31;

    /** struct kvm_run: exit_reason at 8; the io member of the exit union at 32. */
    static final int RUN_EXIT_REASON = 8;
    static final int RUN_IO_DIRECTION = 32;
    static final int RUN_IO_SIZE = 33;
    static final int RUN_IO_PORT = 34;

    /** struct kvm_regs: rax rbx rcx rdx rsi rdi rsp rbp r8..r15 rip rflags, u64 each. */
    static final int REGS_SIZE = 144;
    static final int REGS_RDI = 5 * 8;
    static final int REGS_RSP = 6 * 8;
    static final int REGS_RIP = 16 * 8;
    static final int REGS_RFLAGS = 17 * 8;

    /** struct kvm_sregs: cs ds es fs gs ss tr ldt (kvm_segment, 24 bytes each), gdt, idt, cr0 at 224. */
    static final int SREGS_SIZE = 312;
    static final int SEGMENT_SIZE = 24;
    static final int SREGS_TR = 6 * SEGMENT_SIZE;
    static final int SREGS_CR0 = 224;
    static final int SREGS_CR4 = 224 + 4 * 8;
    static final int SREGS_EFER = 224 + 5 * 8;

    /** The dirty ring's pages in the vCPU mapping: KVM_DIRTY_LOG_PAGE_OFFSET (64) pages in, on x86. */
    static final long DIRTY_RING_OFFSET = 64L * 4096;
    /** struct kvm_dirty_gfn: u32 flags, u32 slot, u64 offset. */
    static final int DIRTY_GFN_SIZE = 16;
    static final int DIRTY_GFN_F_DIRTY = 1;
    static final int DIRTY_GFN_F_RESET = 2;

    private KvmApi() {
    }
}
