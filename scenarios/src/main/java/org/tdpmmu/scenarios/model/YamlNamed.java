package org.tdpmmu.scenarios.model;

import java.util.Arrays;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * An enum whose constants are spelled in scenario files and on the command line by a lower-case
 * name ({@code zap_leafs}, {@code anonymous_hugetlb_2mb}, ...).
 */
public interface YamlNamed {

    /** The spelling used in scenario files and on the command line. */
    String yamlName();

    /** The constant of {@code type} spelled {@code text} (exact, case-sensitive), if any. */
    static <E extends Enum<E> & YamlNamed> Optional<E> parse(Class<E> type, String text) {
        for (E e : type.getEnumConstants()) {
            if (e.yamlName().equals(text)) {
                return Optional.of(e);
            }
        }
        return Optional.empty();
    }

    /** The allowed spellings of {@code type}, comma separated, in declaration order. */
    static <E extends Enum<E> & YamlNamed> String allowed(Class<E> type) {
        return Arrays.stream(type.getEnumConstants()).map(YamlNamed::yamlName).collect(Collectors.joining(", "));
    }
}
