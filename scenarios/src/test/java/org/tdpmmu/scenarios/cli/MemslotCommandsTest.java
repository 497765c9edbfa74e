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
        Out r = run("memslot-perf-test", "-f", "3", "-e", "4", "-s", "64", "-l", "1", "-q");
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

    /** The number after {@code prefix} in {@code text}. */
    private static long number(String text, String prefix) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile(java.util.regex.Pattern.quote(prefix) + "(\\d+)")
                .matcher(text);
        assertTrue(m.find(), "no <" + prefix + "N> in " + text);
        return Long.parseLong(m.group(1));
    }

    @Test
    void perfMapUnmapsWhatTheGuestMapsAndChecksItsValues() {
        // -s 512: the kernel's cap counts slot 0, so 511 slots of 32 MiB + 64 KiB.
        Out r = run("memslot-perf-test", "-f", "0", "-e", "0", "-s", "512", "-l", "1", "-d");
        assertEquals(ExitCodes.OK, r.code(), r.err());
        assertTrue(r.out().startsWith("Testing map performance with 1 runs, 1 seconds each\n"), r.out());
        assertTrue(r.out().matches("(?s).*Test took \\d+\\.\\d{9}s for slot setup \\+ \\d+\\.\\d{9}s all iterations.*"), r.out());
        assertTrue(r.out().contains("; 511 slots)"), r.out());
        long loops = number(r.out(), "Done ");
        assertTrue(loops > 0, r.out());
        // Every iteration unmaps both 16 MiB halves, so the guest faults each of their 8192 pages in again.
        assertTrue(number(r.out(), "faults installed ") >= loops * 8192, r.out());
        assertTrue(number(r.out(), "calls, each an mmu_notifier invalidation; 511 slots); ") >= 4 * loops,
                "-d checks the first and last page of each half: " + r.out());
        assertTrue(r.out().contains("safety: every check held"), r.out());
        assertTrue(!r.out().contains("Best slot setup time"), "the map test does not rank its setup: " + r.out());
    }

    @Test
    void perfMapRefusesTheDefaultCapWithTheKernelsMaximum() {
        // 32 MiB + 64 KiB is 8208 pages: 32763 slots would be empty; the kernel suggests 8208 + slot 0.
        Out r = run("memslot-perf-test", "-f", "0", "-e", "0", "-l", "1");
        assertEquals(ExitCodes.OK, r.code(), r.err());
        assertEquals(List.of("Testing map performance with 1 runs, 1 seconds each",
                "Memslot count too high for this test, decrease the cap (max is 8209)"), r.out().lines().toList());
    }

    @Test
    void perfUnmapTestsUnmapOnePageOrTwoMegabytesPerCall() {
        for (String t : new String[] {"1", "2"}) {
            Out r = run("memslot-perf-test", "-f", t, "-e", t, "-s", "1025", "-l", "1", "-d");
            assertEquals(ExitCodes.OK, r.code(), r.err());
            assertTrue(r.out().startsWith("Testing " + (t.equals("1") ? "unmap" : "unmap chunked")
                    + " performance with 1 runs, 1 seconds each\n"), r.out());
            long loops = number(r.out(), "Done ");
            long calls = number(r.out(), "host unmaps: ");
            // 128 MiB of test area in 1024 slots of 32 pages: unmap makes a call per 4 KiB page; chunked one per
            // slot piece of each 2 MiB chunk (64 chunks a loop, each over 17 slot pieces at most).
            if (t.equals("1")) {
                assertEquals(loops * 32768, calls, r.out());
            } else {
                assertEquals(0, calls % loops, r.out());
                assertTrue(calls / loops >= 64 && calls / loops <= 64 * 17, calls + " calls, " + loops + " loops");
            }
            // The guest's one page per half is unmapped each time, so it faults again.
            assertTrue(number(r.out(), "faults installed ") >= 2 * loops, r.out());
            assertTrue(r.out().contains("safety: every check held"), r.out());
        }
    }

    @Test
    void perfRwChecksEveryPageBothWays() {
        Out r = run("memslot-perf-test", "-f", "5", "-e", "5", "-s", "1024", "-l", "1");
        assertEquals(ExitCodes.OK, r.code(), r.err());
        assertTrue(r.out().startsWith("Testing RW performance with 1 runs, 1 seconds each\n"), r.out());
        long loops = number(r.out(), "Done ");
        // 512 MiB of test area: 131072 pages, every one checked by the host each iteration.
        assertEquals(loops * 131072, number(r.out(), "host pages checked: "), r.out());
        assertTrue(r.out().matches("(?s).*Best slot setup time for the whole test area was \\d+\\.\\d{9}s\\s*"), r.out());
        assertTrue(r.out().contains("safety: every check held"), r.out());
    }

    @Test
    void perfRefusesBadFlags() {
        Out r = run("memslot-perf-test", "-f", "0", "-e", "6");
        assertEquals(ExitCodes.BAD_INPUT, r.code());
        assertTrue(r.err().contains("-f/-e: test numbers are 0..5"), r.err());
        r = run("memslot-perf-test", "-f", "4", "-e", "3");
        assertEquals(ExitCodes.BAD_INPUT, r.code());
        assertTrue(r.err().contains("first test to run cannot be greater than the last"), r.err());
        r = run("memslot-perf-test", "-s", "1");
        assertEquals(ExitCodes.BAD_INPUT, r.code());
        assertTrue(r.err().contains("-s: slot count cap must be larger than 1"), r.err());
    }
}
