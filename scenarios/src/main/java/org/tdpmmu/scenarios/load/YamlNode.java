package org.tdpmmu.scenarios.load;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A YAML document as a small tree that remembers, for every node and every mapping key, the line it
 * starts on (Jackson's own trees drop token locations, and error messages need them).
 */
sealed interface YamlNode permits YamlNode.MapNode, YamlNode.ListNode, YamlNode.Scalar, YamlNode.Null {

    /** 1-based line where the node starts. */
    int line();

    /** What the node is, for messages ("a map", "a list", "a value"). */
    String describe();

    /** A mapping key with the line it is on, and its value. */
    record Entry(String key, int keyLine, YamlNode value) {
    }

    record MapNode(int line, Map<String, Entry> entries) implements YamlNode {
        public MapNode {
            entries = new LinkedHashMap<>(entries);
        }

        Entry get(String key) {
            return entries.get(key);
        }

        @Override
        public String describe() {
            return "a map";
        }
    }

    record ListNode(int line, List<YamlNode> items) implements YamlNode {
        public ListNode {
            items = List.copyOf(items);
        }

        @Override
        public String describe() {
            return "a list";
        }
    }

    /**
     * A scalar as written (Jackson's text for it), and whether it was a quoted/plain string rather
     * than a number or boolean token.
     */
    record Scalar(int line, String text, boolean isString) implements YamlNode {
        @Override
        public String describe() {
            return isString ? "\"" + text + "\"" : text;
        }
    }

    /** An explicit null or an empty value ({@code populate:}). */
    record Null(int line) implements YamlNode {
        @Override
        public String describe() {
            return "an empty value";
        }
    }
}
