#!/usr/bin/env bash
# Builds the browser console (ui/ -> ui/dist), which the service serves under /ui/.
#
# Needs Node.js 20.19 or newer with npm. When node is missing it is installed from Debian's
# packages (nodejs, npm), as scripts/stack.sh installs ClickHouse. Dependencies come from the
# committed lockfile (npm ci), reinstalled only when it changed.
set -euo pipefail
cd "$(dirname "$0")/../ui"

say() { echo "ui: $*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        say "need root to run: $*"; exit 1
    fi
}

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    say "installing Node.js from Debian's packages (apt-get install nodejs npm)"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq >/dev/null
    as_root apt-get install -y -qq nodejs npm >/dev/null
fi
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number);
              process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
    say "Node.js $(node --version) is too old: the console's build (Vite 7) needs 20.19 or newer"
    say "(Debian 12's nodejs is 18; Debian 13's, or NodeSource's nodejs 20/22, will do)"
    exit 1
fi

# npm ci starts from scratch every time: skip it while the lockfile is the one installed.
stamp=node_modules/.installed-lockfile
if ! cmp -s package-lock.json "$stamp" 2>/dev/null; then
    say "installing dependencies (npm ci)"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
    cp package-lock.json "$stamp"
fi
npm run --silent build
