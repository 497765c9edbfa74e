package org.tdpmmu.scenarios.load;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLParser;
import java.io.IOException;
import java.io.StringReader;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tdpmmu.scenarios.model.ScenarioException;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.events.AliasEvent;
import org.yaml.snakeyaml.events.Event;
import org.yaml.snakeyaml.events.NodeEvent;

/** Reads YAML text into a {@link YamlNode} tree with the YAML parser's token locations. */
final class YamlTreeReader {

    private static final YAMLFactory FACTORY = new YAMLFactory();
    private static final String SPELL_OUT = "anchors, aliases and merge keys are not supported: write each value out";

    private final String file;

    YamlTreeReader(String file) {
        this.file = file;
    }

    /** The single document in {@code text}; a syntax error is a {@link ScenarioException}. */
    YamlNode read(String text) {
        refuseAnchors(text);
        try (JsonParser p = FACTORY.createParser(text)) {
            JsonToken t = p.nextToken();
            if (t == null) {
                throw new ScenarioException(file, 0, null, "the file is empty (a scenario needs at least vm: and phases:)");
            }
            YamlNode root = value(p, t, "");
            JsonToken more = p.nextToken();
            if (more != null) {
                throw new ScenarioException(file, line(p), null, "only one YAML document is allowed in a scenario file");
            }
            return root;
        } catch (JacksonException e) {
            JsonLocation loc = e.getLocation();
            int line = loc == null ? 0 : loc.getLineNr();
            String m = e.getOriginalMessage();
            if (m != null && m.contains("nesting depth")) {
                m = "lists and maps are nested more than 1000 levels deep";
            }
            throw new ScenarioException(file, Math.max(line, 0), null, "YAML syntax error: " + firstLine(m));
        } catch (IOException e) {
            throw new ScenarioException(file, 0, null, "cannot read: " + e.getMessage());
        }
    }

    /** The node starting at token {@code t}; {@code path} is its field path, for messages. */
    private YamlNode value(JsonParser p, JsonToken t, String path) throws IOException {
        int line = line(p);
        refuseReferences(p, line, path);
        switch (t) {
            case START_OBJECT: {
                Map<String, YamlNode.Entry> entries = new LinkedHashMap<>();
                for (JsonToken k = p.nextToken(); k != JsonToken.END_OBJECT; k = p.nextToken()) {
                    String key = p.currentName();
                    int keyLine = line(p);
                    String keyPath = Fields.join(path, key);
                    if ("<<".equals(key)) {
                        throw new ScenarioException(file, keyLine, keyPath,
                                "YAML merge keys (<<) are not allowed in a scenario file; " + SPELL_OUT);
                    }
                    YamlNode v = value(p, p.nextToken(), keyPath);
                    if (entries.containsKey(key)) {
                        throw new ScenarioException(file, keyLine, null, "duplicate key \"" + key
                                + "\" (first at line " + entries.get(key).keyLine() + ")");
                    }
                    entries.put(key, new YamlNode.Entry(key, keyLine, v));
                }
                return new YamlNode.MapNode(line, entries);
            }
            case START_ARRAY: {
                List<YamlNode> items = new ArrayList<>();
                for (JsonToken i = p.nextToken(); i != JsonToken.END_ARRAY; i = p.nextToken()) {
                    items.add(value(p, i, path + "[" + items.size() + "]"));
                }
                return new YamlNode.ListNode(line, items);
            }
            case VALUE_NULL:
                return new YamlNode.Null(line);
            case VALUE_STRING:
                return new YamlNode.Scalar(line, p.getText(), true);
            case VALUE_NUMBER_INT:
            case VALUE_NUMBER_FLOAT:
            case VALUE_TRUE:
            case VALUE_FALSE:
            case VALUE_EMBEDDED_OBJECT:
                return new YamlNode.Scalar(line, p.getText(), false);
            default:
                throw new ScenarioException(file, line, null, "unexpected YAML token " + t);
        }
    }

    /**
     * Anchors ({@code &a}), aliases ({@code *a}) and merge keys are refused: the parser hands an
     * alias over as a plain string with the anchor's name ({@code name: *d} would name the scenario
     * "d"), and a scenario is short enough to write out. Refusing them also rules out alias
     * expansion bombs.
     */
    private void refuseReferences(JsonParser p, int line, String path) throws IOException {
        if (!(p instanceof YAMLParser yp)) {
            return;
        }
        String field = path.isEmpty() ? null : path;
        if (yp.isCurrentAlias()) {
            throw new ScenarioException(file, line, field, "YAML alias *" + yp.getText()
                    + " is not allowed in a scenario file; " + SPELL_OUT);
        }
        String anchor = yp.getObjectId();
        if (anchor != null) {
            throw new ScenarioException(file, line, field, "YAML anchor &" + anchor
                    + " is not allowed in a scenario file; " + SPELL_OUT);
        }
    }

    /**
     * Jackson reports aliases but not the anchor of a scalar ({@code x: &d foo}), so anchors are
     * found in SnakeYAML's event stream first; only a text with an {@code &} can hold one. A syntax
     * error here is left for the main parse to report.
     */
    private void refuseAnchors(String text) {
        if (text.indexOf('&') < 0) {
            return;
        }
        LoaderOptions options = new LoaderOptions();
        options.setCodePointLimit(Math.max(text.length(), 1));
        try {
            for (Event e : new Yaml(options).parse(new StringReader(text))) {
                if (e instanceof NodeEvent n && n.getAnchor() != null && !(e instanceof AliasEvent)) {
                    throw new ScenarioException(file, e.getStartMark().getLine() + 1, null, "YAML anchor &"
                            + n.getAnchor() + " is not allowed in a scenario file; " + SPELL_OUT);
                }
            }
        } catch (YAMLException e) {
            // not ours to report: the Jackson parse below says where the syntax is wrong
        }
    }

    private static int line(JsonParser p) {
        return p.currentTokenLocation().getLineNr();
    }

    /** SnakeYAML's message without its indented context and "in 'reader'" lines, on one line. */
    private static String firstLine(String message) {
        if (message == null || message.isBlank()) {
            return "unreadable YAML";
        }
        StringBuilder sb = new StringBuilder();
        for (String l : message.split("\\R")) {
            if (l.isBlank() || Character.isWhitespace(l.charAt(0))) {
                continue;
            }
            sb.append(sb.length() == 0 ? "" : "; ").append(l.strip());
        }
        return sb.length() == 0 ? message.strip().lines().findFirst().orElse("") : sb.toString();
    }
}
