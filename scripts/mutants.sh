#!/usr/bin/env bash
# Mutation testing of the MMU's concurrent paths (JCSTRESS.md, "Mutants"). Each mutants/NN-name.patch
# is one plausible kernel-developer mistake (its header says which, and which kernel rule it breaks);
# none is a SeededBug and none is in the shipped code. For each patch this script copies a tree into
# a scratch directory under $MUTANTS_WORK (default /tmp/tdpmmu-mutants; never the working tree),
# applies the patch there, and runs each killer on its own, recording every verdict even when an
# earlier killer already killed the mutant:
#   junit    - the README's test command, `mvn -B verify`, without mmu-explore if the tree has it and
#              without benchmarks (no tests there: the verdict is the same, a minute faster), and
#              stopping at the first failed test (the verdict is the same, a killed mutant costs less);
#              in the scratch copy jcstress-tests (the latch tests, ~12 s) is listed before scenarios
#              (~2 min), which it does not depend on: the same tests, a mutant a latch test kills
#              stops two minutes sooner; and without scenarios when no class the patch changes is
#              named by any other main source nor by scenarios (Prefault: only its own tests call it),
#              since then no scenarios test can run the mutated code (its results line says so, and
#              names the first test that failed)
#   jcstress - CI's jcstress short run, scripts/jcstress-short.sh (see JCSTRESS_SCOPE below)
#   explore  - the model checker: the race twins (RaceTwinsTest) of the races on the patch's
#              "# jcstress:" line (EXPLORE_SCOPE=full: every twin) at MUTANTS_EXPLORE_INVOCATIONS
#              schedules each (default 40; CI's own bound is 30), only if the tree has mmu-explore with test
#              sources (else "-" in the table)
#
# Usage: scripts/mutants.sh [-t TREE] [-k junit,jcstress,explore] [-o OUT] [-s I/N] [-T] [REGEXP]
#   -t TREE  checkout to mutate (default: this script's repository); its uncommitted files count.
#            The patches always come from this script's repository (mutants/).
#   -k LIST  killers to run (default: all three)
#   -o OUT   results file (default $MUTANTS_WORK/results.tsv; one line per mutant x killer, appended)
#   -s I/N   run only shard I of N (mutants whose position in the list is I modulo N): two shards
#            in parallel, with the same OUT and MUTANTS_WORK, halve the wall time on a free machine
#   -T       only print the table and the scores of OUT (lines of OUT starting with # are comments;
#            mutants/results-full-scope.tsv is such a file: JCSTRESS_SCOPE=full, kept apart)
#   REGEXP   run only the mutants whose file name matches (grep -E)
# Environment:
#   JCSTRESS_SCOPE=full     run the whole short catalogue per mutant instead of the tests named on
#                           the patch's "# jcstress:" line (default "listed"); with
#                           JCSTRESS_ROTATION=all every race, ~8.5 min a mutant here (2026-12-03;
#                           raise MUTANTS_TIMEOUT_JCSTRESS); results kept apart from the listed
#                           scope's, as in mutants/results-full-scope.tsv
#   MUTANTS_TIMEOUT_JUNIT / _JCSTRESS / _EXPLORE   seconds per killer run (default 900 / 900 / 900)
#   MUTANTS_NO_BASELINE=1   skip the unmutated baseline (which must pass, else nothing is measured)
#
# Verdicts per killer: KILLED (the killer failed: a test failure or error, a FORBIDDEN outcome, a
# jcstress error), survived, HANG (the killer ran past its timeout here; counted as NOT killed,
# since no test reported a timeout failure of its own), build (the mutant did not compile: a broken
# patch, never counted), error (Maven failed without a failed test: not counted as killed), -.
# A results line ends with a note: the first test that failed (junit, explore) or the races that
# failed (jcstress), and the 1-minute load average at the run's start and end (`load a-b`).
# The last lines print the table and each killer's score.
# It needs ~1.5 min (junit) + 0.5-3 min (jcstress) + the explore time per mutant on 2 cores; it
# does not run in CI.
set -uo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
TREE="$HERE"
KILLERS="junit,jcstress,explore"
SHARD="0/1"
TABLE_ONLY=""
WORK="${MUTANTS_WORK:-/tmp/tdpmmu-mutants}"
OUT=""
while getopts "t:k:o:s:T" opt; do
  case "$opt" in
    t) TREE="$(cd "$OPTARG" && pwd)" ;;
    k) KILLERS="$OPTARG" ;;
    o) OUT="$OPTARG" ;;
    s) SHARD="$OPTARG" ;;
    T) TABLE_ONLY=1 ;;
    *) sed -n '2,46p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
FILTER="${1:-.}"
OUT="${OUT:-$WORK/results.tsv}"
SCOPE="${JCSTRESS_SCOPE:-listed}"
T_JUNIT="${MUTANTS_TIMEOUT_JUNIT:-900}"
T_JCS="${MUTANTS_TIMEOUT_JCSTRESS:-900}"
T_EXP="${MUTANTS_TIMEOUT_EXPLORE:-900}"
mkdir -p "$WORK"

has_explore() { [ -d "$1/mmu-explore/src/test" ] && grep -q '<module>mmu-explore</module>' "$1/pom.xml"; }

# Fresh copy of the tree without build output or git metadata.
copy_tree() {
  rm -rf "$2" && mkdir -p "$2"
  tar -C "$1" --exclude=./.git --exclude=target --exclude=./mutants -cf - . | tar -C "$2" -xf -
}

# True unless every main class the patch changes is named by no other main source file and by no
# file of the scenarios module: then the scenarios tests cannot run the mutated code.
reaches_scenarios() {
  local f c
  for f in $(sed -n 's|^+++ b/||p' "$2"); do
    case "$f" in */src/main/java/*.java) ;; *) return 0 ;; esac
    c=$(basename "$f" .java)
    if grep -rlw --include='*.java' "$c" "$1/scenarios/src" "$1"/mmu-*/src/main 2>/dev/null | grep -qv "/$c.java\$"; then
      return 0
    fi
  done
  return 1
}

# A Maven run that failed kills the mutant only if a test failed or erred (surefire's own summary,
# which includes a JUnit @Timeout); any other failure is "error" (an infrastructure problem).
test_failed() {
  if [ "$1" -eq 0 ]; then echo survived
  elif grep -Eq 'Tests run: [0-9]+, (Failures: [1-9]|Failures: [0-9]+, Errors: [1-9])' "$2"; then echo KILLED
  else echo error; fi
}

# The first test that failed or erred, as Class#method (surefire's per-test line), if any.
failed_test() {
  grep -m1 -oE '^\[ERROR\] [a-z][a-z0-9_.]*\.[A-Z][A-Za-z0-9_]*\.[A-Za-z0-9_]+.* <<< (FAILURE|ERROR)!' "$1" |
    sed -E 's/^\[ERROR\] ([a-z0-9_.]*\.)?([A-Z][A-Za-z0-9_]*)\.([A-Za-z0-9_]+).*/by \2#\3/'
}

# run_killer NAME DIR LOG: prints the verdict.
run_killer() {
  local name=$1 dir=$2 log=$3 rc
  case "$name" in
    junit)
      local excl='!benchmarks'
      if has_explore "$dir"; then excl="$excl,!mmu-explore"; fi
      if ! reaches_scenarios "$dir" "$PATCH"; then excl="$excl,!scenarios"; echo "without scenarios" >"$log.note"; fi
      # Independent modules build in the order listed: the cheap latch tests first.
      if ! grep -q '<artifactId>scenarios</artifactId>' "$dir/jcstress-tests/pom.xml"; then
        sed -i '/<module>scenarios<\/module>/d; s|<module>jcstress-tests</module>|&\n    <module>scenarios</module>|' "$dir/pom.xml"
      fi
      (cd "$dir" && timeout "$T_JUNIT" mvn -B -o verify -pl "$excl" -Dsurefire.skipAfterFailureCount=1) >"$log" 2>&1; rc=$?
      if [ $rc -eq 124 ]; then echo HANG; return; fi
      if grep -q 'COMPILATION ERROR' "$log"; then echo build; return; fi
      failed_test "$log" >>"$log.note"
      test_failed "$rc" "$log" ;;
    jcstress)
      local tests=""
      if [ "$SCOPE" != full ]; then
        tests=$(sed -n 's/^# jcstress: *//p' "$PATCH" | head -1)
      fi
      # Build the jar with the tests skipped (junit is a separate killer), then the short run.
      (cd "$dir" && mvn -B -o -q -pl jcstress-tests -am package -DskipTests) >"$log" 2>&1 || { echo build; return; }
      if [ -n "$tests" ]; then
        (cd "$dir" && JCSTRESS_TESTS="^org\.tdpmmu\.stress\.($tests)\$" timeout "$T_JCS" bash scripts/jcstress-short.sh) >>"$log" 2>&1
      else
        (cd "$dir" && timeout "$T_JCS" bash scripts/jcstress-short.sh) >>"$log" 2>&1
      fi
      rc=$?
      local run="${log%.log}-run.log"
      cp "$dir/jcstress-tests/target/jcstress-short.log" "$run" 2>/dev/null
      # Killed: a FORBIDDEN outcome, a failed test or a hard error (an exception escaped, a fork
      # crashed). Soft errors alone (a fork that could not run, e.g. a JNA load failure) are "error".
      # The catalogue tests that failed or erred, for the results line (which test bought the kill).
      grep -oE '\[(FAILED|ERROR)\] org\.tdpmmu\.stress\.[A-Za-z0-9_]+' "$run" 2>/dev/null | sed 's/.*\.//' | sort -u |
        paste -sd+ - | sed '/^$/d; s/^/by /' >>"$log.note"
      if [ $rc -eq 124 ]; then echo HANG
      elif [ $rc -eq 0 ]; then echo survived
      elif grep -qi 'observed forbidden state' "$run" ||
          grep -Eq '^\(Results: [0-9]+ planned; [0-9]+ passed, ([1-9][0-9]* failed, [0-9]+ soft errs, [0-9]+|[0-9]+ failed, [0-9]+ soft errs, [1-9][0-9]*) hard errs\)' "$run"; then
        echo KILLED
      else echo error; fi ;;
    explore)
      if ! has_explore "$dir"; then echo -; return; fi
      # The race twins (RaceTwinsTest, no bug seeded) of the patch's "# jcstress:" races, at the
      # bounded CI strength; EXPLORE_SCOPE=full runs every twin. The exploring tests carry the
      # "explore" tag, which plain verify excludes: hence excludedGroups=none.
      local twins="RaceTwinsTest"
      if [ "${EXPLORE_SCOPE:-listed}" != full ]; then
        # Only the races that have a twin (a catalogue race in another form, II_Result actors say, has none).
        twins=$(sed -n 's/^# jcstress: *//p' "$PATCH" | head -1 | tr '|' '\n' | sed 's/^./\L&/' |
          while read -r m; do grep -q "void $m()" "$dir/mmu-explore/src/test/java/org/tdpmmu/explore/RaceTwinsTest.java" && echo "$m"; done |
          paste -sd+ -)
        if [ -z "$twins" ]; then echo -; return; fi
        twins="RaceTwinsTest${twins:+#$twins}"
      fi
      (cd "$dir" && timeout "$T_EXP" mvn -B -o verify -pl mmu-explore -am -Dexplore.excludedGroups=none \
          -Dtest="$twins" -Dexplore.invocations="${MUTANTS_EXPLORE_INVOCATIONS:-40}" \
          -Dsurefire.failIfNoSpecifiedTests=false -Dsurefire.skipAfterFailureCount=1) >"$log" 2>&1; rc=$?
      if [ $rc -eq 124 ]; then echo HANG; return; fi
      if grep -q 'COMPILATION ERROR' "$log"; then echo build; return; fi
      failed_test "$log" >>"$log.note"
      test_failed "$rc" "$log" ;;
  esac
}

# The table and the scores. A mutant is invalid if a verdict is build or no-apply; else KILLED if
# any killer killed it, survived if every killer gave a verdict (survived, HANG, or - where it
# cannot run), incomplete otherwise (a killer not run, or error). Rows in name order.
print_table() {
awk -F'\t' -v ks="$KILLERS" '
  $1 == "baseline" || /^#/ { next }
  { v[$1, $2] = $3; note[$1, $2] = $5; if (!($1 in seen)) { seen[$1] = 1; order[n++] = $1 } }
  END {
    for (i = 1; i < n; i++) { m = order[i]; for (j = i - 1; j >= 0 && order[j] > m; j--) order[j + 1] = order[j]; order[j + 1] = m }
    nk = split(ks, K, ",")
    hdr = "| mutant |"; sep = "|---|"
    for (j = 1; j <= nk; j++) { hdr = hdr " " K[j] " |"; sep = sep "---|" }
    print hdr " any |"; print sep "---|"
    for (i = 0; i < n; i++) {
      m = order[i]; bad = 0; any = 0; open = 0; row = "| " m " |"
      for (j = 1; j <= nk; j++) {
        x = v[m, K[j]]; if (x == "build" || x == "no-apply") bad = 1
        if (x == "") x = "not run"
        if (x == "KILLED") any = 1
        if (x != "KILLED" && x != "survived" && x != "HANG" && x != "-") open = 1
        if (note[m, K[j]] != "") x = x " (" note[m, K[j]] ")"
        row = row " " x " |"
      }
      if (bad) { print row " (invalid) |"; invalid++; continue }
      valid++
      for (j = 1; j <= nk; j++) { x = v[m, K[j]]; if (x == "KILLED") kill[j]++; if (x == "KILLED" || x == "survived" || x == "HANG") ran[j]++ }
      if (any) { anyk++; verdict = "**KILLED**" } else if (open) { incomplete++; verdict = "incomplete" } else { surv++; verdict = "survived" }
      print row " " verdict " |"
    }
    printf "\nscores over %d valid mutants (%d invalid), each killer over the mutants it gave a verdict on:", valid, invalid
    for (j = 1; j <= nk; j++) printf " %s %d/%d;", K[j], kill[j], ran[j]
    printf " together %d/%d (killed / killed + survived; %d incomplete)\n", anyk, anyk + surv, incomplete
  }' "$OUT"
}

IFS=, read -r -a KS <<<"$KILLERS"
# jcstress's forks load JNA's native library for CPU affinity from a per-user cache directory;
# another JNA version extracted there makes every fork a soft error. A private directory avoids it.
mkdir -p "$WORK/jna"
export JAVA_TOOL_OPTIONS="${JAVA_TOOL_OPTIONS:+$JAVA_TOOL_OPTIONS }-Djna.tmpdir=$WORK/jna"
if [ -n "$TABLE_ONLY" ]; then print_table; exit 0; fi
touch "$OUT"
# One snapshot of the tree and of the patches per run: edits made meanwhile do not leak in.
SNAP="$WORK/snapshot-${SHARD%/*}"
copy_tree "$TREE" "$SNAP/tree"
mkdir -p "$SNAP/patches" && rm -f "$SNAP/patches/"*.patch && cp "$HERE"/mutants/*.patch "$SNAP/patches/"
echo "mutants: tree $TREE, killers ${KILLERS}, jcstress scope $SCOPE, work $WORK" >&2

if [ -z "${MUTANTS_NO_BASELINE:-}" ]; then
  copy_tree "$SNAP/tree" "$WORK/baseline"
  for k in "${KS[@]}"; do
    PATCH=/dev/null
    v=$(run_killer "$k" "$WORK/baseline" "$WORK/baseline-$k.log")
    printf 'baseline\t%s\t%s\n' "$k" "$v" | tee -a "$OUT" >&2
    if [ "$v" != survived ] && [ "$v" != - ]; then
      echo "mutants: the unmutated tree fails $k ($v; $WORK/baseline-$k.log): nothing can be measured" >&2
      exit 1
    fi
  done
fi

position=0
for PATCH in "$SNAP"/patches/*.patch; do
  name=$(basename "$PATCH" .patch)
  echo "$name" | grep -Eq "$FILTER" || continue
  position=$((position + 1))
  [ $(( (position - 1) % ${SHARD#*/} )) -eq "${SHARD%/*}" ] || continue
  dir="$WORK/$name"
  copy_tree "$SNAP/tree" "$dir"
  if ! (cd "$dir" && git apply "$PATCH") 2>"$WORK/$name-apply.log"; then
    for k in "${KS[@]}"; do printf '%s\t%s\t%s\n' "$name" "$k" "no-apply" | tee -a "$OUT" >&2; done
    continue
  fi
  for k in "${KS[@]}"; do
    start=$(date +%s)
    rm -f "$WORK/$name-$k.log.note"
    load0=$(cut -d' ' -f1 /proc/loadavg)
    v=$(run_killer "$k" "$dir" "$WORK/$name-$k.log")
    # The machine's 1-minute load average at the start and the end of the run, for the timing.
    echo "load $load0-$(cut -d' ' -f1 /proc/loadavg)" >>"$WORK/$name-$k.log.note"
    printf '%s\t%s\t%s\t%ss\t%s\n' "$name" "$k" "$v" "$(( $(date +%s) - start ))" \
      "$(paste -sd';' "$WORK/$name-$k.log.note" 2>/dev/null | sed 's/;/; /g')" | tee -a "$OUT" >&2
  done
  rm -rf "$dir"
done
print_table
