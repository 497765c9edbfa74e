#!/usr/bin/env bash
# CI beside the real kernel: kvm-check on the shipped small scenarios and one side-by-side perf,
# when /dev/kvm works; otherwise says it skipped and exits 0. A few minutes here: the selftests
# build (about 1.5 minutes, cached under target/kernel-selftests/) and the emulated guests' passes.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
if [ ! -c /dev/kvm ] || ! { exec 3<>/dev/kvm; } 2>/dev/null; then
  echo "kvm-ci: skipped: /dev/kvm is missing or cannot be opened on this host"
  exit 0
fi
exec 3>&-
./tdpmmu kvm-check scenarios/kvm-lazy.yaml scenarios/kvm-eager.yaml scenarios/kvm-cold.yaml scenarios/small-default.yaml \
  scenarios/migration-race.yaml
bin="$(scripts/kernel-selftests.sh | tail -1)"
./tdpmmu perf -v 1 -b 64M -i 2 --no-progress --repeat 1 --beside-kernel "$bin/dirty_log_perf_test"
echo "kvm-ci: OK"
