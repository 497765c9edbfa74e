#!/usr/bin/env bash
# Builds the kernel's KVM selftests that tdpmmu stands beside (dirty_log_perf_test, dirty_log_test,
# access_tracking_perf_test, memslot_perf_test) and caches them under
# target/kernel-selftests/<release>/, where <release> is the tree's VERSION.PATCHLEVEL.SUBLEVEL.
#   KSRC=/path/to/linux scripts/kernel-selftests.sh   # a kernel tree of your own
#   scripts/kernel-selftests.sh                       # else the distribution's linux-source-6.12,
#                                                     # installed with apt-get when missing
# Prints the directory holding the binaries on its last line. A cached build is reused (seconds);
# a fresh one takes about 1.5 minutes on 2 cores.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tests=(dirty_log_perf_test dirty_log_test access_tracking_perf_test memslot_perf_test)

release_of() { # the release a kernel tree's top Makefile names
  awk -F' = ' '/^VERSION =/{v=$2} /^PATCHLEVEL =/{p=$2} /^SUBLEVEL =/{s=$2} END{print v"."p"."s}' "$1/Makefile"
}

cached() { # true if every binary is in $1
  for t in "${tests[@]}"; do [ -x "$1/$t" ] || return 1; done
}

if [ -n "${KSRC:-}" ]; then
  [ -f "$KSRC/Makefile" ] || { echo "kernel-selftests: KSRC=$KSRC holds no kernel tree (no Makefile)" >&2; exit 2; }
  tree="$(cd "$KSRC" && pwd)"
  out="$here/target/kernel-selftests/$(release_of "$tree")"
  if cached "$out"; then echo "$out"; exit 0; fi
else
  tarball=/usr/src/linux-source-6.12.tar.xz
  if [ ! -f "$tarball" ]; then
    echo "kernel-selftests: installing linux-source-6.12 (the distribution's kernel tree, about 150 MB)" >&2
    apt-get update -qq && apt-get install -y -qq linux-source-6.12 >&2
  fi
  work="$here/target/kernel-src"
  tree="$work/linux-source-6.12"
  if [ ! -f "$tree/Makefile" ]; then
    mkdir -p "$work"
    echo "kernel-selftests: extracting the parts of $tarball the selftests need" >&2
    tar -C "$work" -xJf "$tarball" \
      linux-source-6.12/{tools,include,arch/x86,scripts,Makefile,usr,lib,virt,Kbuild,Kconfig}
  fi
  out="$here/target/kernel-selftests/$(release_of "$tree")"
  if cached "$out"; then echo "$out"; exit 0; fi
fi

echo "kernel-selftests: building ${tests[*]} from $tree" >&2
make -s -C "$tree" headers ARCH=x86 -j"$(nproc)" >&2
kvm="$tree/tools/testing/selftests/kvm"
# The Makefile's OUTPUT is the current directory: the targets must be absolute paths.
(cd "$kvm" && make -s -j"$(nproc)" $(printf "$kvm/%s " "${tests[@]}")) >&2
mkdir -p "$out"
for t in "${tests[@]}"; do cp "$kvm/$t" "$out/"; done
echo "$out"
