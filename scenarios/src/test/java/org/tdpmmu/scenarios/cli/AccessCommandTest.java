package org.tdpmmu.scenarios.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/** {@code tdpmmu access}: the kernel test's lines, its still-idle check and -w. */
class AccessCommandTest {

    private static final List<String> STEPS = List.of("Populating memory", "Writing to populated memory",
            "Reading from populated memory", "Mark memory idle", "Writing to idle memory", "Mark memory idle",
            "Reading from idle memory");

    private record Out(int code, String out, String err) {
    }

    private static Out run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8), null);
        return new Out(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "--lockless-aging", "--no-ept-ad", "--lockless-aging --no-ept-ad -o"})
    void printsTheKernelTestsLinesAndPassesItsCheck(String flags) {
        String[] extra = flags.isEmpty() ? new String[0] : flags.split(" ");
        String[] args = new String[4 + extra.length];
        args[0] = "access";
        args[1] = "-v";
        args[2] = "2";
        args[3] = "-b4M";
        System.arraycopy(extra, 0, args, 4, extra.length);
        Out r = run(args);
        assertEquals(ExitCodes.OK, r.code(), r.err());
        List<String> lines = r.out().lines().filter(l -> !l.isEmpty()).toList();
        assertEquals(STEPS.size(), lines.size(), r.out());
        for (int i = 0; i < STEPS.size(); i++) {
            assertTrue(lines.get(i).matches(String.format("%-30s", STEPS.get(i)).replace(" ", "\\s") + ": \\d+\\.\\d{9}s"),
                    lines.get(i));
        }
    }

    /**
     * 64 pages and a 64-entry TLB: the write after marking idle goes through cached translations
     * (clear_young flushes none), so aging sees none of it and every page is still idle: the kernel
     * test's failure, or its warning with -w 1.
     */
    @Test
    void pagesWrittenThroughCachedTranslationsStayIdle() {
        Out fail = run("access", "-b", "256K");
        assertEquals(ExitCodes.VIOLATION, fail.code(), fail.out());
        assertTrue(fail.err().contains("vCPU0: Too many pages still idle (64 out of 64)"), fail.err());
        Out warn = run("access", "-b", "256K", "-w", "1");
        assertEquals(ExitCodes.OK, warn.code(), warn.err());
        assertTrue(warn.out().contains("WARNING: vCPU0: Too many pages still idle (64 out of 64), this will affect "
                + "performance results."), warn.out());
    }

    @Test
    void badInputIsRefused() {
        Out r = run("access", "-v", "0");
        assertEquals(ExitCodes.BAD_INPUT, r.code());
        assertTrue(r.err().contains("-v: 0 is out of range 1..512"), r.err());
        Out p = run("access", "-p");
        assertEquals(ExitCodes.BAD_INPUT, p.code());
        assertTrue(p.err().contains("-p specified without -l"), p.err());
        Out v = run("access", "-v", "513");
        assertEquals(ExitCodes.BAD_INPUT, v.code());
        assertTrue(v.err().contains("-v: 513 is out of range 1..512"), v.err());
        Out b = run("access", "-b", "100");
        assertEquals(ExitCodes.BAD_INPUT, b.code());
        assertTrue(b.err().contains("-b: 100 is less than one 4 KiB page"), b.err());
        Out s = run("access", "-s", "anonymous_hugetlb_1gb", "-b", "8K");
        assertEquals(ExitCodes.BAD_INPUT, s.code(), s.err());
        assertTrue(s.err().contains("-v/-b/-s: "), s.err());
    }

    /** -l: the marking steps are one lru_gen pass each, with the kernel test's label. */
    @ParameterizedTest
    @ValueSource(strings = {"", "--lockless-aging"})
    void lruGenMarksMemoryIdleInOnePass(String flags) {
        Out r = run(("access -v 2 -b4M -l " + flags).trim().split(" "));
        assertEquals(ExitCodes.OK, r.code(), r.err());
        List<String> lines = r.out().lines().filter(l -> !l.isEmpty()).toList();
        List<String> steps = STEPS.stream().map(st -> st.equals("Mark memory idle") ? "Mark memory idle (lru_gen)" : st).toList();
        assertEquals(steps.size(), lines.size(), r.out());
        for (int i = 0; i < steps.size(); i++) {
            assertTrue(lines.get(i).startsWith(String.format("%-30s: ", steps.get(i))), lines.get(i));
        }
    }

    /** -l -p: the benchmark's lines, the kernel's two and tdpmmu's modeled ones. */
    @Test
    void benchmarkPrintsTheVcpuWallTimeAndTheAveragePass() {
        Out r = run("access", "-v", "2", "-b4M", "-l", "-p");
        assertEquals(ExitCodes.OK, r.code(), r.err());
        assertTrue(r.out().contains("vcpu wall time                : "), r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.matches(
                "lru_gen avg pass duration {5}: \\d+\\.\\d{9}s, \\(passes:\\d+, total:\\d+\\.\\d{9}s\\)")), r.out());
        assertTrue(r.out().contains("tdpmmu modeled avg pass       : "), r.out());
    }
}
