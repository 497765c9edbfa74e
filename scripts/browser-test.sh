#!/usr/bin/env bash
# The report page in a real browser: installs Debian's Chromium when it is missing (as root, with
# apt-get), then runs HtmlReportBrowserTest with TDPMMU_REQUIRE_BROWSER=1, so the test fails
# instead of skipping if Chromium still cannot be found.
#   scripts/browser-test.sh            install if needed, then run the test
#   scripts/browser-test.sh --install  only install if needed (CI, before mvn -B verify)
set -euo pipefail
cd "$(dirname "$0")/.."

chromium="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "browser-test: no Chromium at $chromium, and cannot install it (needs root and apt-get)" >&2
    exit 2
  fi
  echo "browser-test: installing chromium" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
"$chromium" --version >&2

if [ "${1:-}" = "--install" ]; then
  exit 0
fi
TDPMMU_REQUIRE_BROWSER=1 CHROMIUM="$chromium" mvn -B -q -pl scenarios -am test \
  -Dtest=HtmlReportBrowserTest -Dsurefire.failIfNoSpecifiedTests=false
echo "browser-test: every chart of the report loads and is not blank" >&2
