package org.tdpmmu.scenarios.load;

import java.util.Objects;
import org.tdpmmu.scenarios.model.ScenarioException;

/**
 * One field of a scenario file set from outside the file ({@code run --set vm.vcpus=16}, a sweep's
 * grid): a dotted path as written in the YAML ({@code vm.vcpus}, {@code phases[2].dirtyPass.seed})
 * and the value as YAML scalar text. {@link ScenarioLoader#load(java.nio.file.Path, java.util.List)}
 * puts it into the file's tree before reading it, so the value is checked exactly as it would be in
 * the file, and a bad one is named by its field.
 *
 * <p>The path {@value #ALL_SEEDS} is an alias: it sets the seed of every {@code dirtyPass},
 * {@code secondPass} and host event, the one knob a sweep over "five seeds" means.
 *
 * @param path  the field's dotted path
 * @param value the value's text ({@code 16}, {@code 256M}, {@code zap_leafs})
 */
public record FieldOverride(String path, String value) {

    /** The alias for every seed of the scenario. */
    public static final String ALL_SEEDS = "seed";

    public FieldOverride {
        Objects.requireNonNull(path, "path");
        Objects.requireNonNull(value, "value");
    }

    /**
     * {@code PATH=VALUE}.
     *
     * @param label where the text came from, for messages ({@code --set})
     */
    public static FieldOverride parse(String text, String label) {
        int eq = text.indexOf('=');
        if (eq <= 0) {
            throw new ScenarioException(label, 0, null, "\"" + text + "\" is not FIELD=VALUE (e.g. vm.vcpus=16)");
        }
        String path = text.substring(0, eq).strip();
        String value = text.substring(eq + 1).strip();
        if (value.isEmpty()) {
            throw new ScenarioException(label, 0, path, "no value after '='");
        }
        return new FieldOverride(path, value);
    }

    @Override
    public String toString() {
        return path + "=" + value;
    }
}
