package org.tdpmmu.scenarios.load;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.tdpmmu.scenarios.model.ScenarioException;

/**
 * Puts {@link FieldOverride}s into a file's {@link YamlNode} tree before the loader reads it. A
 * missing map on the way is created (the loader then names a field that does not belong there, as
 * it would in the file); a list is only indexed, never grown. An overridden value has line 0, so its
 * messages name the file and the field but no line of the file.
 */
final class TreeOverrides {

    private static final Pattern SEGMENT = Pattern.compile("([A-Za-z][A-Za-z0-9]*)((?:\\[\\d+])*)");
    private static final Pattern INDEX = Pattern.compile("\\[(\\d+)]");
    /** The maps whose {@code seed} the {@link FieldOverride#ALL_SEEDS} alias sets. */
    private static final List<String> SEEDED_PHASES = List.of("dirtyPass", "secondPass");

    private final String file;

    TreeOverrides(String file) {
        this.file = file;
    }

    YamlNode apply(YamlNode root, List<FieldOverride> overrides) {
        YamlNode r = root;
        for (FieldOverride o : overrides) {
            YamlNode value = scalar(o);
            if (o.path().equals(FieldOverride.ALL_SEEDS)) {
                r = allSeeds(r, value);
            } else {
                r = set(r, o.path(), segments(o.path()), 0, "", value);
            }
        }
        return r;
    }

    private YamlNode scalar(FieldOverride o) {
        YamlNode v;
        try {
            v = new YamlTreeReader(file).read(o.value());
        } catch (ScenarioException e) {
            throw new ScenarioException(file, 0, o.path(), "\"" + o.value() + "\" is not a YAML value: " + e.detail());
        }
        if (v instanceof YamlNode.Scalar s) {
            return new YamlNode.Scalar(0, s.text(), s.isString());
        }
        throw new ScenarioException(file, 0, o.path(), "\"" + o.value() + "\" must be a single value, not " + v.describe());
    }

    private List<String> segments(String path) {
        List<String> out = new ArrayList<>();
        for (String s : path.split("\\.", -1)) {
            Matcher m = SEGMENT.matcher(s);
            if (!m.matches()) {
                throw new ScenarioException(file, 0, path, "not a field path (dotted names, list items as name[i], "
                        + "e.g. vm.vcpus or phases[2].dirtyPass.seed)");
            }
            out.add(m.group(1));
            Matcher i = INDEX.matcher(m.group(2));
            while (i.find()) {
                out.add("[" + i.group(1) + "]");
            }
        }
        return out;
    }

    /** {@code node} with {@code segs[at..]} set to {@code value}; {@code done} is the path so far. */
    private YamlNode set(YamlNode node, String path, List<String> segs, int at, String done, YamlNode value) {
        if (at == segs.size()) {
            return value;
        }
        String seg = segs.get(at);
        if (seg.startsWith("[")) {
            int i = Integer.parseInt(seg.substring(1, seg.length() - 1));
            if (!(node instanceof YamlNode.ListNode l)) {
                throw new ScenarioException(file, 0, path, done + " is " + node.describe() + ", not a list");
            }
            if (i >= l.items().size()) {
                throw new ScenarioException(file, 0, path, done + " has " + l.items().size() + " items (0.."
                        + (l.items().size() - 1) + "), no item " + i);
            }
            List<YamlNode> items = new ArrayList<>(l.items());
            items.set(i, set(items.get(i), path, segs, at + 1, done + seg, value));
            return new YamlNode.ListNode(l.line(), items);
        }
        Map<String, YamlNode.Entry> entries;
        int line;
        if (node instanceof YamlNode.MapNode m) {
            entries = new LinkedHashMap<>(m.entries());
            line = m.line();
        } else if (node == null || node instanceof YamlNode.Null) {
            entries = new LinkedHashMap<>();
            line = node == null ? 0 : node.line();
        } else {
            throw new ScenarioException(file, 0, path, (done.isEmpty() ? "the file" : done) + " is "
                    + node.describe() + ", not a map");
        }
        YamlNode.Entry e = entries.get(seg);
        YamlNode child = set(e == null ? null : e.value(), path, segs, at + 1, Fields.join(done, seg), value);
        entries.put(seg, new YamlNode.Entry(seg, e == null ? 0 : e.keyLine(), child));
        return new YamlNode.MapNode(line, entries);
    }

    private YamlNode allSeeds(YamlNode root, YamlNode value) {
        YamlNode r = root;
        if (r instanceof YamlNode.MapNode m) {
            if (m.get("phases") != null && m.get("phases").value() instanceof YamlNode.ListNode l) {
                for (int i = 0; i < l.items().size(); i++) {
                    if (l.items().get(i) instanceof YamlNode.MapNode p && p.entries().size() == 1) {
                        String kind = p.entries().keySet().iterator().next();
                        if (SEEDED_PHASES.contains(kind)) {
                            String path = "phases[" + i + "]." + kind + ".seed";
                            r = set(r, path, segments(path), 0, "", value);
                        }
                    }
                }
            }
            if (m.get("host") != null && m.get("host").value() instanceof YamlNode.ListNode h) {
                for (int i = 0; i < h.items().size(); i++) {
                    String path = "host[" + i + "].seed";
                    r = set(r, path, segments(path), 0, "", value);
                }
            }
        }
        return r;
    }
}
