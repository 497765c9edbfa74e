#!/usr/bin/env bash
# Runs the whole jcstress race catalogue (org.tdpmmu.stress) in a short mode and fails on any
# FORBIDDEN outcome, on "FATAL" in the output, on a non-zero exit, or if not every planned result
# passed. Builds jcstress-tests/target/jcstress.jar first if it is missing or older than a source.
# Runs from jcstress-tests/target, so result files and the HTML report land there:
#   jcstress-tests/target/results-short/index.html, jcstress-tests/target/jcstress-short.log
#
# Override the strength with JCSTRESS_ARGS (default: one JVM mode, 1 iteration of 200 ms per fork),
# the tests with JCSTRESS_TESTS (a regexp), the kernel preset of the races' VMs with TDPMMU_KERNEL
# (e.g. 5.15; default the newest; its log and report then end in -5.15). See JCSTRESS.md.
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
start=$(date +%s)
set +e
# shellcheck disable=SC2086 # ARGS is a list of options
java -jar jcstress.jar -jvmArgs "$FLAG $DIRECT -ea" $ARGS -t "$TESTS" -r "results-short$SUFFIX" >"$LOG" 2>&1
rc=$?
set -e
elapsed=$(( $(date +%s) - start ))

summary=$(grep -E '^\(Results: ' "$LOG" | tail -1 || true)
fail=0
if [ "$rc" -ne 0 ]; then echo "jcstress-short: jcstress exited $rc" >&2; fail=1; fi
if grep -q 'FATAL' "$LOG"; then echo "jcstress-short: FATAL in the output" >&2; grep 'FATAL' "$LOG" >&2; fail=1; fi
if grep -qi 'forbidden state' "$LOG"; then
  echo "jcstress-short: FORBIDDEN outcomes observed:" >&2
  grep -i 'forbidden state' "$LOG" | sort | uniq -c >&2
  fail=1
fi
# "(Results: N planned; N passed, 0 failed, 0 soft errs, 0 hard errs)" and N > 0.
if ! [[ "$summary" =~ ^\(Results:\ ([0-9]+)\ planned\;\ ([0-9]+)\ passed,\ 0\ failed,\ 0\ soft\ errs,\ 0\ hard\ errs\)$ ]] \
    || [ "${BASH_REMATCH[1]}" -eq 0 ] || [ "${BASH_REMATCH[1]}" -ne "${BASH_REMATCH[2]}" ]; then
  echo "jcstress-short: not every planned result passed: ${summary:-no results line}" >&2
  fail=1
fi

echo "jcstress-short: ${summary:-no results} in ${elapsed}s (log: jcstress-tests/target/$LOG, report: jcstress-tests/target/results-short$SUFFIX/index.html)"
if [ "$fail" -ne 0 ]; then
  echo "jcstress-short: FAILED" >&2
  sed -n '/RUN RESULTS/,$p' "$LOG" | head -200 >&2
  exit 1
fi
echo "jcstress-short: all races passed"
