package org.tdpmmu.scenarios.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tdpmmu.scenarios.engine.RunResult;
import org.tdpmmu.scenarios.engine.Violation;
import org.tdpmmu.scenarios.load.ScenarioLoader;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.support.Shipped;

/** Every output format records what ran: scenario and its resolved configuration, build, JVM, host, date, seeds. */
class ProvenanceTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    private static Scenario scenario(String name) {
        return ScenarioLoader.load(Shipped.path(name));
    }

    private static Provenance provenance(Scenario s) {
        return Provenance.of("compare " + s.source(), s, List.of("zap_leafs", "zap_huge", "promote_in_place"), 3,
                "each run in a fresh JVM");
    }

    private static List<RunResult> runs(Scenario s) {
        return ReportWriterTest.compareRuns(s);
    }

    @Test
    void treeHoldsTheResolvedConfigurationAndTheSeeds() {
        Scenario s = scenario("migration-race.yaml");
        JsonNode p = provenance(s).json();
        assertEquals(s.name(), p.at("/scenario/name").asText());
        assertEquals(s.description(), p.at("/scenario/description").asText());
        JsonNode conf = p.at("/scenario/configuration");
        assertEquals(s.vm().vcpus(), conf.at("/vm/vcpus").asInt());
        assertEquals(s.vm().slots().size(), conf.at("/vm/slots").size());
        assertEquals(s.vm().slots().get(0).backing().yamlName(), conf.at("/vm/slots/0/backing").asText());
        assertEquals(s.phases().size(), conf.at("/phases").size());
        // defaults the file did not write are resolved: every cost key, every phase field
        assertEquals(s.costModel().units().size(), conf.at("/costModel").size());
        assertEquals(1500, conf.at("/costModel/fault").asLong());
        assertTrue(conf.at("/phases/2/dirtyPass").has("zipfExponent"), conf.toString());
        assertEquals(s.host().size(), conf.at("/host").size());
        assertTrue(p.at("/seeds").has("host[0].seed"), p.at("/seeds").toString());
        assertTrue(p.at("/seeds").has("phases[2].dirtyPass.seed"), p.at("/seeds").toString());
        assertEquals(3, p.at("/runs/repeatsPerStrategy").asInt());
        assertEquals(Runtime.getRuntime().availableProcessors(), p.at("/host/cores").asInt());
        assertFalse(p.at("/host/cpu").asText().isEmpty());
        assertTrue(p.at("/host/memory").asText().endsWith("RAM"));
        assertTrue(p.at("/jvm/flags").isArray());
        assertTrue(p.at("/date").asText().matches("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ"), p.at("/date").asText());
    }

    @Test
    void versionAndCommitComeFromTheBuildAndAreUnknownWithoutIt() throws Exception {
        Properties built = new Properties();
        try (InputStream in = Provenance.class.getResourceAsStream(Provenance.BUILD_RESOURCE)) {
            assertTrue(in != null, "the build writes " + Provenance.BUILD_RESOURCE);
            built.load(in);
        }
        JsonNode p = provenance(scenario("small-default.yaml")).json();
        assertEquals(Provenance.buildValue(built, "version"), p.at("/tdpmmu/version").asText());
        assertEquals(Provenance.buildValue(built, "commit"), p.at("/tdpmmu/commit").asText());
        assertNotEquals(Provenance.UNKNOWN, p.at("/tdpmmu/version").asText());
        assertEquals(Provenance.UNKNOWN, Provenance.buildValue(new Properties(), "commit"), "no resource: a tarball build");
        Properties unfiltered = new Properties();
        unfiltered.setProperty("commit", "${tdpmmu.git.commit}");
        assertEquals(Provenance.UNKNOWN, Provenance.buildValue(unfiltered, "commit"));
    }

    @Test
    void textHeaderIsCommentLinesBeforeTheTable() {
        Scenario s = scenario("small-default.yaml");
        String text = ReportWriter.text(runs(s), provenance(s));
        List<String> header = text.lines().takeWhile(l -> l.startsWith("# ")).toList();
        String h = String.join("\n", header);
        for (String key : List.of("# scenario: small-default", "#   vm: {vcpus: 4", "#   phases: [{populate: {}}",
                "#   costModel: {", "# seeds: {phases[2].dirtyPass.seed: 1", "# runs: [zap_leafs, zap_huge, promote_in_place] x 3",
                "# command: tdpmmu compare", "# tdpmmu: ", "# jvm: ", "# host: ", "# date: ")) {
            assertTrue(h.contains(key), key + " in\n" + h);
        }
        assertTrue(text.substring(h.length()).startsWith("\n\nscenario small-default: one run per recovery strategy"), text);
        String single = ReportWriter.text(runs(s).subList(0, 1), provenance(s));
        assertTrue(single.startsWith("# scenario: small-default"), single);
    }

    @Test
    void jsonCarriesTheProvenance() throws Exception {
        Scenario s = scenario("mixed-backing.yaml");
        JsonNode root = JSON.readTree(ReportWriter.json(runs(s), provenance(s)));
        assertEquals(provenance(s).json().at("/scenario").toString(), root.at("/provenance/scenario").toString());
        assertEquals(4, root.at("/provenance/scenario/configuration/vm/slots").size());
        assertTrue(root.at("/provenance/tdpmmu").has("commit"));
        assertTrue(root.at("/provenance/host").has("cpu"));
    }

    @Test
    void csvRowsCarryTheVerdictAndTheProvenance() throws Exception {
        Scenario s = scenario("small-default.yaml");
        List<RunResult> rs = new ArrayList<>(runs(s));
        RunResult bad = rs.get(1);
        rs.set(1, new RunResult(bad.scenarioName(), bad.strategy(), bad.phases(),
                List.of(new Violation(Violation.NO_LEAK, "2 tables"))));
        List<List<String>> rows = parseCsv(ReportWriter.csv(rs, provenance(s)));
        List<String> header = rows.get(0);
        for (String col : List.of("safe", "violations", "repeats", "wall_min_ns", "wall_max_ns", "tdpmmu_version",
                "git_commit", "date", "command", "jvm", "host", "seeds", "configuration")) {
            assertTrue(header.contains(col), col + " in " + header);
        }
        int steps = s.steps().size();
        assertEquals(1 + 3 * steps, rows.size());
        for (int i = 1; i < rows.size(); i++) {
            List<String> row = rows.get(i);
            assertEquals(header.size(), row.size(), "row " + i);
            boolean zapHuge = row.get(header.indexOf("strategy")).equals("zap_huge");
            assertEquals(Boolean.toString(!zapHuge), row.get(header.indexOf("safe")), "row " + i);
            assertEquals(zapHuge ? "1" : "0", row.get(header.indexOf("violations")), "row " + i);
            JsonNode conf = JSON.readTree(row.get(header.indexOf("configuration")));
            assertEquals(4, conf.at("/vm/vcpus").asInt());
            assertTrue(row.get(header.indexOf("seeds")).contains("phases[2].dirtyPass.seed: 1"));
        }
    }

    @Test
    void htmlPageSaysWhatRan(@TempDir Path dir) throws Exception {
        Scenario s = scenario("small-default.yaml");
        Path index = ReportWriter.html(runs(s), provenance(s), dir);
        String html = Files.readString(index);
        assertTrue(html.contains("<h2>What ran</h2>"), html);
        assertTrue(html.contains("<th>scenario</th>"), html);
        assertTrue(html.contains("small-default"), html);
        assertTrue(html.contains("<th>tdpmmu</th>"), html);
        assertTrue(html.contains("<th>host</th>"), html);
        assertTrue(html.contains("<th>seeds</th>"), html);
        assertTrue(html.contains("<th>vm</th><td style=\"text-align:left\">{vcpus: 4"), html);
    }

    /** RFC 4180: quoted cells may hold commas, doubled quotes and newlines. */
    static List<List<String>> parseCsv(String csv) {
        List<List<String>> rows = new ArrayList<>();
        List<String> row = new ArrayList<>();
        StringBuilder cell = new StringBuilder();
        boolean quoted = false;
        for (int i = 0; i < csv.length(); i++) {
            char c = csv.charAt(i);
            if (quoted) {
                if (c == '"' && i + 1 < csv.length() && csv.charAt(i + 1) == '"') {
                    cell.append('"');
                    i++;
                } else if (c == '"') {
                    quoted = false;
                } else {
                    cell.append(c);
                }
            } else if (c == '"') {
                quoted = true;
            } else if (c == ',') {
                row.add(cell.toString());
                cell.setLength(0);
            } else if (c == '\n') {
                row.add(cell.toString());
                cell.setLength(0);
                rows.add(row);
                row = new ArrayList<>();
            } else {
                cell.append(c);
            }
        }
        return rows;
    }
}
