package org.tdpmmu.scenarios.report;

import java.util.Locale;

/** Number and duration spellings shared by the reports and the perf output. */
public final class Formats {

    private Formats() {
    }

    /**
     * Seconds with nine decimals and an {@code s}, as dirty_log_perf_test prints a
     * {@code struct timespec}: {@code 1.234567890s}.
     */
    public static String kernelSeconds(long nanos) {
        long n = Math.max(0, nanos);
        return String.format(Locale.ROOT, "%d.%09ds", n / 1_000_000_000L, n % 1_000_000_000L);
    }

    /** A duration for humans: {@code 1.234 s}, {@code 12.30 ms}, {@code 456.0 us}, {@code 80 ns}. */
    public static String duration(long nanos) {
        double n = nanos;
        if (Math.abs(n) >= 1e9) {
            return String.format(Locale.ROOT, "%.3f s", n / 1e9);
        } else if (Math.abs(n) >= 1e6) {
            return String.format(Locale.ROOT, "%.2f ms", n / 1e6);
        } else if (Math.abs(n) >= 1e3) {
            return String.format(Locale.ROOT, "%.1f us", n / 1e3);
        }
        return nanos + " ns";
    }

    /**
     * A measured duration over repeats: the median, then the range when there was more than one
     * repeat: {@code 12.30 ms [11.90-13.10 ms]}, {@code 1.020 s [980.0 us-1.200 s]}.
     */
    public static String spread(org.tdpmmu.scenarios.engine.RunResult.Spread s) {
        if (s.n() < 2) {
            return duration(s.median());
        }
        String min = duration(s.min());
        String max = duration(s.max());
        String unit = max.substring(max.indexOf(' '));
        if (min.endsWith(unit)) {
            min = min.substring(0, min.length() - unit.length());
        }
        return duration(s.median()) + " [" + min + "-" + max + "]";
    }

    /** An integer with thousands separators: {@code 1,048,576}. */
    public static String count(long n) {
        return String.format(Locale.ROOT, "%,d", n);
    }
}
