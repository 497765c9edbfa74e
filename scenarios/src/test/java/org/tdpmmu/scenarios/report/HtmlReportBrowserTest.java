package org.tdpmmu.scenarios.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tdpmmu.scenarios.engine.ProgressListener;
import org.tdpmmu.scenarios.engine.RunResult;
import org.tdpmmu.scenarios.model.RecoveryStrategy;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.sim.MmuEngine;
import org.tdpmmu.scenarios.support.TinyTimeline;

/**
 * The report page in a real browser: a tiny scenario compared over the three strategies on the
 * mmu-core engine, its report opened in headless Chromium; every chart image must load
 * ({@code naturalWidth > 0}) and must not be blank (more than a handful of colours, and enough
 * pixels that are not the background).
 *
 * <p>The page is checked as written, plus one script appended to a copy of it, which on the load
 * event (after every image) draws each image on a canvas and writes what it found into the DOM;
 * {@code --dump-dom} prints that DOM. Skips, with the reason, where no Chromium is found
 * ({@code /usr/bin/chromium}, or {@code $CHROMIUM}); {@code scripts/browser-test.sh} installs it
 * from the distribution's packages and sets {@code TDPMMU_REQUIRE_BROWSER=1}, which turns the skip
 * into a failure.
 */
class HtmlReportBrowserTest {

    /** Appended before {@code </body>}: one line per image, {@code IMG file naturalWidth colours inkPermille}. */
    private static final String PROBE = """
            <script>
            window.addEventListener('load', function () {
              var out = [];
              document.querySelectorAll('img').forEach(function (img) {
                var line = 'IMG ' + img.getAttribute('src') + ' ' + img.naturalWidth;
                try {
                  var c = document.createElement('canvas');
                  c.width = img.naturalWidth; c.height = img.naturalHeight;
                  var g = c.getContext('2d');
                  g.drawImage(img, 0, 0);
                  var d = g.getImageData(0, 0, c.width, c.height).data;
                  var seen = {}, colours = 0, ink = 0, n = d.length / 4;
                  for (var i = 0; i < d.length; i += 4) {
                    var k = (d[i] << 16) | (d[i + 1] << 8) | d[i + 2];
                    if (!seen[k]) { seen[k] = 1; colours++; }
                    if (k !== 0xffffff) { ink++; }
                  }
                  line += ' ' + colours + ' ' + Math.round(1000 * ink / n);
                } catch (e) {
                  line += ' error ' + e;
                }
                out.push(line);
              });
              var pre = document.createElement('pre');
              pre.id = 'probe';
              pre.textContent = 'PROBE-START\\n' + out.join('\\n') + '\\nPROBE-END';
              document.body.appendChild(pre);
            });
            </script>
            """;

    @Test
    void everyChartLoadsAndIsNotBlank(@TempDir Path dir) throws Exception {
        Path chromium = chromium();
        String reason = "no Chromium at " + chromium + ": run scripts/browser-test.sh (installs Debian's chromium) "
                + "or set CHROMIUM";
        if (!Files.isExecutable(chromium)) {
            if ("1".equals(System.getenv("TDPMMU_REQUIRE_BROWSER"))) {
                fail(reason + " (TDPMMU_REQUIRE_BROWSER=1)");
            }
            Assumptions.abort(reason);
        }
        Scenario s = TinyTimeline.scenario(true, 1, "promote_in_place", true, 50);
        List<RunResult> runs = new ArrayList<>();
        MmuEngine engine = new MmuEngine();
        for (RecoveryStrategy st : RecoveryStrategy.values()) {
            runs.add(engine.run(s.withStrategy(st), ProgressListener.NONE));
        }
        Path report = dir.resolve("report");
        Path index = ReportWriter.html(runs, report);
        String html = Files.readString(index);
        List<String> srcs = new ArrayList<>();
        Matcher m = Pattern.compile("<img src=\"([^\"]+)\"").matcher(html);
        while (m.find()) {
            srcs.add(m.group(1));
        }
        assertEquals(List.of("disable-step.png", "disable-timeline.png", "fault-latency.png", "phase-wall-times.png",
                "phase-modeled-times.png"), srcs, "the charts the page shows");

        Path probe = report.resolve("probe.html");
        Files.writeString(probe, html.replace("</body>", PROBE + "</body>"), StandardCharsets.UTF_8);
        String dom = dumpDom(chromium, probe, dir.resolve("profile"));
        // The script's own text holds the markers too: read after the <pre> it added.
        int a = dom.indexOf("PROBE-START", Math.max(0, dom.indexOf("<pre id=\"probe\">")));
        int b = dom.indexOf("PROBE-END", Math.max(0, a));
        assertTrue(a >= 0 && b > a, "the probe did not run; Chromium printed:\n" + dom);
        List<String> lines = dom.substring(a, b).lines().filter(l -> l.startsWith("IMG ")).toList();
        assertEquals(srcs.size(), lines.size(), String.join("\n", lines));
        for (String line : lines) {
            String[] f = line.split(" ");
            assertTrue(f.length == 5, "could not read the pixels: " + line);
            assertTrue(Integer.parseInt(f[2]) > 0, "image did not load: " + line);
            assertTrue(Integer.parseInt(f[3]) > 8, "a single colour or nearly (blank): " + line);
            assertTrue(Integer.parseInt(f[4]) >= 5, "fewer than 0.5% of the pixels drawn (blank): " + line);
        }
    }

    private static Path chromium() {
        String env = System.getenv("CHROMIUM");
        return Path.of(env != null && !env.isBlank() ? env : "/usr/bin/chromium");
    }

    private static String dumpDom(Path chromium, Path page, Path profile) throws IOException, InterruptedException {
        Files.createDirectories(profile);
        List<String> cmd = List.of(chromium.toString(), "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
                "--user-data-dir=" + profile,
                // file:// pages are opaque origins: without this, reading back an image's pixels throws.
                "--allow-file-access-from-files",
                "--virtual-time-budget=10000", "--dump-dom", page.toUri().toString());
        Path out = profile.resolve("dom.html");
        Path err = profile.resolve("stderr.txt");
        Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail("Chromium did not exit within 120 s: " + Files.readString(err));
        }
        if (p.exitValue() != 0) {
            fail("Chromium exited " + p.exitValue() + ": " + Files.readString(err));
        }
        String dom = Files.readString(out, StandardCharsets.UTF_8);
        return dom;
    }
}
