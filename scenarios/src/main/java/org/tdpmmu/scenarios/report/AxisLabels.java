package org.tdpmmu.scenarios.report;

import java.util.Locale;
import java.util.function.Function;

/**
 * Tick labels in one unit and one number of decimals per axis, chosen from the axis' range, so an
 * axis never mixes {@code 500 us} with {@code 1.5 ms} or {@code 1E4} with {@code 100}.
 */
final class AxisLabels {

    private AxisLabels() {
    }

    /** A unit: values are divided by {@code divisor} and followed by {@code suffix}. */
    record Unit(double divisor, String suffix) {
    }

    /** ns, us, ms or s: the largest whose value of {@code maxNanos} is at least 1. */
    static Unit duration(double maxNanos) {
        if (maxNanos >= 1e9) {
            return new Unit(1e9, " s");
        } else if (maxNanos >= 1e6) {
            return new Unit(1e6, " ms");
        } else if (maxNanos >= 1e3) {
            return new Unit(1e3, " us");
        }
        return new Unit(1, " ns");
    }

    /** Plain, k, M or G: the largest whose value of {@code max} is at least 1. */
    static Unit count(double max) {
        if (max >= 1e9) {
            return new Unit(1e9, " G");
        } else if (max >= 1e6) {
            return new Unit(1e6, " M");
        } else if (max >= 1e4) {
            return new Unit(1e3, " k");
        }
        return new Unit(1, "");
    }

    /** A "nice" tick step (1, 2 or 5 × 10^k) giving about {@code ticks} ticks up to {@code max}. */
    static double niceStep(double max, int ticks) {
        if (max <= 0) {
            return 1;
        }
        double raw = max / ticks;
        double mag = Math.pow(10, Math.floor(Math.log10(raw)));
        double f = raw / mag;
        return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
    }

    /** Decimals that tell ticks {@code step} apart in {@code unit}. */
    static int decimals(double step, Unit unit) {
        double s = step / unit.divisor();
        return s >= 1 ? 0 : (int) Math.min(6, Math.ceil(-Math.log10(s) - 1e-9));
    }

    /** A formatter of every tick of an axis: same unit, same decimals; the origin is plain {@code 0}. */
    static Function<Double, String> ticks(Unit unit, int decimals) {
        String f = "%,." + decimals + "f";
        return v -> v == 0 ? "0" : String.format(Locale.ROOT, f, v / unit.divisor()) + unit.suffix();
    }

    /**
     * A bar's value, in the unit that suits it rather than the axis': a count exactly
     * ({@code 12,063}, {@code 0}); a duration with three significant digits in ns, us, ms or s
     * ({@code 24.8 ms}, {@code 0} for zero).
     */
    static String value(long v, boolean nanos) {
        if (v == 0 || !nanos) {
            return String.format(Locale.ROOT, "%,d", v);
        }
        Unit unit = duration(Math.abs((double) v));
        double x = v / unit.divisor();
        int d = Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : 2;
        return String.format(Locale.ROOT, "%,." + d + "f", x) + unit.suffix();
    }
}
