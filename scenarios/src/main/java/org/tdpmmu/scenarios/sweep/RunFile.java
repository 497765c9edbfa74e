package org.tdpmmu.scenarios.sweep;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tdpmmu.scenarios.engine.RunResult;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.report.JsonReport;
import org.tdpmmu.scenarios.report.Provenance;

/**
 * The result file of one sweep run, {@code DIR/KEY.json}: format {@value #FORMAT}, the key, the
 * point (index and values) and the run as {@code tdpmmu run --json} prints it, provenance included.
 *
 * <p>The key names the run by what it computes: the first {@value #KEY_HEX} hex digits of the
 * SHA-256 of the canonical JSON (keys sorted, no spaces) of the scenario's name, its resolved
 * configuration ({@link Provenance#configuration}: every default filled in, so a grid that spells
 * out a default and one that leaves it out name the same run) and the switches the configuration
 * does not record. The build is not in it: a sweep re-run by a newer tdpmmu keeps the older results
 * (start from an empty directory to measure a new build).
 *
 * <p>Written atomically: the text goes to a hidden temporary file in the same directory, then is
 * renamed over the name. A worker killed halfway leaves a {@code .KEY.*.tmp} file, which is not a
 * result: the next sweep runs the point again and removes it.
 */
public final class RunFile {

    public static final String FORMAT = "tdpmmu-sweep-run/1";
    public static final int KEY_HEX = 16;
    private static final ObjectMapper CANONICAL = new ObjectMapper()
            .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS)
            .enable(com.fasterxml.jackson.databind.MapperFeature.SORT_PROPERTIES_ALPHABETICALLY);
    private static final ObjectMapper MAPPER = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /**
     * A result file read back.
     *
     * @param key    the run's key
     * @param index  the point's index in its grid
     * @param values the point's values, in grid order
     * @param run    the run
     * @param tool   the tdpmmu version and commit that made it
     * @param file   where it was read from
     */
    public record Entry(String key, int index, Map<String, String> values, RunResult run, String tool, Path file) {
    }

    private RunFile() {
    }

    /** The key of {@code s} run with {@code unrecordedSwitches}. */
    public static String key(Scenario s, Map<String, String> unrecordedSwitches) {
        Map<String, Object> what = new LinkedHashMap<>();
        what.put("name", s.name());
        what.put("configuration", Provenance.configuration(s));
        what.put("switches", unrecordedSwitches);
        try {
            byte[] canonical = CANONICAL.writeValueAsBytes(CANONICAL.valueToTree(what));
            byte[] sha = MessageDigest.getInstance("SHA-256").digest(canonical);
            return HexFormat.of().formatHex(sha).substring(0, KEY_HEX);
        } catch (IOException | NoSuchAlgorithmException e) {
            throw new IllegalStateException("cannot hash the configuration of " + s.name(), e);
        }
    }

    /** {@code DIR/KEY.json}. */
    public static Path path(Path dir, String key) {
        return dir.resolve(key + ".json");
    }

    /** Whether {@code file} is a leftover temporary file of run {@code key}. */
    public static boolean isTemp(Path file, String key) {
        String n = file.getFileName().toString();
        return n.startsWith("." + key + ".") && n.endsWith(".tmp");
    }

    /** A fresh temporary file for run {@code key} in {@code dir} (the child's output, or the document). */
    public static Path temp(Path dir, String key, String what) throws IOException {
        return Files.createTempFile(dir, "." + key + "." + what + ".", ".tmp");
    }

    /** Writes the result file of {@code point}'s run, atomically; returns its path. */
    public static Path write(Path dir, String key, Point point, RunResult run, Provenance provenance) throws IOException {
        ObjectNode root = MAPPER.createObjectNode();
        root.put("format", FORMAT);
        root.put("key", key);
        ObjectNode p = root.putObject("point");
        p.put("index", point.index());
        ObjectNode v = p.putObject("values");
        point.values().forEach(v::put);
        root.set("results", MAPPER.readTree(JsonReport.render(List.of(run), provenance)));
        Path tmp = temp(dir, key, "result");
        Path target = path(dir, key);
        try {
            Files.writeString(tmp, MAPPER.writeValueAsString(root) + "\n", StandardCharsets.UTF_8);
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
        return target;
    }

    /**
     * Reads {@code file}.
     *
     * @throws IllegalArgumentException naming what is wrong when it is not a result file
     */
    public static Entry read(Path file) throws IOException {
        JsonNode root;
        try {
            root = MAPPER.readTree(Files.readString(file, StandardCharsets.UTF_8));
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new IllegalArgumentException("not JSON (" + e.getOriginalMessage() + ")");
        }
        if (root == null || !FORMAT.equals(root.path("format").asText())) {
            throw new IllegalArgumentException("not a " + FORMAT + " result file");
        }
        Map<String, String> values = new LinkedHashMap<>();
        root.path("point").path("values").fields().forEachRemaining(e -> values.put(e.getKey(), e.getValue().asText()));
        List<RunResult> runs = JsonReport.parse(MAPPER.writeValueAsString(root.path("results")));
        if (runs.size() != 1) {
            throw new IllegalArgumentException("holds " + runs.size() + " runs instead of one");
        }
        JsonNode tool = root.path("results").path("provenance").path("tdpmmu");
        return new Entry(root.path("key").asText(), root.path("point").path("index").asInt(), values, runs.get(0),
                tool.path("version").asText("unknown") + " (commit " + tool.path("commit").asText("unknown") + ")", file);
    }

    /**
     * Every result file ({@code *.json}, not hidden) in {@code dir}, by file name.
     *
     * @throws IllegalArgumentException naming the directory or the file that is not a result
     */
    public static List<Entry> readDir(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException(dir + ": not a directory");
        }
        List<Path> files;
        try (java.util.stream.Stream<Path> s = Files.list(dir)) {
            files = s.filter(f -> f.getFileName().toString().endsWith(".json") && !f.getFileName().toString().startsWith("."))
                    .sorted().toList();
        }
        List<Entry> out = new java.util.ArrayList<>();
        for (Path f : files) {
            try {
                out.add(read(f));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(f + ": " + e.getMessage(), e);
            }
        }
        return out;
    }
}
