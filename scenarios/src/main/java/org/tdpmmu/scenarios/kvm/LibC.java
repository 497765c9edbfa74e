package org.tdpmmu.scenarios.kvm;

import com.sun.jna.LastErrorException;
import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Pointer;

/**
 * The few libc calls the KVM API needs, bound by JNA's direct interface mapping: no native code of
 * our own. Each throws {@link LastErrorException} (errno) on a -1 return.
 */
interface LibC extends Library {
    LibC C = Native.load("c", LibC.class);

    int O_RDWR = 02;
    int O_CLOEXEC = 02000000;
    int PROT_READ = 1;
    int PROT_WRITE = 2;
    int MAP_SHARED = 0x01;
    int MAP_PRIVATE = 0x02;
    int MAP_ANONYMOUS = 0x20;
    int MAP_NORESERVE = 0x4000;
    int MADV_HUGEPAGE = 14;
    int MADV_NOHUGEPAGE = 15;

    int open(String path, int flags) throws LastErrorException;

    int close(int fd) throws LastErrorException;

    /** ioctl(fd, request, pointer): the request as a 64-bit unsigned long, as x86-64 passes it. */
    int ioctl(int fd, long request, Pointer arg) throws LastErrorException;

    /** ioctl(fd, request, integer argument). */
    int ioctl(int fd, long request, long arg) throws LastErrorException;

    Pointer mmap(Pointer addr, long length, int prot, int flags, int fd, long offset) throws LastErrorException;

    int munmap(Pointer addr, long length) throws LastErrorException;

    int madvise(Pointer addr, long length, int advice) throws LastErrorException;

    long pread(int fd, Pointer buf, long count, long offset) throws LastErrorException;
}
