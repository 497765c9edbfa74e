package org.tdpmmu.scenarios.support;

import org.tdpmmu.scenarios.load.ScenarioLoader;
import org.tdpmmu.scenarios.model.Scenario;

/** A run of well under a second on the real engine that goes through a disable step: for the timeline and the report. */
public final class TinyTimeline {

    private TinyTimeline() {
    }

    /** 2 vCPUs x 8 MiB on 2 MiB hugetlb, {@code iterations} dirty passes, disable, a second pass. */
    public static Scenario scenario(boolean eagerSplit, int iterations, String strategy, boolean vcpusRunning,
                                    int secondPassWritePercent) {
        return ScenarioLoader.parse("""
                name: tiny-timeline
                vm:
                  vcpus: 2
                  memoryPerVcpu: 8M
                  memslots: 1
                  backing: anonymous_hugetlb_2mb
                phases:
                  - populate: {}
                  - enableDirtyLogging: { mode: wrprot, eagerSplit: %s }
                  - dirtyPass: { iterations: %d, writePercent: 100, pattern: sequential, seed: 1 }
                  - disableDirtyLogging: { strategy: %s, vcpusRunning: %s }
                  - secondPass: { writePercent: %d }
                  - teardown: {}
                """.formatted(eagerSplit, iterations, strategy, vcpusRunning, secondPassWritePercent),
                "tiny-timeline.yaml");
    }
}
