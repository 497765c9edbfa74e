package org.tdpmmu.scenarios.model;

import java.math.BigInteger;
import java.util.Locale;
import java.util.Optional;

/**
 * Byte sizes as the kernel selftests spell them ({@code parse_size()} in test_util.c accepts the
 * same shapes): a decimal or {@code 0x} hexadecimal number, optionally followed by a binary suffix
 * {@code K}, {@code M}, {@code G} or {@code T} (either case; a trailing {@code B} or {@code iB} is
 * tolerated). {@code 64M} is 67108864 bytes. Underscores between digits are ignored.
 */
public final class Sizes {

    public static final long KIB_4 = 4096L;
    public static final long MIB_2 = 2L << 20;
    public static final long GIB_1 = 1L << 30;

    /** What a size looks like, for error messages. */
    public static final String SHAPE =
            "a number of bytes, optionally followed by K, M, G or T (e.g. 4096, 64M, 1G)";

    /** Why an overflowing size is refused, for messages. */
    public static final String TOO_LARGE = "sizes stop below 8 EiB, 2^63 bytes; guest memory must also fit in the "
            + "48-bit (rootLevel 4) or 57-bit (rootLevel 5) guest physical space";

    private Sizes() {
    }

    /** The number of bytes {@code text} denotes, or empty if it is not a size or overflows a long. */
    public static Optional<Long> parse(String text) {
        BigInteger v = parseExact(text);
        return v == null || v.bitLength() > 63 ? Optional.empty() : Optional.of(v.longValue());
    }

    /**
     * True when {@code text} has the shape of a size but denotes 2^63 bytes or more, so a message can
     * say "too large" rather than "not a size".
     */
    public static boolean tooLarge(String text) {
        BigInteger v = parseExact(text);
        return v != null && v.bitLength() > 63;
    }

    /** What is wrong with {@code text} as a size, for a message after the quoted text. */
    public static String problem(String text) {
        return tooLarge(text) ? "is too large (" + TOO_LARGE + ")" : "is not a size (" + SHAPE + ")";
    }

    /** Like {@link #parse} but throws {@link IllegalArgumentException} with {@link #problem}. */
    public static long parseOrThrow(String text) {
        return parse(text).orElseThrow(() ->
                new IllegalArgumentException("\"" + text + "\" " + problem(text)));
    }

    /**
     * The exact value of {@code text}, or null when it is not a size. Overlong digit strings are
     * capped before any arithmetic, so a megabyte of digits costs a scan, not a BigInteger parse.
     */
    private static BigInteger parseExact(String text) {
        if (text == null) {
            return null;
        }
        String s = text.trim().replace("_", "");
        if (s.isEmpty()) {
            return null;
        }
        String lower = s.toLowerCase(Locale.ROOT);
        if (lower.startsWith("0x")) {
            return parseNumber(lower.substring(2), 16);
        }
        if (lower.endsWith("ib")) {
            lower = lower.substring(0, lower.length() - 2);
        } else if (lower.endsWith("b")) {
            lower = lower.substring(0, lower.length() - 1);
        }
        if (lower.isEmpty()) {
            return null;
        }
        int shift = switch (lower.charAt(lower.length() - 1)) {
            case 'k' -> 10;
            case 'm' -> 20;
            case 'g' -> 30;
            case 't' -> 40;
            default -> 0;
        };
        String digits = shift == 0 ? lower : lower.substring(0, lower.length() - 1);
        BigInteger n = parseNumber(digits, 10);
        return n == null ? null : n.shiftLeft(shift);
    }

    private static BigInteger parseNumber(String digits, int radix) {
        if (digits.isEmpty()) {
            return null;
        }
        for (int i = 0; i < digits.length(); i++) {
            if (Character.digit(digits.charAt(i), radix) < 0) {
                return null;
            }
        }
        String significant = digits.replaceFirst("^0+(?=.)", "");
        // 2^64 has 20 decimal or 17 hexadecimal digits: anything longer is too large whatever it says.
        return significant.length() > 24 ? BigInteger.ONE.shiftLeft(64) : new BigInteger(significant, radix);
    }

    /**
     * The shortest exact spelling of {@code bytes} with a binary suffix: {@code 64M}, {@code 1G},
     * {@code 4K}, {@code 1536K}, or plain bytes when not a multiple of 1 KiB.
     */
    public static String format(long bytes) {
        String[] suffix = {"T", "G", "M", "K"};
        int[] shift = {40, 30, 20, 10};
        for (int i = 0; i < suffix.length; i++) {
            long unit = 1L << shift[i];
            if (bytes != 0 && bytes % unit == 0) {
                return (bytes / unit) + suffix[i];
            }
        }
        return Long.toString(bytes);
    }

    /** {@code bytes} with a binary unit for humans: {@code 64 MiB}, {@code 1.5 GiB}, {@code 3 KiB}. */
    public static String human(long bytes) {
        String[] unit = {"TiB", "GiB", "MiB", "KiB"};
        int[] shift = {40, 30, 20, 10};
        for (int i = 0; i < unit.length; i++) {
            long u = 1L << shift[i];
            if (bytes >= u) {
                if (bytes % u == 0) {
                    return (bytes / u) + " " + unit[i];
                }
                return String.format(Locale.ROOT, "%.1f %s", bytes / (double) u, unit[i]);
            }
        }
        return bytes + " B";
    }
}
