package org.tdpmmu.scenarios.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.tdpmmu.scenarios.sweep.RunFile;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(name = "merge", mixinStandardHelpOptions = true,
        description = {"Merge the result files of sweeps (the --out directories of its shards) into one report: "
                + "disable wall and modeled time, TLB flushes at disable, faults after disable and total wall time "
                + "against the swept key, a column (and a line) per strategy, median [min-max] over the seeds. "
                + "A run found in several directories counts once."})
final class MergeCommand implements Callable<Integer> {

    private final CliContext ctx;

    @Spec
    CommandLine.Model.CommandSpec spec;

    @Parameters(arity = "1..*", paramLabel = "DIR", description = "Directories of result files (sweep --out).")
    List<Path> dirs;

    @Mixin
    SweepOutput output;

    MergeCommand(CliContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public Integer call() throws IOException {
        output.check(spec.commandLine());
        Map<String, RunFile.Entry> byKey = new LinkedHashMap<>();
        int duplicates = 0;
        for (Path d : dirs) {
            List<RunFile.Entry> entries;
            try {
                entries = RunFile.readDir(d);
            } catch (IllegalArgumentException e) {
                throw new CliException(ExitCodes.BAD_INPUT, "tdpmmu merge: " + e.getMessage());
            }
            for (RunFile.Entry e : entries) {
                if (byKey.putIfAbsent(e.key(), e) != null) {
                    duplicates++;
                }
            }
        }
        if (byKey.isEmpty()) {
            throw new CliException(ExitCodes.BAD_INPUT, "tdpmmu merge: no result files in " + dirs);
        }
        if (duplicates > 0) {
            ctx.err.println("merge: " + duplicates + " result file(s) of runs already read were left out (same key)");
        }
        return output.print(new ArrayList<>(byKey.values()), ctx);
    }
}
