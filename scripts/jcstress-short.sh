#!/usr/bin/env bash
# Runs the whole jcstress race catalogue (org.tdpmmu.stress) in a short mode and fails on any
# FORBIDDEN outcome, on "FATAL" in the output, on a non-zero exit, or if not every planned result
# passed. Builds jcstress-tests/target/jcstress.jar first if it is missing or older than a source.
# Runs from jcstress-tests/target, so result files and the HTML reports land there:
#   jcstress-tests/target/results-short-{killers,rotation,primitives}/index.html, jcstress-tests/target/jcstress-short.log
#
# Three passes (JCSTRESS.md, "CI's jcstress short run on its own"):
#   killers     the VM races that kill a mutant (JCSTRESS_KILLERS, simple class names '|'-separated)
#               at JCSTRESS_KILLER_ARGS (default JCSTRESS_ARGS if that is set, else one JVM mode,
#               1 iteration of 600 ms per fork);
#   rotation    the other VM races at JCSTRESS_ARGS (default 1 iteration of 200 ms): a third of them
#               per run, chosen by JCSTRESS_ROTATION (0, 1 or 2; default the commit count of HEAD
#               modulo 3, else the day of the year; "all" runs every one), so each runs every third
#               commit;
#   primitives  the races on bare primitives (JCSTRESS_PRIMITIVES) at JCSTRESS_PRIMITIVE_ARGS
#               (default 3 iterations of 1 s: the reorderings need compiled actors).
# JCSTRESS_TESTS (a regexp) selects the tests of all three; when it is set, the rotation runs every
# matching race (scripts/mutants.sh and oldest-preset.sh name the races they need).
# The kernel preset of the races' VMs: TDPMMU_KERNEL (e.g. 5.15; default the newest; its logs and
# reports then end in -5.15).
set -euo pipefail
cd "$(dirname "$0")/.."

FLAG="--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED"
# Each state's VM holds ~110 KiB of direct memory (page-table store, host frames), freed only when
# a GC runs the buffers' cleaners; jcstress makes ~10k states/s. The default limit (= the fork's
# 256 MB heap) ran out in a slow interpreter fork, hence a larger one.
DIRECT="-XX:MaxDirectMemorySize=1g"
ARGS="${JCSTRESS_ARGS:--m quick -sc false -iters 1 -time 200}"
TESTS="${JCSTRESS_TESTS:-^org\.tdpmmu\.stress\.}"
JAR=jcstress-tests/target/jcstress.jar

needs_build() {
  [ ! -f "$JAR" ] && return 0
  [ -n "$(find pom.xml mmu-concurrency mmu-core jcstress-tests/pom.xml jcstress-tests/src \
      \( -name '*.java' -o -name 'pom.xml' \) -newer "$JAR" -print -quit 2>/dev/null)" ]
}
if needs_build; then
  echo "jcstress-short: building $JAR" >&2
  mvn -B -q -pl jcstress-tests -am package -DskipTests
fi

cd jcstress-tests/target
# The preset reaches jcstress's forked JVMs through the environment (StressVm.KERNEL).
SUFFIX="${TDPMMU_KERNEL:+-$TDPMMU_KERNEL}"
LOG=jcstress-short$SUFFIX.log
echo "jcstress-short: kernel preset ${TDPMMU_KERNEL:-newest (6.18)}" >&2
: >"$LOG"
start=$(date +%s)
fail=0
summaries=""

# The budget goes where the windows are. The races on a bare primitive ($PRIMITIVES: no VM,
# nothing but the instructions of the pairing) are the only place a hardware reordering (a seq-cst
# store weakened, a fence dropped) shows, and only once C2 has compiled the actors: they run at
# PRIMITIVE_ARGS. Of the VM races, the ones that kill a mutant ($KILLERS) run every time at
# KILLER_ARGS: their windows are where the mutants' are. The rest are regression guards whose
# program-order windows hook-forced latch tests and the model checker reach deterministically:
# they share the rotation.
PRIMITIVES="${JCSTRESS_PRIMITIVES:-EnterGuestVsFlushRequest|RcuEntryVsGracePeriodScan|SrcuReadLockVsSynchronize}"
PRIMITIVE_ARGS="${JCSTRESS_PRIMITIVE_ARGS:--m quick -sc false -iters 3 -time 1000}"
KILLERS="${JCSTRESS_KILLERS:-FaultVsInvalidation|RcuCallbackVsLateReader|WalkerVsTableFree|FlushVsTlbFill|FaultVsAtomicZap|EnableLoggingVsFault|RingResetVsWriteFault|GetDirtyLogVsWriteFault|FaultVsSlotDelete|MoveVsFastPageFault|RootReloadVsInvalidRootZap}"
# A strength asked for with JCSTRESS_ARGS alone (e.g. -m default) holds for the killers too.
KILLER_ARGS="${JCSTRESS_KILLER_ARGS:-${JCSTRESS_ARGS:--m quick -sc false -iters 1 -time 600}}"
if [ -n "${JCSTRESS_ROTATION:-}" ]; then
  ROTATION=$JCSTRESS_ROTATION
elif [ -n "${JCSTRESS_TESTS:-}" ]; then
  ROTATION=all
elif count=$(git -C ../.. rev-list --count HEAD 2>/dev/null); then
  ROTATION=$(( count % 3 ))
else
  ROTATION=$(( 10#$(date +%j) % 3 ))
fi
case "$ROTATION" in
  0|1|2|all) ;;
  *) echo "jcstress-short: JCSTRESS_ROTATION must be 0, 1, 2 or all, not '$ROTATION'" >&2; exit 2 ;;
esac

# run_pass NAME REGEXP ARGS: one jcstress invocation, its checks; a pass that selects no test is skipped.
run_pass() {
  local name=$1 regexp=$2 args=$3 plog="jcstress-short-$1$SUFFIX.log" rc summary
  # shellcheck disable=SC2086 # args is a list of options
  if ! java -jar jcstress.jar -l -t "$regexp" 2>/dev/null | grep -q '^ *org\.tdpmmu\.stress\.'; then return 0; fi
  local pstart=$SECONDS
  set +e
  # shellcheck disable=SC2086 # args is a list of options
  java -jar jcstress.jar -jvmArgs "$FLAG $DIRECT -ea" $args -t "$regexp" -r "results-short-$name$SUFFIX" >"$plog" 2>&1
  rc=$?
  set -e
  cat "$plog" >>"$LOG"
  summary=$(grep -E '^\(Results: ' "$plog" | tail -1 || true)
  summaries="$summaries $name ($((SECONDS - pstart)) s): ${summary:-no results};"
  if [ "$rc" -ne 0 ]; then echo "jcstress-short: jcstress ($name) exited $rc" >&2; fail=1; fi
  if grep -q 'FATAL' "$plog"; then echo "jcstress-short: FATAL in the output ($name)" >&2; grep 'FATAL' "$plog" >&2; fail=1; fi
  if grep -qi 'forbidden state' "$plog"; then
    echo "jcstress-short: FORBIDDEN outcomes observed ($name):" >&2
    grep -i 'forbidden state' "$plog" | sort | uniq -c >&2
    fail=1
  fi
  # "(Results: N planned; N passed, 0 failed, 0 soft errs, 0 hard errs)" and N > 0.
  if ! [[ "$summary" =~ ^\(Results:\ ([0-9]+)\ planned\;\ ([0-9]+)\ passed,\ 0\ failed,\ 0\ soft\ errs,\ 0\ hard\ errs\)$ ]] \
      || [ "${BASH_REMATCH[1]}" -eq 0 ] || [ "${BASH_REMATCH[1]}" -ne "${BASH_REMATCH[2]}" ]; then
    echo "jcstress-short: not every planned result passed ($name): ${summary:-no results line}" >&2
    fail=1
  fi
}
# rotation_share: the simple names of the VM races that are neither killers nor primitives, in
# name order, every third from position ROTATION ('|'-separated; all of them for "all"; empty
# when TESTS selects none of them, which is no failure).
rotation_share() {
  java -jar jcstress.jar -l -t "$TESTS" 2>/dev/null | sed -n 's/^ *org\.tdpmmu\.stress\.\([A-Za-z0-9_]*\)$/\1/p' \
    | { grep -Ev "^($KILLERS|$PRIMITIVES)\$" || true; } | sort -u \
    | awk -v r="$ROTATION" 'r == "all" || (NR - 1) % 3 == r' | paste -sd '|' -
}
SHARE=$(rotation_share)
echo "jcstress-short: rotation $ROTATION: ${SHARE:-(none)}" >&2
# TESTS restricted to each pass's names (the lookaheads keep TESTS as it is).
run_pass killers "^(?=.*\.($KILLERS)\$)(?=.*?(?:$TESTS)).*" "$KILLER_ARGS"
if [ -n "$SHARE" ]; then
  run_pass rotation "^(?=.*\.($SHARE)\$)(?=.*?(?:$TESTS)).*" "$ARGS"
fi
run_pass primitives "^(?=.*\.($PRIMITIVES)\$)(?=.*?(?:$TESTS)).*" "$PRIMITIVE_ARGS"
elapsed=$(( $(date +%s) - start ))
summary="${summaries# }"

echo "jcstress-short: ${summary:-no results} in ${elapsed}s (log: jcstress-tests/target/$LOG, reports: jcstress-tests/target/results-short-{killers,rotation,primitives}$SUFFIX/index.html)"
if [ "$fail" -ne 0 ]; then
  echo "jcstress-short: FAILED" >&2
  sed -n '/RUN RESULTS/,$p' "$LOG" | head -200 >&2
  exit 1
fi
echo "jcstress-short: all races passed"
