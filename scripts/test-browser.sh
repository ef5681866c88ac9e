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

server=${TELEMETRY_SERVER_BIN:-target/debug/telemetry-server}
[ -x "$server" ] || { say "$server is missing: run cargo build first"; exit 1; }
[ -f ui/dist/index.html ] || { say "ui/dist is missing: run make ui first"; exit 1; }

PG="psql -h ${PG_HOST:-127.0.0.1} -p ${PG_PORT:-5432} -U postgres -d postgres -qtA"
CLICKHOUSE_HTTP=${CLICKHOUSE_HTTP:-http://127.0.0.1:8123}
id=$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
database=test_ui_$id
jwt_secret=browser-tests-secret-$id-0123456789abcdef
log=target/browser-server.log
mkdir -p target
$PG -c "CREATE DATABASE $database" >/dev/null

server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    $PG -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
    curl -sf "$CLICKHOUSE_HTTP/" --data-binary "DROP DATABASE IF EXISTS $database" >/dev/null 2>&1 || true
}
trap cleanup EXIT

env HOST=127.0.0.1 PORT=0 OTLP_GRPC_PORT=0 LOG_FORMAT=json LOG_LEVEL=info \
    DATABASE_URL="postgres://postgres@${PG_HOST:-127.0.0.1}:${PG_PORT:-5432}/$database" \
    CLICKHOUSE_URL="$CLICKHOUSE_HTTP" CLICKHOUSE_DATABASE="$database" \
    REDIS_KEY_PREFIX="test:$database:" JWT_SECRET="$jwt_secret" \
    NOTIFY_ALLOW_PRIVATE_NETWORKS=true ALERT_TICK_MS=500 \
    "$server" serve > "$log" 2>&1 &
server_pid=$!

address=""
for _ in $(seq 1 600); do
    kill -0 "$server_pid" 2>/dev/null || { say "the service exited; see $log"; exit 1; }
    port=$(grep -o '"port":[0-9]*' "$log" | head -n1 | cut -d: -f2 || true)
    if [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/readyz" \
        | grep -q '"aggregation":{"status":"running"'; then
        address="http://127.0.0.1:$port"
        break
    fi
    sleep 0.1
done
[ -n "$address" ] || { say "the service did not become ready; see $log"; exit 1; }
say "service on $address (log: $log)"

cd tests/browser
BASE_URL="$address" JWT_SECRET="$jwt_secret" SCREENSHOT_DIR="$root/target/ui-screenshots" \
    npx playwright test "$@"
