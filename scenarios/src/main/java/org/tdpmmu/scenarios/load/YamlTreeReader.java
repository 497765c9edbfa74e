package org.tdpmmu.scenarios.load;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tdpmmu.scenarios.model.ScenarioException;

/** Reads YAML text into a {@link YamlNode} tree with the YAML parser's token locations. */
final class YamlTreeReader {

    private static final YAMLFactory FACTORY = new YAMLFactory();

    private final String file;

    YamlTreeReader(String file) {
        this.file = file;
    }

    /** The single document in {@code text}; a syntax error is a {@link ScenarioException}. */
    YamlNode read(String text) {
        try (JsonParser p = FACTORY.createParser(text)) {
            JsonToken t = p.nextToken();
            if (t == null) {
                throw new ScenarioException(file, 0, null, "the file is empty (a scenario needs at least vm: and phases:)");
            }
            YamlNode root = value(p, t);
            JsonToken more = p.nextToken();
            if (more != null) {
                throw new ScenarioException(file, line(p), null, "only one YAML document is allowed in a scenario file");
            }
            return root;
        } catch (JacksonException e) {
            JsonLocation loc = e.getLocation();
            int line = loc == null ? 0 : loc.getLineNr();
            throw new ScenarioException(file, Math.max(line, 0), null, "YAML syntax error: " + firstLine(e.getOriginalMessage()));
        } catch (IOException e) {
            throw new ScenarioException(file, 0, null, "cannot read: " + e.getMessage());
        }
    }

    private YamlNode value(JsonParser p, JsonToken t) throws IOException {
        int line = line(p);
        switch (t) {
            case START_OBJECT: {
                Map<String, YamlNode.Entry> entries = new LinkedHashMap<>();
                for (JsonToken k = p.nextToken(); k != JsonToken.END_OBJECT; k = p.nextToken()) {
                    String key = p.currentName();
                    int keyLine = line(p);
                    YamlNode v = value(p, p.nextToken());
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
                    items.add(value(p, i));
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
