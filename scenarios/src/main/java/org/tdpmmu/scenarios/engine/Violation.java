package org.tdpmmu.scenarios.engine;

import java.util.Objects;

/**
 * A safety property that did not hold during a run.
 *
 * @param property the property's short name: {@code no-lost-write}, {@code no-missed-dirty-page},
 *                 {@code no-use-after-free}, {@code no-leak}, {@code no-stale-translation},
 *                 {@code mapping-size} (docs/DESIGN.md, "Safety properties"), or another the engine checks
 * @param message  what was seen, with gfn/pfn/step where known
 */
public record Violation(String property, String message) {

    public static final String NO_LOST_WRITE = "no-lost-write";
    public static final String NO_MISSED_DIRTY_PAGE = "no-missed-dirty-page";
    public static final String NO_USE_AFTER_FREE = "no-use-after-free";
    public static final String NO_LEAK = "no-leak";
    public static final String NO_STALE_TRANSLATION = "no-stale-translation";
    public static final String MAPPING_SIZE = "mapping-size";

    public Violation {
        Objects.requireNonNull(property, "property");
        Objects.requireNonNull(message, "message");
    }

    @Override
    public String toString() {
        return property + ": " + message;
    }
}
