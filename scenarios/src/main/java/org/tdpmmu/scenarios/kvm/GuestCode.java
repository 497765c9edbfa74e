package org.tdpmmu.scenarios.kvm;

/**
 * The guest kvm-check runs: 31 bytes of 32-bit protected-mode code, flat 4 GiB segments, no paging
 * (so a guest address is a guest physical address), hand-assembled here.
 *
 * <p>On entry EDI holds the address of this vCPU's access table: 32-bit entries, each a page's
 * guest physical address with bit 0 set for a write and clear for a read, ended by a 0 entry. The
 * loop touches each page in table order, then leaves to the host with {@code out 0x10, al}; the
 * host rewrites the table for the next pass and re-enters, and the loop starts again at the top.
 * A write stores the entry itself (the page address with bit 0 set) at the page's first dword.
 *
 * <pre>
 * offset  bytes              instruction            why
 *  0      89 FE              mov esi, edi           start of a pass: ESI walks the table
 *  2      AD                 lodsd                  EAX = [ESI], ESI += 4
 *  3      85 C0              test eax, eax
 *  5      74 14              jz +20 (27)            0 ends the pass
 *  7      89 C3              mov ebx, eax
 *  9      81 E3 00 F0 FF FF  and ebx, 0xFFFFF000    EBX = the page address
 * 15      A8 01              test al, 1
 * 17      74 04              jz +4 (23)             bit 0 clear: a read
 * 19      89 03              mov [ebx], eax         the write
 * 21      EB EB              jmp -21 (2)            next entry
 * 23      8B 0B              mov ecx, [ebx]         the read
 * 25      EB E7              jmp -25 (2)            next entry
 * 27      E6 10              out 0x10, al           pass done: a port-I/O exit to the host
 * 29      EB E1              jmp -31 (0)            the next pass, after the host re-enters
 * </pre>
 */
final class GuestCode {
    /** The port the guest writes when a pass is done. */
    static final int PASS_DONE_PORT = 0x10;
    /** Entry bit 0: the access is a write. */
    static final int WRITE = 1;

    private static final byte[] CODE = {
        (byte) 0x89, (byte) 0xFE,
        (byte) 0xAD,
        (byte) 0x85, (byte) 0xC0,
        (byte) 0x74, (byte) 0x14,
        (byte) 0x89, (byte) 0xC3,
        (byte) 0x81, (byte) 0xE3, 0x00, (byte) 0xF0, (byte) 0xFF, (byte) 0xFF,
        (byte) 0xA8, 0x01,
        (byte) 0x74, 0x04,
        (byte) 0x89, 0x03,
        (byte) 0xEB, (byte) 0xEB,
        (byte) 0x8B, 0x0B,
        (byte) 0xEB, (byte) 0xE7,
        (byte) 0xE6, PASS_DONE_PORT,
        (byte) 0xEB, (byte) 0xE1,
    };

    private GuestCode() {
    }

    /** A copy of the code bytes. */
    static byte[] bytes() {
        return CODE.clone();
    }
}
