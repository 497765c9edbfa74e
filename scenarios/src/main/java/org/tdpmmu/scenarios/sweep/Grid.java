package org.tdpmmu.scenarios.sweep;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.tdpmmu.scenarios.model.ScenarioException;

/**
 * A sweep's grid, {@code 'strategy=*; vm.vcpus=16,32,64; vm.memoryPerVcpu=256M,1G; seed=1..5'}: keys
 * separated by {@code ;}, each with a comma list of values, an integer range {@code a..b} (both ends
 * included), or {@code *} for every value of a {@link SweepSwitch}. A key is a switch or a field path
 * of the scenario file ({@code seed} sets every seed). The points are the cartesian product in the
 * order written, the last key varying fastest; a point's index in that order is what shards split
 * on, so it must not depend on anything but the grid text.
 *
 * <p>What is checked here is the grid's own shape (every message starts with {@code --grid: KEY:});
 * whether a value suits its field is the loader's to say, point by point.
 */
public final class Grid {

    /** More points than this is a typo in a range rather than a sweep. */
    public static final int MAX_POINTS = 100_000;

    private static final Pattern KEY = Pattern.compile("[A-Za-z][A-Za-z0-9]*(\\[\\d+])*(\\.[A-Za-z][A-Za-z0-9]*(\\[\\d+])*)*");
    private static final Pattern RANGE = Pattern.compile("(-?\\d+)\\.\\.(-?\\d+)");
    private static final String LABEL = "--grid";

    private final Map<String, List<String>> axes;

    private Grid(Map<String, List<String>> axes) {
        this.axes = axes;
    }

    /** The keys and their values, in the order written. */
    public Map<String, List<String>> axes() {
        return axes;
    }

    /** How many points the grid has. */
    public int size() {
        int n = 1;
        for (List<String> v : axes.values()) {
            n *= v.size();
        }
        return n;
    }

    /** Parses {@code text}; a {@link ScenarioException} naming {@code --grid} and the key when malformed. */
    public static Grid parse(String text) {
        Map<String, List<String>> axes = new LinkedHashMap<>();
        long points = 1;
        for (String part : text.split(";", -1)) {
            String p = part.strip();
            if (p.isEmpty()) {
                continue;
            }
            int eq = p.indexOf('=');
            if (eq < 0) {
                throw error(null, "\"" + p + "\" is not KEY=VALUES (e.g. vm.vcpus=16,32 or seed=1..5)");
            }
            String key = p.substring(0, eq).strip();
            if (!KEY.matcher(key).matches()) {
                throw error(null, "\"" + key + "\" is not a switch (" + switches()
                        + ") nor a field path such as vm.vcpus or phases[2].dirtyPass.seed");
            }
            if (axes.containsKey(key)) {
                throw error(key, "given twice; list all its values once (" + key + "=a,b,c)");
            }
            List<String> values = values(key, p.substring(eq + 1).strip());
            points *= values.size();
            if (points > MAX_POINTS) {
                throw error(key, "the grid has more than " + MAX_POINTS + " points");
            }
            axes.put(key, List.copyOf(values));
        }
        if (axes.isEmpty()) {
            throw error(null, "no keys; write KEY=VALUES separated by ';' (e.g. 'strategy=*; seed=1..5')");
        }
        return new Grid(axes);
    }

    private static List<String> values(String key, String text) {
        Optional<SweepSwitch> sw = SweepSwitch.of(key);
        if (text.isEmpty()) {
            throw error(key, "empty list of values");
        }
        if (text.equals("*")) {
            return sw.map(SweepSwitch::every).orElseThrow(() -> error(key, "'*' (every value) is for switches ("
                    + switches() + "); list a field's values"));
        }
        List<String> out = new ArrayList<>();
        for (String item : text.split(",", -1)) {
            String v = item.strip();
            if (v.isEmpty()) {
                throw error(key, "empty value in \"" + text + "\"");
            }
            if (v.contains("..")) {
                range(key, v, out);
                continue;
            }
            if (v.equals("*")) {
                throw error(key, "'*' stands alone: " + key + "=*");
            }
            add(key, v, out);
        }
        if (sw.isPresent()) {
            for (String v : out) {
                sw.get().problem(v).ifPresent(m -> {
                    throw error(key, m);
                });
            }
        }
        return out;
    }

    private static void range(String key, String v, List<String> out) {
        Matcher m = RANGE.matcher(v);
        if (!m.matches()) {
            throw error(key, "bad range \"" + v + "\": a range is of integers, FROM..TO (e.g. 1..5)");
        }
        long from;
        long to;
        try {
            from = Long.parseLong(m.group(1));
            to = Long.parseLong(m.group(2));
        } catch (NumberFormatException e) {
            throw error(key, "bad range \"" + v + "\": an end does not fit in 64 bits");
        }
        if (from > to) {
            throw error(key, "bad range \"" + v + "\": " + from + " is greater than " + to);
        }
        if (to - from >= MAX_POINTS || to - from < 0) {
            throw error(key, "bad range \"" + v + "\": more than " + MAX_POINTS + " values");
        }
        for (long i = from; i <= to; i++) {
            add(key, Long.toString(i), out);
        }
    }

    private static void add(String key, String v, List<String> out) {
        if (out.contains(v)) {
            throw error(key, "value " + v + " is listed twice");
        }
        out.add(v);
    }

    /** Every point, in index order. */
    public List<Point> points() {
        List<String> keys = new ArrayList<>(axes.keySet());
        int n = size();
        List<Point> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            Map<String, String> values = new LinkedHashMap<>();
            int rest = i;
            int[] digit = new int[keys.size()];
            for (int k = keys.size() - 1; k >= 0; k--) {
                int size = axes.get(keys.get(k)).size();
                digit[k] = rest % size;
                rest /= size;
            }
            for (int k = 0; k < keys.size(); k++) {
                values.put(keys.get(k), axes.get(keys.get(k)).get(digit[k]));
            }
            out.add(new Point(i, values));
        }
        return out;
    }

    private static String switches() {
        List<String> s = new ArrayList<>();
        for (SweepSwitch w : SweepSwitch.values()) {
            s.add(w.key());
        }
        return String.join(", ", s);
    }

    private static ScenarioException error(String key, String detail) {
        return new ScenarioException(LABEL, 0, key, detail);
    }
}
