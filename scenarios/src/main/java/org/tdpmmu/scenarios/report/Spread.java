package org.tdpmmu.scenarios.report;

import java.util.Arrays;
import java.util.List;

/**
 * The spread of one figure over repeated runs: min, median and max. A single run gives
 * {@code min == median == max}; with an even count the median is the lower middle value, so it is
 * always a value that was measured.
 */
public record Spread(long min, long median, long max) {

    public Spread {
        if (min > median || median > max) {
            throw new IllegalArgumentException("min=" + min + " median=" + median + " max=" + max + " not ordered");
        }
    }

    /** One run: min = median = max. */
    public static Spread single(long value) {
        return new Spread(value, value, value);
    }

    /** The spread of {@code values} (at least one). */
    public static Spread of(List<Long> values) {
        if (values.isEmpty()) {
            throw new IllegalArgumentException("no values");
        }
        long[] v = values.stream().mapToLong(Long::longValue).toArray();
        Arrays.sort(v);
        return new Spread(v[0], v[(v.length - 1) / 2], v[v.length - 1]);
    }

    /** True when the runs differed. */
    public boolean varies() {
        return min != max;
    }
}
