package org.tdpmmu.scenarios.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code memslot-modification-stress-test} and {@code memslot-perf-test}: the kernel tests' lines, flags and refusals. */
class MemslotCommandsTest {

    private record Out(int code, String out, String err) {
    }

    private static Out run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8), null);
        return new Out(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void modificationStressPrintsTheKernelTestsLinesAndPassesEveryCheck() {
        for (String quirk : new String[] {"enabled", "disabled"}) {
            Out r = quirk.equals("enabled") ? run("memslot-modification-stress-test", "-v", "2", "-b", "2M", "-i", "50")
                    : run("memslot-modification-stress-test", "-v", "2", "-b", "2M", "-i", "50", "-q", "-o");
            assertEquals(ExitCodes.OK, r.code(), r.err());
            List<String> lines = r.out().lines().toList();
            assertEquals(List.of("Testing guest mode: tdpmmu, 4-level TDP, 4K pages", "Memslot zap quirk " + quirk,
                    "Finished creating vCPUs", "Started all vCPUs", "All vCPU threads joined", "--- tdpmmu ---"),
                    lines.subList(0, 6), r.out());
            assertTrue(r.out().contains("memslot changes: 100 (50 create + delete pairs)"), r.out());
            assertTrue(r.out().contains("safety: every check held"), r.out());
        }
    }

    @Test
    void modificationStressRefusesWhatItDoesNotModel() {
        Out r = run("memslot-modification-stress-test", "-m", "3");
        assertEquals(ExitCodes.BAD_INPUT, r.code());
        assertTrue(r.err().contains("-m: not modelled by tdpmmu"), r.err());
        r = run("memslot-modification-stress-test", "-b", "5000");
        assertEquals(ExitCodes.BAD_INPUT, r.code());
        assertTrue(r.err().contains("-b: 5000 is not a positive multiple of 4 KiB"), r.err());
    }

    @Test
    void perfMoveTestsPrintTheKernelTestsLines() {
        Out r = run("memslot-perf-test", "-s", "64", "-l", "1", "-q");
        assertEquals(ExitCodes.OK, r.code(), r.err());
        for (String name : new String[] {"move active area", "move inactive area"}) {
            assertTrue(r.out().contains("Testing " + name + " performance with 1 runs, 1 seconds each"), r.out());
        }
        assertTrue(r.out().matches("(?s).*Test took \\d+\\.\\d{9}s for slot setup \\+ \\d+\\.\\d{9}s all iterations.*"),
                r.out());
        assertTrue(r.out().matches("(?s).*Done \\d+ iterations, avg \\d+\\.\\d{9}s each.*"), r.out());
        assertTrue(r.out().matches("(?s).*Best slot setup time for the whole test area was \\d+\\.\\d{9}s\\s*"), r.out());
        assertTrue(!r.out().contains("violations"), r.out());
    }

    @Test
    void perfRefusesTheTestsItDoesNotModel() {
        Out r = run("memslot-perf-test", "-f", "0", "-e", "3");
        assertEquals(ExitCodes.BAD_INPUT, r.code());
        assertTrue(r.err().contains("test 0 (map) is not modelled by tdpmmu"), r.err());
        r = run("memslot-perf-test", "-s", "1");
        assertEquals(ExitCodes.BAD_INPUT, r.code());
        assertTrue(r.err().contains("-s: slot count cap must be larger than 1"), r.err());
    }
}
