#!/usr/bin/env bash
# The seeded-bug check: every SeededBug guard, turned off, must be caught.
#  1. The deterministic latch tests (JUnit SeededBugsTest, one method per bug) force the exposing
#     interleaving with and without the bug.
#  2. For each bug, the jcstress tests that should catch it run with the bug on
#     (-Dtdpmmu.seededBugs=BUG, read only by the jcstress-tests module); caught = jcstress exits 1,
#     reports an observed FORBIDDEN state, and prints no FATAL.
#  3. The model checker (mmu-explore SeededBugsExploreTest, EXPLORE.md): with each bug seeded,
#     Lincheck explores the race twins listed there until one schedule ends FORBIDDEN.
# Prints a table bug -> tests -> caught/not caught, and exits non-zero if any bug is caught by
# none, if a latch test fails, if the model checker misses one, or on FATAL. Run from the repo root or anywhere.
#
# JCSTRESS_ARGS overrides the jcstress strength (default as scripts/jcstress-short.sh);
# SKIP_JCSTRESS=1 skips the jcstress half, SKIP_EXPLORE=1 the model checker's (EXPLORE_SEEDED_INVOCATIONS:
# its bound per twin, default 600; it stops at the first failure). Logs and HTML reports: jcstress-tests/target/seeded/.
set -euo pipefail
cd "$(dirname "$0")/.."

FLAG="--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED"
# Each state's VM holds ~110 KiB of direct memory (page-table store, host frames), freed only when
# a GC runs the buffers' cleaners; jcstress makes ~10k states/s. The default limit (= the fork's
# 256 MB heap) ran out in a slow interpreter fork, hence a larger one.
DIRECT="-XX:MaxDirectMemorySize=1g"
ARGS="${JCSTRESS_ARGS:--m quick -sc false -iters 1 -time 200}"
JAR=jcstress-tests/target/jcstress.jar
REPORT=jcstress-tests/target/surefire-reports/TEST-org.tdpmmu.stress.SeededBugsTest.xml

# bug -> jcstress tests that must catch it (simple class names, '|'-separated).
declare -A JCSTRESS=(
  [SKIP_INVALIDATION_RETRY]="FaultVsInvalidation|NestedInvalidationVsSample"
  [NO_FREEZE_IN_REMOVED_PT]="FaultVsAtomicZap"
  [NO_RCU_DEFERRED_FREE]="WalkerVsTableFree|FaultVsAtomicZap"
  [NO_FLUSH_AFTER_ZAP]="FlushVsTlbFill"
  [PLAIN_STORE_INSTEAD_OF_CMPXCHG]="TwoVcpusLinkSameTable|TwoFaultsOneGfn"
  [NO_FROZEN_CHECK_BEFORE_INSTALL]="FaultVsFrozenSpte"
  [NO_DIRTY_CARRY_ON_ZAP]="DbitVsRemovedPt"
  [NO_REPROTECT_BEFORE_HARVEST]="DbitVsHarvest|GetDirtyLogVsWriteFault"
  [PROMOTE_DURING_INVALIDATION]="PromoteVsInvalidation"
  [LEAK_LOSER_TABLE]="TwoVcpusLinkSameTable|TwoFaultsOneGfn"
  [RING_DIRTY_BEFORE_ENTRY]="RingPushVsCollect"
  [RING_PUSH_BEFORE_WRITABLE]="RingResetVsWriteFault"
  [RING_REENTER_BEFORE_RESET]="RingFullVsReset"
  [LOCKLESS_AGE_WITHOUT_RCU]="AgeVsRemovedPt"
  [AGE_PLAIN_STORE]="AgeVsDirtyWrite|AgeVsHarvest"
  # aging races, the rest of issue 18
  [TEST_YOUNG_WITHOUT_PRESENT_CHECK]="TestYoungVsAtomicZap"
  [AGE_TRACK_PLAIN_STORE]="AgeVsEagerSplit"
  # memslot changes at runtime
  [MEMSLOT_FLUSH_WITHOUT_SRCU_SYNC]="FaultVsSlotDelete"
  [HARVEST_WITHOUT_SLOTS_LOCK]="HarvestVsSlotDelete"
  [FAST_PF_PLAIN_STORE]="MoveVsFastPageFault"
  [SKIP_STALE_ROOT_CHECK]="RootReloadVsInvalidRootZap"
  [INVALID_ROOT_ZAP_NOT_ATOMIC]="FastInvalidationVsEagerSplit"
)

# Every constant of the enum, so a new seeded bug without a test fails the check.
mapfile -t BUGS < <(sed -n '/^public enum SeededBug/,/^}/p' mmu-core/src/main/java/org/tdpmmu/core/SeededBug.java |
  grep -oE '^    [A-Z][A-Z0-9_]*' | tr -d ' ')
[ "${#BUGS[@]}" -gt 0 ] || { echo "seeded-bugs: no SeededBug constants found" >&2; exit 1; }

camel() { # SKIP_INVALIDATION_RETRY -> skipInvalidationRetry
  local out="" w
  IFS=_ read -ra words <<<"${1,,}"
  for w in "${words[@]}"; do
    if [ -z "$out" ]; then out="$w"; else out="$out${w^}"; fi
  done
  echo "$out"
}

start=$(date +%s)
status=0

# 1. Latch tests (also builds the jar's inputs; the JUnit run needs no jar).
echo "seeded-bugs: latch tests (SeededBugsTest)" >&2
rm -f "$REPORT"
set +e
mvn -B -q -pl jcstress-tests -am verify -Dtest=SeededBugsTest -Dsurefire.failIfNoSpecifiedTests=false \
  >jcstress-latch.log 2>&1
mvn_rc=$?
set -e
mkdir -p jcstress-tests/target/seeded
mv -f jcstress-latch.log jcstress-tests/target/seeded/latch.log
if [ ! -f "$REPORT" ]; then
  echo "seeded-bugs: no surefire report (mvn exit $mvn_rc); see jcstress-tests/target/seeded/latch.log" >&2
  tail -40 jcstress-tests/target/seeded/latch.log >&2
  exit 1
fi
if [ "$mvn_rc" -ne 0 ]; then status=1; fi
latch_time=$(( $(date +%s) - start ))

latch_result() { # caught: the test case ran and has no failure, error or skipped element
  awk -v name="$(camel "$1")" '
    index($0, "<testcase name=\"" name "\"") { inside = 1; found = 1; if ($0 ~ /\/>[[:space:]]*$/) { inside = 0 } next }
    inside && /<(failure|error|skipped)/ { bad = 1 }
    inside && /<\/testcase>/ { inside = 0 }
    END { print !found ? "missing" : bad ? "FAILED" : "caught" }' "$REPORT"
}

# 2. jcstress with each bug on.
js_start=$(date +%s)
declare -A JS_RESULT
if [ "${SKIP_JCSTRESS:-0}" != 1 ]; then
  if [ ! -f "$JAR" ] || [ -n "$(find pom.xml mmu-concurrency mmu-core jcstress-tests/pom.xml jcstress-tests/src \
      \( -name '*.java' -o -name 'pom.xml' \) -newer "$JAR" -print -quit 2>/dev/null)" ]; then
    echo "seeded-bugs: building $JAR" >&2
    mvn -B -q -pl jcstress-tests -am package -DskipTests
  fi
  for bug in "${BUGS[@]}"; do
    tests="${JCSTRESS[$bug]:-}"
    if [ -z "$tests" ]; then JS_RESULT[$bug]="no test"; continue; fi
    log="seeded/$bug.log"
    echo "seeded-bugs: jcstress $bug -> $tests" >&2
    set +e
    # shellcheck disable=SC2086 # ARGS is a list of options
    (cd jcstress-tests/target && java -jar jcstress.jar -jvmArgs "$FLAG $DIRECT -ea -Dtdpmmu.seededBugs=$bug" $ARGS \
      -t "^org\.tdpmmu\.stress\.($tests)\$" -r "seeded/results-$bug" >"$log" 2>&1)
    rc=$?
    set -e
    out="jcstress-tests/target/$log"
    if grep -q 'FATAL' "$out"; then
      JS_RESULT[$bug]="FATAL"; status=1
    elif [ "$rc" -eq 1 ] && grep -qi 'Observed forbidden state' "$out"; then
      JS_RESULT[$bug]="caught ($(grep -i 'Observed forbidden state' "$out" | grep -oE 'forbidden state: [^ ]+' | sort -u | sed 's/forbidden state: //' | paste -sd, -))"
    else
      JS_RESULT[$bug]="not caught (exit $rc)"
    fi
  done
fi
js_time=$(( $(date +%s) - js_start ))

# Bugs the bounded exploration does not reach yet (their SeededBugsExploreTest method is @Disabled
# with the reason); the latch test and jcstress must still catch them. Listed, never silently passed.
# None today: every seeded bug has a twin the model checker catches within seconds (EXPLORE.md).
declare -A MC_EXEMPT=()

# 3. The model checker with each bug on (one JVM; the result per bug lands in explore-seeded/).
mc_start=$(date +%s)
MC_DIR=mmu-explore/target/explore-seeded
if [ "${SKIP_EXPLORE:-0}" != 1 ]; then
  echo "seeded-bugs: model checker (SeededBugsExploreTest)" >&2
  rm -rf "$MC_DIR"
  set +e
  mvn -B -q -pl mmu-explore -am test -Dexplore.excludedGroups=none -Dtest=SeededBugsExploreTest \
    -Dsurefire.failIfNoSpecifiedTests=false -Dexplore.seededInvocations="${EXPLORE_SEEDED_INVOCATIONS:-600}" \
    >jcstress-tests/target/seeded/explore.log 2>&1
  set -e
fi
mc_time=$(( $(date +%s) - mc_start ))
# Bugs that neither jcstress (at this strength) nor the bounded exploration reaches yet: the latch
# test alone catches them. A known gap, printed in the table as such and never silently passed;
# each entry must go when a race run catches its bug (JCSTRESS.md, "Seeded bugs").
declare -A LATCH_ONLY=()
mc_result() { # "caught by <twin> <seconds>" from the test's file, else why not
  if [ "${SKIP_EXPLORE:-0}" = 1 ]; then echo "skipped"; return; fi
  if [ -n "${MC_EXEMPT[$1]:-}" ]; then echo "exempt: ${MC_EXEMPT[$1]}"; return; fi
  local f="$MC_DIR/$1"
  if [ ! -f "$f" ]; then echo "no result"; return; fi
  local line; line=$(head -1 "$f")
  if [ "$line" = "not caught" ]; then echo "not caught"; else echo "caught: $line"; fi
}

# 3. The table.
printf '\n%-32s %-50s %-42s %-8s %-40s %s\n' "SEEDED BUG" "JCSTRESS TEST(S)" "JCSTRESS" "LATCH" "MODEL CHECKER" "VERDICT"
for bug in "${BUGS[@]}"; do
  latch=$(latch_result "$bug")
  js="${JS_RESULT[$bug]:-skipped}"
  mc=$(mc_result "$bug")
  if [ "$latch" = "caught" ] || [[ "$js" == caught* ]] || [[ "$mc" == caught* ]]; then verdict="caught"; else verdict="NOT CAUGHT"; status=1; fi
  if [ "$latch" != "caught" ]; then status=1; fi
  if [ "${SKIP_EXPLORE:-0}" != 1 ] && [[ "$mc" != caught* ]] && [[ "$mc" != exempt* ]]; then status=1; fi
  if [[ "$mc" == exempt* ]] && [[ "$js" != caught* ]] && [ "${SKIP_JCSTRESS:-0}" != 1 ]; then
    if [ -n "${LATCH_ONLY[$bug]:-}" ] && [ "$latch" = "caught" ]; then verdict="caught (latch only, known gap)"; else status=1; fi
  fi
  printf '%-32s %-50s %-42s %-8s %-40s %s\n' "$bug" "${JCSTRESS[$bug]:-(none)}" "$js" "$latch" "$mc" "$verdict"
done
echo
echo "seeded-bugs: latch tests ${latch_time}s, jcstress ${js_time}s, model checker ${mc_time}s, total $(( $(date +%s) - start ))s" \
  "(logs and reports: jcstress-tests/target/seeded/, model checker: $MC_DIR and mmu-explore/target/explore-failures/)"
if [ "$status" -ne 0 ]; then
  echo "seeded-bugs: FAILED" >&2
  exit 1
fi
echo "seeded-bugs: every seeded bug was caught"
