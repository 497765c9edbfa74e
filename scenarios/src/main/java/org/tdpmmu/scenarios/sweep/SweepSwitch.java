package org.tdpmmu.scenarios.sweep;

import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.tdpmmu.scenarios.model.RecoveryStrategy;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.model.ScenarioException;
import org.tdpmmu.scenarios.model.YamlNamed;

/**
 * A grid key that is a switch of {@code tdpmmu run} rather than a field of the file. A switch has a
 * known set of values ({@code strategy=*} means all of them) and each of its values draws its own
 * line in the merged plots. The kernel release of issue 20 becomes one more constant here: its
 * values, how it changes the scenario or the child's command line, and {@link #inConfiguration}
 * false (the release is not part of the scenario's resolved configuration, so the result file's
 * name must hash it separately).
 */
public enum SweepSwitch {

    /** {@code --strategy}: the recovery strategy of every disableDirtyLogging phase. */
    STRATEGY("strategy") {
        @Override
        public List<String> every() {
            return Arrays.stream(RecoveryStrategy.values()).map(RecoveryStrategy::yamlName).toList();
        }

        @Override
        public Optional<String> problem(String value) {
            return YamlNamed.parse(RecoveryStrategy.class, value).isPresent() ? Optional.empty()
                    : Optional.of("\"" + value + "\" is not one of " + YamlNamed.allowed(RecoveryStrategy.class));
        }

        @Override
        public Scenario apply(Scenario s, String value) {
            if (!s.disablesDirtyLogging()) {
                throw new ScenarioException(s.source(), 0, null, "strategy: scenario " + s.name()
                        + " has no disableDirtyLogging phase, so the strategy would change nothing");
            }
            return s.withStrategy(YamlNamed.parse(RecoveryStrategy.class, value).orElseThrow());
        }

        @Override
        public List<String> childArgs(String value) {
            return List.of("--strategy", value);
        }

        @Override
        public boolean inConfiguration() {
            return true;
        }
    };

    private final String key;

    SweepSwitch(String key) {
        this.key = key;
    }

    /** The grid key ({@code strategy}). */
    public String key() {
        return key;
    }

    /** Every value, for {@code KEY=*}. */
    public abstract List<String> every();

    /** What is wrong with {@code value}, if anything. */
    public abstract Optional<String> problem(String value);

    /** {@code s} run with this switch at {@code value} (a checked value). */
    public abstract Scenario apply(Scenario s, String value);

    /** The child's arguments for {@code value} ({@code --strategy zap_huge}). */
    public abstract List<String> childArgs(String value);

    /** Whether the scenario's resolved configuration records the value (else the run's key hashes it). */
    public abstract boolean inConfiguration();

    /** The switch with grid key {@code key}. */
    public static Optional<SweepSwitch> of(String key) {
        return Arrays.stream(values()).filter(s -> s.key.equals(key)).findFirst();
    }
}
