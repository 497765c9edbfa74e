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
