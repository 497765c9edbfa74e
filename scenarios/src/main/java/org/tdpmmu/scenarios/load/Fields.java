package org.tdpmmu.scenarios.load;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import org.tdpmmu.scenarios.model.ScenarioException;
import org.tdpmmu.scenarios.model.Sizes;
import org.tdpmmu.scenarios.model.YamlNamed;

/**
 * Typed reads of {@link YamlNode}s that fail with one {@link ScenarioException} naming file, line,
 * field path and the allowed values.
 */
final class Fields {

    private final String file;

    Fields(String file) {
        this.file = file;
    }

    ScenarioException error(int line, String path, String detail) {
        return new ScenarioException(file, line, path, detail);
    }

    static String join(String path, String key) {
        return path.isEmpty() ? key : path + "." + key;
    }

    /** {@code node} as a map; an empty value counts as an empty map ({@code populate:}). */
    YamlNode.MapNode map(YamlNode node, String path) {
        if (node instanceof YamlNode.MapNode m) {
            return m;
        }
        if (node instanceof YamlNode.Null n) {
            return new YamlNode.MapNode(n.line(), java.util.Map.of());
        }
        throw error(node.line(), path, "expected a map of fields, found " + node.describe());
    }

    YamlNode.ListNode list(YamlNode node, String path) {
        if (node instanceof YamlNode.ListNode l) {
            return l;
        }
        if (node instanceof YamlNode.Null n) {
            return new YamlNode.ListNode(n.line(), List.of());
        }
        throw error(node.line(), path, "expected a list, found " + node.describe());
    }

    /** Every key of {@code m} must be one of {@code allowed}. */
    void allowOnly(YamlNode.MapNode m, String path, String... allowed) {
        List<String> ok = Arrays.asList(allowed);
        for (YamlNode.Entry e : m.entries().values()) {
            if (!ok.contains(e.key())) {
                throw error(e.keyLine(), join(path, e.key()),
                        "unknown field; allowed fields" + (path.isEmpty() ? "" : " of " + path) + ": " + String.join(", ", allowed));
            }
        }
    }

    /** The entry {@code key} of {@code m}, if present and not an explicit empty value. */
    Optional<YamlNode.Entry> entry(YamlNode.MapNode m, String key) {
        YamlNode.Entry e = m.get(key);
        return e == null || e.value() instanceof YamlNode.Null ? Optional.empty() : Optional.of(e);
    }

    /** The line of {@code key}'s value, or of the map when absent. */
    int lineOf(YamlNode.MapNode m, String key) {
        YamlNode.Entry e = m.get(key);
        return e == null ? m.line() : e.value().line();
    }

    private YamlNode.Scalar scalar(YamlNode.Entry e, String path, String expected) {
        if (e.value() instanceof YamlNode.Scalar s) {
            return s;
        }
        throw error(e.value().line(), path, "expected " + expected + ", found " + e.value().describe());
    }

    ScenarioException missing(YamlNode.MapNode m, String path, String key, String expected) {
        YamlNode.Entry e = m.get(key);
        if (e != null) {
            return error(e.keyLine(), join(path, key), "empty (required: " + expected + ")");
        }
        return error(m.line(), join(path, key), "missing (required: " + expected + ")");
    }

    long integer(YamlNode.MapNode m, String path, String key, long min, long max, Long dflt) {
        String p = join(path, key);
        String range = min + ".." + max;
        Optional<YamlNode.Entry> e = entry(m, key);
        if (e.isEmpty()) {
            if (dflt == null) {
                throw missing(m, path, key, "an integer in " + range);
            }
            return dflt;
        }
        YamlNode.Scalar s = scalar(e.get(), p, "an integer in " + range);
        Optional<Long> v = parseInteger(s.text());
        if (v.isEmpty()) {
            int sign = overflowSign(s.text());
            throw error(s.line(), p, s.describe() + (sign == 0 ? " is not an integer"
                    : sign > 0 ? " is too large" : " is too small") + " (allowed: " + range + ")");
        }
        if (v.get() < min || v.get() > max) {
            throw error(s.line(), p, s.text() + " is out of range " + range);
        }
        return v.get();
    }

    int int32(YamlNode.MapNode m, String path, String key, int min, int max, Integer dflt) {
        return (int) integer(m, path, key, min, max, dflt == null ? null : dflt.longValue());
    }

    /** A real number in {@code (minExclusive, max]}. */
    double decimal(YamlNode.MapNode m, String path, String key, double minExclusive, double max, Double dflt) {
        String p = join(path, key);
        String range = "greater than " + trim(minExclusive) + " and at most " + trim(max);
        Optional<YamlNode.Entry> e = entry(m, key);
        if (e.isEmpty()) {
            if (dflt == null) {
                throw missing(m, path, key, "a number " + range);
            }
            return dflt;
        }
        YamlNode.Scalar s = scalar(e.get(), p, "a number " + range);
        double v;
        try {
            v = Double.parseDouble(s.text().replace("_", ""));
        } catch (NumberFormatException ex) {
            throw error(s.line(), p, s.describe() + " is not a number (allowed: " + range + ")");
        }
        if (!(v > minExclusive && v <= max)) {
            throw error(s.line(), p, s.text() + " is out of range: must be " + range);
        }
        return v;
    }

    boolean bool(YamlNode.MapNode m, String path, String key, boolean dflt) {
        String p = join(path, key);
        Optional<YamlNode.Entry> e = entry(m, key);
        if (e.isEmpty()) {
            return dflt;
        }
        YamlNode.Scalar s = scalar(e.get(), p, "true or false");
        return switch (s.text()) {
            case "true" -> true;
            case "false" -> false;
            default -> throw error(s.line(), p, s.describe() + " is not one of true, false");
        };
    }

    <E extends Enum<E> & YamlNamed> E enumValue(YamlNode.MapNode m, String path, String key, Class<E> type, E dflt) {
        String p = join(path, key);
        Optional<YamlNode.Entry> e = entry(m, key);
        if (e.isEmpty()) {
            if (dflt == null) {
                throw missing(m, path, key, "one of " + YamlNamed.allowed(type));
            }
            return dflt;
        }
        YamlNode.Scalar s = scalar(e.get(), p, "one of " + YamlNamed.allowed(type));
        return YamlNamed.parse(type, s.text()).orElseThrow(() ->
                error(s.line(), p, "\"" + s.text() + "\" is not one of " + YamlNamed.allowed(type)));
    }

    String string(YamlNode.MapNode m, String path, String key, String dflt) {
        Optional<YamlNode.Entry> e = entry(m, key);
        if (e.isEmpty()) {
            return dflt;
        }
        return scalar(e.get(), join(path, key), "a string").text();
    }

    /** A byte size (see {@link Sizes}); {@code null} when absent. */
    Long size(YamlNode.MapNode m, String path, String key) {
        String p = join(path, key);
        Optional<YamlNode.Entry> e = entry(m, key);
        if (e.isEmpty()) {
            return null;
        }
        YamlNode.Scalar s = scalar(e.get(), p, "a size (" + Sizes.SHAPE + ")");
        return Sizes.parse(s.text()).orElseThrow(() -> error(s.line(), p, s.describe() + " " + Sizes.problem(s.text())));
    }

    /** Decimal (with sign and underscores) or {@code 0x} hexadecimal. */
    static Optional<Long> parseInteger(String text) {
        String s = text.trim().replace("_", "").toLowerCase(Locale.ROOT);
        try {
            if (s.startsWith("0x")) {
                return Optional.of(Long.parseLong(s.substring(2), 16));
            }
            if (s.startsWith("+")) {
                s = s.substring(1);
            }
            return Optional.of(Long.parseLong(s));
        } catch (NumberFormatException e) {
            return Optional.empty();
        }
    }

    /**
     * +1 or -1 when {@code text} is a well-formed integer (as {@link #parseInteger} reads them) that
     * does not fit in a long, with its sign; 0 when it is not an integer at all.
     */
    static int overflowSign(String text) {
        String s = text.trim().replace("_", "").toLowerCase(Locale.ROOT);
        int radix = 10;
        int sign = 1;
        if (s.startsWith("0x")) {
            s = s.substring(2);
            radix = 16;
        } else if (s.startsWith("+") || s.startsWith("-")) {
            sign = s.charAt(0) == '-' ? -1 : 1;
            s = s.substring(1);
        }
        if (s.isEmpty()) {
            return 0;
        }
        for (int i = 0; i < s.length(); i++) {
            if (Character.digit(s.charAt(i), radix) < 0) {
                return 0;
            }
        }
        // Every digit is valid, so parseInteger failed only because the value overflows.
        return sign;
    }

    private static String trim(double d) {
        return d == Math.rint(d) && Math.abs(d) < 1e15 ? Long.toString((long) d) : Double.toString(d);
    }
}
