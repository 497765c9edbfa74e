package org.tdpmmu.scenarios.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The hand-assembled guest: every jump lands where its comment says, the length is as documented. */
class GuestCodeTest {
    /** Target of the 2-byte short jump at {@code at}: the next instruction plus the signed displacement. */
    private static int target(byte[] code, int at) {
        return at + 2 + code[at + 1];
    }

    @Test
    void jumpsLandOnTheirLabels() {
        final byte[] c = GuestCode.bytes();
        assertEquals(31, c.length);
        final int top = 0;
        final int next = 2;
        final int read = 23;
        final int done = 27;
        assertEquals((byte) 0xAD, c[next], "lodsd at next");
        assertEquals((byte) 0x74, c[5]);
        assertEquals(done, target(c, 5), "jz done");
        assertEquals((byte) 0x74, c[17]);
        assertEquals(read, target(c, 17), "jz read");
        assertEquals(next, target(c, 21), "jmp next after the write");
        assertEquals(next, target(c, 25), "jmp next after the read");
        assertEquals((byte) 0xE6, c[done], "out imm8, al");
        assertEquals(GuestCode.PASS_DONE_PORT, c[done + 1]);
        assertEquals(top, target(c, 29), "jmp top");
        assertEquals((byte) 0x89, c[19], "mov [ebx], eax");
        assertEquals(0x03, c[20], "ModRM: [ebx] <- eax");
        assertEquals((byte) 0x8B, c[read], "mov ecx, [ebx]");
        assertEquals(0x0B, c[read + 1], "ModRM: ecx <- [ebx]");
    }
}
