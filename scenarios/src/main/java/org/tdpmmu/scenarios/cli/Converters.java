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
