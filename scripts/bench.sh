#!/usr/bin/env bash
# Runs every benchmark figure and writes BENCHMARKS.md at the repository root:
#   1. builds benchmarks/target/benchmarks.jar (and the ./tdpmmu CLI jar with it);
#   2. runs the JMH hot-path benchmarks and their limits in one run, with the gc profiler;
#   3. runs the parallel-fault benchmark and its two limits at -t 1 and at -t 2, three forks each,
#      without -prof gc;
#   4. runs the kernel-sized scenario (96 vCPUs x 1 GiB) once per recovery strategy through
#      ./tdpmmu, measuring wall time and peak resident memory;
#   5. generates BENCHMARKS.md from the JSON results (org.tdpmmu.benchmarks.Report).
# The whole default run takes about 6 minutes on an idle 2-core machine (longer when other work
# shares the cores). Raw results and JMH logs land in benchmarks/target/bench/.
#
# Options:
#   --no-kernel-sized   skip step 4 (about 1 minute idle); BENCHMARKS.md then says it was not run
#   --with-kernel-sized run step 4 (the default)
#   --quick             1 warmup and 1 measurement iteration: a smoke test, figures not for keeping
#   --out FILE          write the report somewhere other than BENCHMARKS.md
# Environment: JMH_ARGS replaces the iteration settings (default "-f 1 -wi 2 -w 1s -i 5 -r 1s").
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

FLAG="--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED"
KERNEL_SIZED=1
OUT="$ROOT/BENCHMARKS.md"
ITER_ARGS="${JMH_ARGS:--f 1 -wi 2 -w 1s -i 5 -r 1s}"
while [ $# -gt 0 ]; do
  case "$1" in
    --no-kernel-sized) KERNEL_SIZED=0 ;;
    --with-kernel-sized) KERNEL_SIZED=1 ;;
    --quick) ITER_ARGS="-f 1 -wi 1 -w 1s -i 1 -r 1s" ;;
    --out) shift; OUT="$1" ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

DIR="$ROOT/benchmarks/target/bench"
JAR="$ROOT/benchmarks/target/benchmarks.jar"
START=$(date +%s)
rm -rf "$DIR"
mkdir -p "$DIR"
CMDS="$DIR/commands.txt"
: >"$CMDS"

# Processes other than this script using more than 20% of a core now (top's second sample).
busy() { top -b -n 2 -d 1 2>/dev/null | awk '/^top -/ {n++} n == 2 && $1 ~ /^[0-9]+$/ && $9 + 0 > 20 {printf "%s %s(%s%%) ", $1, $12, $9}'; }
log() { echo "bench.sh [$(( $(date +%s) - START ))s] $*" >&2; }
# Records a command line for the report, then runs it.
run() { echo "$*" >>"$CMDS"; "$@"; }

log "building"
run mvn -B -q -DskipTests -pl benchmarks -am package

# Machine facts, read before the load of the run itself.
{
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "nproc=$(nproc)"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/^[^:]*: *//')"
  echo "mem=$(grep -m1 MemTotal /proc/meminfo | awk '{printf "%.1f GiB", $2/1048576}')"
  echo "kernel=$(uname -sr)"
  echo "java=$(java -version 2>&1 | tr '\n' ' ' | sed 's/  */ /g')"
  echo "load_start=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "others_start=$(busy)"
  echo "jmh_args=$ITER_ARGS"
} >"$DIR/machine.properties"

# shellcheck disable=SC2086 # ITER_ARGS is a list of options
JMH=(java -jar "$JAR" $ITER_ARGS -jvmArgsAppend "$FLAG")

log "JMH: hot paths and limits"
run "${JMH[@]}" -prof gc -rf json -rff "$DIR/jmh.json" -e 'ParallelFaultBench' \
  'org\.tdpmmu\.benchmarks\.' >"$DIR/jmh.log" 2>&1 || { tail -40 "$DIR/jmh.log" >&2; exit 1; }

# The parallel figure: three forks, every iteration listed in the report, because the 2-thread
# throughput is bimodal on this machine (~1.65x or ~1x, notes.md Hot spots 2); no -prof gc, to
# keep the profiler out of a figure that sensitive; its allocation figure is the benchmark's own
# loop B/op counter.
PAR_ITER_ARGS="${ITER_ARGS/-f 1 /-f 3 }"
# shellcheck disable=SC2086
PAR_JMH=(java -jar "$JAR" $PAR_ITER_ARGS -jvmArgsAppend "$FLAG")
for t in 1 2; do
  log "JMH: parallel faults, $t thread(s)"
  run "${PAR_JMH[@]}" -t "$t" -rf json -rff "$DIR/parallel-t$t.json" 'ParallelFaultBench' \
    >"$DIR/parallel-t$t.log" 2>&1 || { tail -40 "$DIR/parallel-t$t.log" >&2; exit 1; }
done

# Peak RSS and wall time of one ./tdpmmu run: GNU time if present, else poll /proc/PID/status.
measure() {
  local name="$1"; shift
  local props="$DIR/$name.properties" t0 t1 rc
  echo "$*" >>"$CMDS"
  if [ -x /usr/bin/time ]; then
    set +e
    /usr/bin/time -v -o "$DIR/$name.time" "$@" >"$DIR/$name.json" 2>"$DIR/$name.err"
    rc=$?
    set -e
    {
      echo "rc=$rc"
      echo "method=/usr/bin/time -v"
      echo "wall=$(awk '/Elapsed \(wall clock\)/ {print $NF}' "$DIR/$name.time" |
        awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')"
      echo "rss_kb=$(sed -n 's/.*Maximum resident set size (kbytes): *//p' "$DIR/$name.time")"
      echo "cpu_percent=$(sed -n 's/.*Percent of CPU this job got: *//p' "$DIR/$name.time")"
    } >"$props"
  else
    t0=$(date +%s.%N)
    "$@" >"$DIR/$name.json" 2>"$DIR/$name.err" &
    local pid=$! hwm=0 v
    while kill -0 "$pid" 2>/dev/null; do
      v=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
      [ -n "$v" ] && [ "$v" -gt "$hwm" ] && hwm=$v
      sleep 0.2
    done
    set +e; wait "$pid"; rc=$?; set -e
    t1=$(date +%s.%N)
    {
      echo "rc=$rc"
      echo "method=/proc/PID/status VmHWM, polled every 0.2 s"
      echo "wall=$(echo "$t1 - $t0" | bc)"
      echo "rss_kb=$hwm"
    } >"$props"
  fi
}

if [ "$KERNEL_SIZED" = 1 ]; then
  for s in zap_leafs zap_huge promote_in_place; do
    log "kernel-sized scenario, strategy $s"
    measure "kernel-sized-$s" ./tdpmmu run scenarios/kernel-sized.yaml --strategy "$s" --json
  done
fi

{
  echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "others_end=$(busy)"
  echo "elapsed=$(( $(date +%s) - START ))"
  echo "kernel_sized=$KERNEL_SIZED"
} >>"$DIR/machine.properties"

log "writing $OUT"
java -cp "$JAR" org.tdpmmu.benchmarks.Report "$DIR" "$OUT"
log "done in $(( $(date +%s) - START ))s"
