package org.tdpmmu.scenarios.support;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.charset.MalformedInputException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * A user's clone has only the repository: no file may point outside it, and every relative link of
 * the Markdown documentation must name a file that exists.
 */
class StandsOnItsOwnTest {

    /** Built from parts so this file does not match itself. */
    private static final List<String> OUTSIDE = List.of(".." + "/shared", "/work" + "/shared");
    private static final Pattern LINK = Pattern.compile("\\]\\(([^)#\\s]+)(#[^)]*)?\\)");

    private static Path root() {
        return Shipped.moduleDir().toAbsolutePath().normalize().getParent();
    }

    private static List<Path> files() throws IOException {
        try (Stream<Path> walk = Files.walk(root())) {
            return walk.filter(Files::isRegularFile)
                    .filter(p -> {
                        String rel = root().relativize(p).toString();
                        return !rel.startsWith(".git") && !rel.contains("target/") && !rel.startsWith("target");
                    })
                    .toList();
        }
    }

    private static String text(Path p) throws IOException {
        try {
            return Files.readString(p, StandardCharsets.UTF_8);
        } catch (MalformedInputException e) {
            return "";
        }
    }

    @Test
    void noFilePointsOutsideTheRepository() throws IOException {
        List<String> offenders = new ArrayList<>();
        for (Path p : files()) {
            String t = text(p);
            for (String bad : OUTSIDE) {
                if (t.contains(bad)) {
                    offenders.add(root().relativize(p) + " mentions " + bad);
                }
            }
        }
        assertEquals(List.of(), offenders);
    }

    @Test
    void everyRelativeMarkdownLinkResolves() throws IOException {
        List<String> broken = new ArrayList<>();
        int links = 0;
        for (Path p : files()) {
            if (!p.toString().endsWith(".md")) {
                continue;
            }
            Matcher m = LINK.matcher(text(p));
            while (m.find()) {
                String target = m.group(1);
                if (target.contains("://") || target.startsWith("mailto:")) {
                    continue;
                }
                links++;
                if (!Files.exists(p.getParent().resolve(target))) {
                    broken.add(root().relativize(p) + " -> " + target);
                }
            }
        }
        assertEquals(List.of(), broken);
        assertTrue(links >= 10, links + " relative links checked");
    }

    /** The rows of the module table: lines whose first cell is a backticked module directory. */
    private static List<String> moduleRows(Path markdown) throws IOException {
        List<String> rows = new ArrayList<>();
        for (String line : text(markdown).split("\n")) {
            Matcher m = Pattern.compile("^\\| `([a-z-]+)` \\|").matcher(line);
            if (m.find() && Files.isDirectory(root().resolve(m.group(1)))) {
                rows.add(line);
            }
        }
        return rows;
    }

    @Test
    void designAndReadmeShowTheSameModuleTable() throws IOException {
        List<String> readme = moduleRows(root().resolve("README.md"));
        assertTrue(readme.size() >= 4, readme.toString());
        assertEquals(readme, moduleRows(root().resolve("docs/DESIGN.md")));
    }

    @Test
    void theDocsExist() {
        for (String doc : List.of("DESIGN.md", "KERNEL-NOTES.md", "TOOLCHAIN.md")) {
            assertTrue(Files.isRegularFile(root().resolve("docs").resolve(doc)), "docs/" + doc);
        }
    }
}
