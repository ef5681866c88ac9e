#!/usr/bin/env bash
# What the browser tests and the console benchmark need on a fresh machine: Debian's
# Chromium (never a browser download) and the tests' npm packages from their lockfile
# (tests/browser; reinstalled only when the lockfile changed).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "browser-tools: $*" >&2; }
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        say "need root to run: $*"; exit 1
    fi
}

if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
    say "installing Chromium from Debian's packages (apt-get install chromium)"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq >/dev/null
    as_root apt-get install -y -qq chromium >/dev/null
fi

cd tests/browser
stamp=node_modules/.installed-lockfile
if ! cmp -s package-lock.json "$stamp" 2>/dev/null; then
    say "installing the test runner (npm ci)"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
    cp package-lock.json "$stamp"
fi
