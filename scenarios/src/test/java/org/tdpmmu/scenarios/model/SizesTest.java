package org.tdpmmu.scenarios.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class SizesTest {

    @ParameterizedTest
    @CsvSource({
        "4096, 4096",
        "0, 0",
        "4K, 4096",
        "4k, 4096",
        "64M, 67108864",
        "64m, 67108864",
        "64MB, 67108864",
        "64MiB, 67108864",
        "1G, 1073741824",
        "3g, 3221225472",
        "2T, 2199023255552",
        "0x1000, 4096",
        "1_048_576, 1048576",
        "' 2M ', 2097152",
        "4096b, 4096",
    })
    void parsesSizes(String text, long bytes) {
        assertEquals(Optional.of(bytes), Sizes.parse(text));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "M", "64X", "-4K", "1.5G", "0x", "G1", "64 M B", "99999999999999999999", "9000000T"})
    void rejectsNonSizes(String text) {
        assertEquals(Optional.empty(), Sizes.parse(text));
    }

    @Test
    void parseOrThrowExplainsTheShape() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Sizes.parseOrThrow("64X"));
        assertTrue(e.getMessage().contains("\"64X\" is not a size"), e.getMessage());
        assertTrue(e.getMessage().contains("K, M, G or T"), e.getMessage());
    }

    @Test
    void overflowIsTooLargeNotMalformed() {
        // the largest size a long holds, in every spelling, and one past it
        assertEquals(Optional.of(Long.MAX_VALUE), Sizes.parse("0x7fffffffffffffff"));
        assertEquals(Optional.of(Long.MAX_VALUE), Sizes.parse("9223372036854775807"));
        assertEquals(Optional.of(8388607L << 40), Sizes.parse("8388607T"));
        for (String big : new String[] {"0x8000000000000000", "9223372036854775808", "8388608T", "9000000T",
                "99999999999999999999", "0".repeat(30) + "1" + "0".repeat(40), "9".repeat(1_000_000)}) {
            assertTrue(Sizes.tooLarge(big), big);
            assertEquals(Optional.empty(), Sizes.parse(big));
            assertTrue(Sizes.problem(big).startsWith("is too large ("), big);
        }
        // leading zeros do not make a number large
        assertEquals(Optional.of(4096L), Sizes.parse("0".repeat(100) + "4K"));
        for (String bad : new String[] {"64X", "-4K", "1.5G", "", "T"}) {
            assertTrue(!Sizes.tooLarge(bad) && Sizes.problem(bad).startsWith("is not a size ("), bad);
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Sizes.parseOrThrow("9000000T"));
        assertTrue(e.getMessage().startsWith("\"9000000T\" is too large (sizes stop below 8 EiB"), e.getMessage());
    }

    @Test
    void formatsExactly() {
        assertEquals("64M", Sizes.format(64L << 20));
        assertEquals("1G", Sizes.format(1L << 30));
        assertEquals("1536K", Sizes.format(1536L << 10));
        assertEquals("4K", Sizes.format(4096));
        assertEquals("100", Sizes.format(100));
        assertEquals("1.5 GiB", Sizes.human(3L << 29));
        assertEquals("2 MiB", Sizes.human(2L << 20));
        assertEquals("12 B", Sizes.human(12));
    }
}
