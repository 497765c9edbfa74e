package org.tdpmmu.scenarios.sweep;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.StringJoiner;
import org.tdpmmu.scenarios.load.FieldOverride;
import org.tdpmmu.scenarios.model.Scenario;

/**
 * One point of a {@link Grid}: its index in the grid's order and the value of every key.
 *
 * @param index  0-based, in the grid's order (what shards split on)
 * @param values key to value, in the grid's key order
 */
public record Point(int index, Map<String, String> values) {

    public Point {
        values = Collections.unmodifiableMap(new LinkedHashMap<>(values));
    }

    /** The values of scenario fields, as overrides of the file. */
    public List<FieldOverride> overrides() {
        List<FieldOverride> out = new ArrayList<>();
        values.forEach((k, v) -> {
            if (SweepSwitch.of(k).isEmpty()) {
                out.add(new FieldOverride(k, v));
            }
        });
        return out;
    }

    /** {@code s} (loaded with {@link #overrides}) with this point's switches applied. */
    public Scenario applySwitches(Scenario s) {
        Scenario r = s;
        for (Map.Entry<String, String> e : values.entrySet()) {
            SweepSwitch w = SweepSwitch.of(e.getKey()).orElse(null);
            if (w != null) {
                r = w.apply(r, e.getValue());
            }
        }
        return r;
    }

    /** The switches' values that the resolved configuration does not record (for the run's key). */
    public Map<String, String> unrecordedSwitches() {
        Map<String, String> m = new LinkedHashMap<>();
        values.forEach((k, v) -> SweepSwitch.of(k).filter(w -> !w.inConfiguration()).ifPresent(w -> m.put(k, v)));
        return m;
    }

    /** The arguments of {@code tdpmmu run FILE ...} that run this point. */
    public List<String> runArgs() {
        List<String> a = new ArrayList<>();
        values.forEach((k, v) -> SweepSwitch.of(k).ifPresent(w -> a.addAll(w.childArgs(v))));
        overrides().forEach(o -> a.addAll(List.of("--set", o.toString())));
        return a;
    }

    /** {@code point 7 (strategy=zap_leafs, vm.vcpus=16, seed=2)}. */
    public String describe() {
        StringJoiner j = new StringJoiner(", ", "point " + index + " (", ")");
        values.forEach((k, v) -> j.add(k + "=" + v));
        return j.toString();
    }
}
