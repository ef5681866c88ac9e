#!/usr/bin/env bash
# The browser tests (tests/browser): Playwright drives Debian's Chromium through the console
# of a real service (target/debug/telemetry-server) running against the local Postgres,
# ClickHouse and Redis, with a database and key prefix of its own. Screenshots of every page
# land in target/ui-screenshots/.
#
# Installs what a fresh machine lacks (scripts/browser-tools.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

say() { echo "test-browser: $*" >&2; }

./scripts/browser-tools.sh
export CHROMIUM_PATH=${CHROMIUM_PATH:-/usr/bin/chromium} PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

[ -f ui/dist/index.html ] || { say "ui/dist is missing: run make ui first"; exit 1; }

. scripts/test-service.sh
start_test_service browser

cd tests/browser
BASE_URL="$address" JWT_SECRET="$jwt_secret" SCREENSHOT_DIR="$root/target/ui-screenshots" \
    npx playwright test "$@"
