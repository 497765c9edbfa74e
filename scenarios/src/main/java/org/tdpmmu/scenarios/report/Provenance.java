package org.tdpmmu.scenarios.report;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.lang.reflect.RecordComponent;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import org.tdpmmu.scenarios.model.CostModel;
import org.tdpmmu.scenarios.model.HostEvent;
import org.tdpmmu.scenarios.model.Phase;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.model.Sizes;
import org.tdpmmu.scenarios.model.YamlNamed;

/**
 * What ran, for every output (text header, JSON, CSV, HTML): the scenario (name, description,
 * where it came from and its fully resolved configuration — every default filled in, the cost
 * model whole), the seeds, how the runs were made (strategies, repeats, fresh JVM or not), the
 * command line, and the build, JVM and host it ran on, with the date.
 *
 * <p>Version and commit come from {@code tdpmmu-build.properties}, written by the scenarios
 * module's build (maven-antrun calls {@code git rev-parse HEAD}; {@code -dirty} when tracked files
 * differed from it); "unknown" when built outside a git checkout or without git. The rest is read
 * from the running JVM and, on Linux, {@code /proc/cpuinfo}; anything unreadable is "unknown".
 */
public final class Provenance {

    /** The resource the build writes. */
    static final String BUILD_RESOURCE = "/tdpmmu-build.properties";
    public static final String UNKNOWN = "unknown";

    private static final ObjectMapper MAPPER = new ObjectMapper();

    private final Map<String, Object> tree;

    private Provenance(Map<String, Object> tree) {
        this.tree = tree;
    }

    /**
     * The provenance of runs of {@code scenario} made now on this JVM.
     *
     * @param command    the command line as typed, after {@code tdpmmu} ({@code compare small.yaml})
     * @param scenario   the scenario as loaded or built (its own strategy; see {@code strategies})
     * @param strategies the strategies the runs used, in order (one for run and perf, three for compare)
     * @param repeats    runs per strategy
     * @param isolation  how the runs were isolated from each other ({@code fresh JVM per run})
     */
    public static Provenance of(String command, Scenario scenario, List<String> strategies, int repeats,
                                String isolation) {
        Map<String, Object> t = new LinkedHashMap<>();
        Map<String, Object> sc = new LinkedHashMap<>();
        sc.put("name", scenario.name());
        sc.put("description", scenario.description());
        sc.put("source", scenario.source());
        sc.put("configuration", configuration(scenario));
        t.put("scenario", sc);
        t.put("seeds", seeds(scenario));
        Map<String, Object> runs = new LinkedHashMap<>();
        runs.put("strategies", List.copyOf(strategies));
        runs.put("repeatsPerStrategy", repeats);
        runs.put("isolation", isolation);
        t.put("runs", runs);
        t.put("command", command);
        Map<String, Object> tool = new LinkedHashMap<>();
        tool.put("version", build("version"));
        tool.put("commit", build("commit"));
        t.put("tdpmmu", tool);
        t.put("jvm", jvm());
        t.put("host", host());
        t.put("date", Instant.now().truncatedTo(ChronoUnit.SECONDS).toString());
        return new Provenance(t);
    }

    /** Ordered nested maps, lists and scalars (what JSON gets). */
    public Map<String, Object> tree() {
        return tree;
    }

    /** {@link #tree} as JSON. */
    public JsonNode json() {
        return MAPPER.valueToTree(tree);
    }

    /** The scenario's name (for perf: its flags). */
    public String scenarioName() {
        return (String) section("scenario").get("name");
    }

    /**
     * The text header: one {@code # key: value} line per item, so that {@code grep -v '^#'} leaves
     * the tables (and, for perf, the kernel test's own lines) alone.
     */
    public String textHeader() {
        StringBuilder sb = new StringBuilder();
        Map<String, Object> sc = section("scenario");
        line(sb, "scenario", sc.get("name") + (((String) sc.get("description")).isEmpty() ? ""
                : " — " + sc.get("description")) + " (" + sc.get("source") + ")");
        @SuppressWarnings("unchecked")
        Map<String, Object> conf = (Map<String, Object>) sc.get("configuration");
        conf.forEach((k, v) -> line(sb, "  " + k, flow(v)));
        line(sb, "seeds", flow(tree.get("seeds")));
        Map<String, Object> runs = section("runs");
        line(sb, "runs", flow(runs.get("strategies")) + " x " + runs.get("repeatsPerStrategy") + ", "
                + runs.get("isolation") + (((Integer) runs.get("repeatsPerStrategy")) > 1
                ? "; wall figures are medians [min-max]" : ""));
        line(sb, "command", "tdpmmu " + tree.get("command"));
        Map<String, Object> tool = section("tdpmmu");
        line(sb, "tdpmmu", tool.get("version") + ", commit " + tool.get("commit"));
        Map<String, Object> jvm = section("jvm");
        line(sb, "jvm", jvm.get("name") + " " + jvm.get("version") + " (" + jvm.get("vendor") + "), flags: "
                + String.join(" ", strings(jvm.get("flags"))));
        Map<String, Object> host = section("host");
        line(sb, "host", host.get("cpu") + ", " + host.get("cores") + " cores, "
                + host.get("memory") + ", " + host.get("os"));
        line(sb, "date", (String) tree.get("date"));
        return sb.toString();
    }

    /**
     * Columns every CSV row carries, by header name: version, commit, date, command, JVM, host,
     * seeds and the resolved configuration as compact JSON.
     */
    public Map<String, String> csvColumns() {
        Map<String, String> m = new LinkedHashMap<>();
        Map<String, Object> tool = section("tdpmmu");
        Map<String, Object> jvm = section("jvm");
        Map<String, Object> host = section("host");
        Map<String, Object> runs = section("runs");
        m.put("repeats_per_strategy", String.valueOf(runs.get("repeatsPerStrategy")));
        m.put("isolation", String.valueOf(runs.get("isolation")));
        m.put("tdpmmu_version", String.valueOf(tool.get("version")));
        m.put("git_commit", String.valueOf(tool.get("commit")));
        m.put("date", String.valueOf(tree.get("date")));
        m.put("command", "tdpmmu " + tree.get("command"));
        m.put("jvm", jvm.get("name") + " " + jvm.get("version") + " " + String.join(" ", strings(jvm.get("flags"))));
        m.put("host", host.get("cpu") + ", " + host.get("cores") + " cores, " + host.get("memory"));
        m.put("seeds", flow(tree.get("seeds")));
        try {
            m.put("configuration", MAPPER.writeValueAsString(section("scenario").get("configuration")));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        return m;
    }

    /** Label and value pairs for a short "what ran" block (the HTML page). */
    public Map<String, String> summary() {
        Map<String, String> m = new LinkedHashMap<>();
        textHeader().lines().forEach(l -> {
            String s = l.substring(2);
            int i = s.indexOf(": ");
            m.put(s.substring(0, i), s.substring(i + 2));
        });
        return m;
    }

    /** The version and commit of this build: {@code 0.1.0-SNAPSHOT (commit abc123...)}. */
    public static String buildVersion() {
        return build("version") + " (commit " + build("commit") + ")";
    }

    /** The scenario as fully resolved: every field the engine reads, defaults filled in. */
    public static Map<String, Object> configuration(Scenario s) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("vm", value(s.vm()));
        m.put("costModel", new LinkedHashMap<>(s.costModel().units()));
        List<Object> phases = new ArrayList<>();
        for (Phase p : s.phases()) {
            phases.add(Map.of(p.yamlName(), value(p)));
        }
        m.put("phases", phases);
        m.put("host", value(s.host()));
        return m;
    }

    /** Every seed of the scenario, by field path ({@code phases[2].dirtyPass.seed}). */
    static Map<String, Object> seeds(Scenario s) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < s.phases().size(); i++) {
            Phase p = s.phases().get(i);
            if (p instanceof Phase.DirtyPass d) {
                m.put("phases[" + i + "].dirtyPass.seed", d.seed());
            } else if (p instanceof Phase.SecondPass d) {
                m.put("phases[" + i + "].secondPass.seed", d.seed());
            } else if (p instanceof Phase.MemslotChange d) {
                m.put("phases[" + i + "].memslotChange.seed", d.seed());
            }
        }
        for (int i = 0; i < s.host().size(); i++) {
            HostEvent h = s.host().get(i);
            m.put("host[" + i + "].seed", h.seed());
        }
        return m;
    }

    /** A record as an ordered map of its components; enums by their file spelling. */
    private static Object value(Object o) {
        if (o == null || o instanceof Number || o instanceof Boolean || o instanceof String) {
            return o;
        }
        if (o instanceof YamlNamed y) {
            return y.yamlName();
        }
        if (o instanceof Enum<?> e) {
            return e.name().toLowerCase(Locale.ROOT);
        }
        if (o instanceof CostModel c) {
            return new LinkedHashMap<>(c.units());
        }
        if (o instanceof List<?> l) {
            List<Object> out = new ArrayList<>();
            l.forEach(x -> out.add(value(x)));
            return out;
        }
        if (o.getClass().isRecord()) {
            Map<String, Object> m = new LinkedHashMap<>();
            for (RecordComponent c : o.getClass().getRecordComponents()) {
                try {
                    m.put(c.getName(), value(c.getAccessor().invoke(o)));
                } catch (ReflectiveOperationException e) {
                    throw new IllegalStateException("cannot read " + c + " of " + o, e);
                }
            }
            return m;
        }
        return o.toString();
    }

    /** YAML flow style, one line: {@code {vcpus: 4, slots: [{id: 0, ...}]}}. */
    static String flow(Object o) {
        if (o instanceof Map<?, ?> m) {
            StringBuilder sb = new StringBuilder("{");
            m.forEach((k, v) -> sb.append(sb.length() > 1 ? ", " : "").append(k).append(": ").append(flow(v)));
            return sb.append('}').toString();
        }
        if (o instanceof List<?> l) {
            StringBuilder sb = new StringBuilder("[");
            l.forEach(v -> sb.append(sb.length() > 1 ? ", " : "").append(flow(v)));
            return sb.append(']').toString();
        }
        if (o instanceof String s && (s.isEmpty() || s.contains(",") || s.contains(":") || s.contains("{"))) {
            return '"' + s.replace("\"", "\\\"") + '"';
        }
        return String.valueOf(o);
    }

    private static void line(StringBuilder sb, String key, String value) {
        sb.append("# ").append(key).append(": ").append(value).append('\n');
    }

    @SuppressWarnings("unchecked")
    private Map<String, Object> section(String key) {
        return (Map<String, Object>) tree.get(key);
    }

    private static List<String> strings(Object o) {
        List<String> out = new ArrayList<>();
        ((List<?>) o).forEach(x -> out.add(String.valueOf(x)));
        return out;
    }

    private static final class Build {
        static final Properties PROPS = load();

        private static Properties load() {
            Properties p = new Properties();
            try (InputStream in = Provenance.class.getResourceAsStream(BUILD_RESOURCE)) {
                if (in != null) {
                    p.load(new java.io.InputStreamReader(in, StandardCharsets.UTF_8));
                }
            } catch (IOException e) {
                // an unreadable resource is the same as a missing one: "unknown"
            }
            return p;
        }
    }

    private static String build(String key) {
        return buildValue(Build.PROPS, key);
    }

    /** {@code key} of the build properties; "unknown" when missing, empty or left unfiltered. */
    static String buildValue(Properties props, String key) {
        String v = props.getProperty(key, "").strip();
        return v.isEmpty() || v.startsWith("${") ? UNKNOWN : v;
    }

    private static Map<String, Object> jvm() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", System.getProperty("java.vm.name", UNKNOWN));
        m.put("version", System.getProperty("java.runtime.version", System.getProperty("java.version", UNKNOWN)));
        m.put("vendor", System.getProperty("java.vm.vendor", UNKNOWN));
        List<String> flags;
        try {
            flags = List.copyOf(ManagementFactory.getRuntimeMXBean().getInputArguments());
        } catch (RuntimeException e) {
            flags = List.of(UNKNOWN);
        }
        m.put("flags", flags);
        return m;
    }

    private static Map<String, Object> host() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("cpu", cpuModel());
        m.put("cores", Runtime.getRuntime().availableProcessors());
        m.put("memory", memory());
        m.put("os", System.getProperty("os.name", UNKNOWN) + " " + System.getProperty("os.version", "")
                + " " + System.getProperty("os.arch", ""));
        return m;
    }

    private static String cpuModel() {
        Path cpuinfo = Path.of("/proc/cpuinfo");
        try {
            if (Files.isReadable(cpuinfo)) {
                for (String l : Files.readAllLines(cpuinfo, StandardCharsets.ISO_8859_1)) {
                    if (l.startsWith("model name") && l.indexOf(':') > 0) {
                        return l.substring(l.indexOf(':') + 1).strip();
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            // fall through: no model name on this platform
        }
        return System.getProperty("os.arch", UNKNOWN) + " (model " + UNKNOWN + ")";
    }

    private static String memory() {
        try {
            java.lang.management.OperatingSystemMXBean os = ManagementFactory.getOperatingSystemMXBean();
            if (os instanceof com.sun.management.OperatingSystemMXBean sun) {
                return Sizes.human(sun.getTotalMemorySize()) + " RAM";
            }
        } catch (RuntimeException | LinkageError e) {
            // not a HotSpot-style JVM
        }
        return UNKNOWN + " RAM";
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Provenance p && p.tree.equals(tree);
    }

    @Override
    public int hashCode() {
        return Objects.hash(tree);
    }
}
