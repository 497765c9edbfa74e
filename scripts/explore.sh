#!/usr/bin/env bash
# The model-checked suite (mmu-explore, EXPLORE.md): every race twin with no bug seeded (every
# explored schedule must end ACCEPTABLE). The seeded-bug half (each bug caught by exploration
# alone) runs in scripts/seeded-bugs.sh; EXPLORE_TESTS=RaceTwinsTest,SeededBugsExploreTest runs both here.
# Bounded by default (CI); EXPLORE_INVOCATIONS=N sets the schedules explored per race
# (default 40; full strength: EXPLORE_INVOCATIONS=2000). EXPLORE_TESTS overrides the surefire selection.
# TDPMMU_KERNEL=5.15 runs the races' VMs in that kernel preset (default the newest).
# Exits non-zero on any failure. Run from the repo root or anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."

INVOCATIONS="${EXPLORE_INVOCATIONS:-40}"
TESTS="${EXPLORE_TESTS:-RaceTwinsTest}"
start=$(date +%s)
echo "explore: $TESTS, $INVOCATIONS invocations per race, kernel preset ${TDPMMU_KERNEL:-newest (6.18)}" >&2
mvn -B -q -pl mmu-explore -am test -Dexplore.excludedGroups=none -Dtest="$TESTS" -Dsurefire.failIfNoSpecifiedTests=false \
  -Dexplore.invocations="$INVOCATIONS"
echo "explore: passed in $(( $(date +%s) - start ))s (failure reports, if any: mmu-explore/target/explore-failures/)"
