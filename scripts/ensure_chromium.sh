#!/usr/bin/env bash
# Make sure headless Chromium (Debian's package) is there for the browser tests (tests/browser/).
# Also installs a Korean font and colour emoji so screenshots show what a tablet shows.
# Never fails the caller: the browser tests skip with a clear reason when Chromium is missing.
set -u
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
need=()
[ -x "$CHROMIUM" ] || need+=(chromium)
fc-list 2>/dev/null | grep -qi nanum || need+=(fonts-nanum)
fc-list 2>/dev/null | grep -qi "color emoji" || need+=(fonts-noto-color-emoji)
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure_chromium: no apt-get here; install Chromium yourself (browser tests will skip)" >&2
  exit 0
fi
echo "ensure_chromium: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null 2>&1 || true
# One package may be unavailable (fonts): install what can be installed.
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
  || for p in "${need[@]}"; do $SUDO apt-get install -y -qq --no-install-recommends "$p" >/dev/null 2>&1 || true; done
[ -x "$CHROMIUM" ] || echo "ensure_chromium: could not install chromium (browser tests will skip)" >&2
exit 0
