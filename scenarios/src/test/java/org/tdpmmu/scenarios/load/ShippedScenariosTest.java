package org.tdpmmu.scenarios.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.tdpmmu.scenarios.cli.ExitCodes;
import org.tdpmmu.scenarios.model.AccessPattern;
import org.tdpmmu.scenarios.model.Backing;
import org.tdpmmu.scenarios.model.DirtyLogMode;
import org.tdpmmu.scenarios.model.HarvestMethod;
import org.tdpmmu.scenarios.model.Phase;
import org.tdpmmu.scenarios.model.Scenario;
import org.tdpmmu.scenarios.model.VmConfig;
import org.tdpmmu.scenarios.support.Shipped;

/** The shipped scenario files and FORMAT.md agree with each other and with what they claim. */
class ShippedScenariosTest {

    private static String read(String name) throws IOException {
        return Files.readString(Shipped.path(name), StandardCharsets.UTF_8);
    }

    /** The bodies of the ```yaml blocks of FORMAT.md, in order. */
    private static List<String> formatYamlBlocks() throws IOException {
        List<String> blocks = new ArrayList<>();
        StringBuilder block = null;
        for (String line : read("FORMAT.md").split("\n", -1)) {
            if (block == null && line.equals("```yaml")) {
                block = new StringBuilder();
            } else if (block != null && line.equals("```")) {
                blocks.add(block.toString());
                block = null;
            } else if (block != null) {
                block.append(line).append('\n');
            }
        }
        return blocks;
    }

    static List<String> shipped() {
        return Shipped.NAMES;
    }

    @Test
    void everyDocumentedScenarioIsShippedAndFormatNamesEveryShippedOne() throws IOException {
        assertTrue(Shipped.NAMES.containsAll(Shipped.DOCUMENTED), Shipped.NAMES.toString());
        String format = read("FORMAT.md");
        for (String name : Shipped.NAMES) {
            assertTrue(format.contains("`" + name + "`"), "FORMAT.md does not list " + name);
        }
    }

    @ParameterizedTest
    @MethodSource("shipped")
    void everyShippedScenarioValidates(String name) {
        Scenario s = ScenarioLoader.load(Shipped.path(name));
        assertEquals(name.replace(".yaml", ""), s.name());
        assertTrue(s.steps().size() >= 3, s.steps().toString());
    }

    @Test
    void theFirstFormatExampleIsSmallDefaultVerbatim() throws IOException {
        List<String> blocks = formatYamlBlocks();
        assertTrue(blocks.size() >= 2, "FORMAT.md has its two examples");
        assertEquals(read("small-default.yaml"), blocks.get(0));
    }

    @Test
    void everyFormatExampleLoads() throws IOException {
        for (String block : formatYamlBlocks()) {
            Scenario s = ScenarioLoader.parse(block, "FORMAT.md");
            assertTrue(s.disablesDirtyLogging(), s.name());
        }
    }

    @Test
    void kernelDefaultFlowIsTheKernelTestsDefaultsAtThe2021Size() {
        Scenario s = ScenarioLoader.load(Shipped.path("kernel-default-flow.yaml"));
        assertEquals(VmConfig.uniform(96, 1L << 30, 1, Backing.ANONYMOUS_HUGETLB_1GB, 4, VmConfig.DEFAULT_SLOT_BASE_GFN),
                s.vm());
        // KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 with KVM_DIRTY_LOG_INITIALLY_SET, no eager split at enable.
        assertEquals(new Phase.EnableDirtyLogging(DirtyLogMode.WRPROT, false, true), s.phases().get(1));
        assertEquals(new Phase.DirtyPass(2, 100, AccessPattern.SEQUENTIAL, 0, 1, HarvestMethod.CLEAR), s.phases().get(2));
    }

    @Test
    void kernelSizedDoesNotClaimToBeTheKernelTestsFlow() throws IOException {
        String text = read("kernel-sized.yaml");
        Scenario s = ScenarioLoader.load(Shipped.path("kernel-sized.yaml"));
        Phase.EnableDirtyLogging enable = (Phase.EnableDirtyLogging) s.phases().get(1);
        // Eager split at enable with manual protect but without initially-set: a flow the kernel test cannot run.
        assertTrue(enable.eagerSplit() && !enable.initiallySet());
        assertTrue(text.contains("not dirty_log_perf_test's"), "kernel-sized.yaml says what it is");
    }

    @Test
    void formatDocumentsEveryExitCode() throws Exception {
        String format = read("FORMAT.md");
        String exits = format.substring(format.indexOf("- Exit codes"));
        for (Field f : ExitCodes.class.getFields()) {
            int code = f.getInt(null);
            assertTrue(exits.contains("**" + code + "**"), "FORMAT.md does not document exit " + code + " (" + f.getName() + ")");
        }
    }
}
