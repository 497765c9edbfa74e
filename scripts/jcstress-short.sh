#!/usr/bin/env bash
# Runs the whole jcstress race catalogue (org.tdpmmu.stress) in a short mode and fails on any
# FORBIDDEN outcome, on "FATAL" in the output, on a non-zero exit, or if not every planned result
# passed. Builds jcstress-tests/target/jcstress.jar first if it is missing or older than a source.
# Runs from jcstress-tests/target, so result files and the HTML reports land there:
#   jcstress-tests/target/results-short-{races,primitives}/index.html, jcstress-tests/target/jcstress-short.log
#
# Two passes: the VM races at JCSTRESS_ARGS (default: one JVM mode, 1 iteration of 200 ms per
# fork), the races on bare primitives (JCSTRESS_PRIMITIVES, simple class names '|'-separated,
# default EnterGuestVsFlushRequest|RcuEntryVsGracePeriodScan) at JCSTRESS_PRIMITIVE_ARGS (default 3 iterations of 1 s: the
# reorderings need compiled actors). JCSTRESS_TESTS (a regexp) selects the tests of both. See JCSTRESS.md.
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

# The budget goes where the windows are. The VM races' windows are program-order ones, which
# more samples of the same race do not reach (JCSTRESS.md, "CI's jcstress short run on its own"),
# so they run at ARGS; the races on a bare primitive ($PRIMITIVES: no VM, nothing but the
# instructions of the pairing) are the only place a hardware reordering (a seq-cst store weakened,
# a fence dropped) shows, and only once C2 has compiled the actors: they run at PRIMITIVE_ARGS.
PRIMITIVES="${JCSTRESS_PRIMITIVES:-EnterGuestVsFlushRequest|RcuEntryVsGracePeriodScan}"
PRIMITIVE_ARGS="${JCSTRESS_PRIMITIVE_ARGS:--m quick -sc false -iters 3 -time 1000}"

# run_pass NAME REGEXP ARGS: one jcstress invocation, its checks; a pass that selects no test is skipped.
run_pass() {
  local name=$1 regexp=$2 args=$3 plog="jcstress-short-$1$SUFFIX.log" rc summary
  # shellcheck disable=SC2086 # args is a list of options
  if ! java -jar jcstress.jar -l -t "$regexp" 2>/dev/null | grep -q '^ *org\.tdpmmu\.stress\.'; then return 0; fi
  set +e
  # shellcheck disable=SC2086 # args is a list of options
  java -jar jcstress.jar -jvmArgs "$FLAG $DIRECT -ea" $args -t "$regexp" -r "results-short-$name$SUFFIX" >"$plog" 2>&1
  rc=$?
  set -e
  cat "$plog" >>"$LOG"
  summary=$(grep -E '^\(Results: ' "$plog" | tail -1 || true)
  summaries="$summaries $name: ${summary:-no results};"
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
# TESTS restricted to, or cleared of, the primitives (the lookaheads keep TESTS as it is).
run_pass races "^(?!.*\.($PRIMITIVES)\$)(?=.*?(?:$TESTS)).*" "$ARGS"
run_pass primitives "^(?=.*\.($PRIMITIVES)\$)(?=.*?(?:$TESTS)).*" "$PRIMITIVE_ARGS"
elapsed=$(( $(date +%s) - start ))
summary="${summaries# }"

echo "jcstress-short: ${summary:-no results} in ${elapsed}s (log: jcstress-tests/target/$LOG, reports: jcstress-tests/target/results-short-{races,primitives}$SUFFIX/index.html)"
if [ "$fail" -ne 0 ]; then
  echo "jcstress-short: FAILED" >&2
  sed -n '/RUN RESULTS/,$p' "$LOG" | head -200 >&2
  exit 1
fi
echo "jcstress-short: all races passed"
