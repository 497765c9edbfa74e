package org.tdpmmu.scenarios.cli;

import java.util.Arrays;
import java.util.Iterator;
import org.tdpmmu.scenarios.model.Backing;
import org.tdpmmu.scenarios.model.RecoveryStrategy;
import org.tdpmmu.scenarios.model.Sizes;
import org.tdpmmu.scenarios.model.YamlNamed;
import picocli.CommandLine;

/** picocli converters and completion candidates for the CLI's typed options. */
final class Converters {

    private Converters() {
    }

    /**
     * A kernel preset option ({@code --kernel}, one of {@code --kernels}) as the field override
     * {@code vm.kernel=R}, so it applies exactly as the file's own field and passes to child JVMs as
     * {@code --set}; an unknown release is a usage error listing the known ones.
     */
    static org.tdpmmu.scenarios.load.FieldOverride kernelOverride(CommandLine cl, String option, String release) {
        return org.tdpmmu.scenarios.load.FieldOverride.parse("vm.kernel=" + kernelRelease(cl, option, release).version(), option);
    }

    /** {@code release} parsed, or a usage error naming {@code option} and the known releases. */
    static org.tdpmmu.core.KernelRelease kernelRelease(CommandLine cl, String option, String release) {
        try {
            return org.tdpmmu.core.KernelRelease.parse(release);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cl, option + ": " + e.getMessage());
        }
    }

    private static final java.util.regex.Pattern WHOLE_NUMBER =
            java.util.regex.Pattern.compile("[+-]?(0[xX][0-9a-fA-F]+|[0-9]+)");

    /**
     * Integer options say "too large" for a number past the type's range, where picocli's own
     * converters say "is not an int"; otherwise they accept what picocli's do (decimal, 0x hex).
     */
    static void registerNumbers(CommandLine cl) {
        CommandLine.ITypeConverter<Integer> ints = v -> (int) whole(v, Integer.MIN_VALUE, Integer.MAX_VALUE, "an int");
        CommandLine.ITypeConverter<Long> longs = v -> whole(v, Long.MIN_VALUE, Long.MAX_VALUE, "a long");
        cl.registerConverter(Integer.class, ints);
        cl.registerConverter(Integer.TYPE, ints);
        cl.registerConverter(Long.class, longs);
        cl.registerConverter(Long.TYPE, longs);
    }

    private static long whole(String value, long min, long max, String what) {
        String v = value.trim();
        try {
            long n = Long.decode(v);
            if (n >= min && n <= max) {
                return n;
            }
        } catch (NumberFormatException e) {
            if (!WHOLE_NUMBER.matcher(v).matches()) {
                throw new CommandLine.TypeConversionException("'" + value + "' is not " + what);
            }
        }
        throw new CommandLine.TypeConversionException("'" + value + "' is too " + (v.startsWith("-") ? "small" : "large")
                + " (" + what + " holds " + min + ".." + max + ")");
    }

    private static <E extends Enum<E> & YamlNamed> E named(Class<E> type, String value) {
        return YamlNamed.parse(type, value).orElseThrow(() -> new CommandLine.TypeConversionException(
                "'" + value + "' is not one of " + YamlNamed.allowed(type)));
    }

    static final class Strategy implements CommandLine.ITypeConverter<RecoveryStrategy> {
        @Override
        public RecoveryStrategy convert(String value) {
            return named(RecoveryStrategy.class, value);
        }
    }

    static final class StrategyNames implements Iterable<String> {
        @Override
        public Iterator<String> iterator() {
            return Arrays.stream(RecoveryStrategy.values()).map(YamlNamed::yamlName).iterator();
        }
    }

    static final class BackingType implements CommandLine.ITypeConverter<Backing> {
        @Override
        public Backing convert(String value) {
            return named(Backing.class, value);
        }
    }

    static final class BackingNames implements Iterable<String> {
        @Override
        public Iterator<String> iterator() {
            return Arrays.stream(Backing.values()).map(YamlNamed::yamlName).iterator();
        }
    }

    static final class Size implements CommandLine.ITypeConverter<Long> {
        @Override
        public Long convert(String value) {
            return Sizes.parse(value).orElseThrow(() -> new CommandLine.TypeConversionException(
                    "'" + value + "' " + Sizes.problem(value)));
        }
    }
}
