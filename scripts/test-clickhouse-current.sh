#!/usr/bin/env bash
# Runs the black-box tests (tests/api) a second time, against a current ClickHouse release.
#
# The machines have Debian's ClickHouse 18.16 and no Docker; PyPI's chdb-core carries a
# current ClickHouse engine (26.9 for the pinned version). scripts/clickhouse-current/http_shim.py
# puts ClickHouse's HTTP interface in front of it, so the service runs unchanged: the same
# DDL, materialized views, aggregate states and queries, executed by the current engine.
# The tests' own ClickHouse queries go to it too (TEST_CLICKHOUSE_URL).
set -euo pipefail
cd "$(dirname "$0")/.."

CHDB_CORE_VERSION=${CHDB_CORE_VERSION:-26.9.0}
PORT=${CLICKHOUSE_CURRENT_PORT:-8124}
VENV=target/chdb-venv
DATA=target/chdb-data
LOG=target/chdb-shim.log

installed=$("$VENV/bin/python" -c 'import chdb; print(chdb.__version__)' 2>/dev/null || true)
if [ "$installed" != "$CHDB_CORE_VERSION" ]; then
    echo "test-clickhouse-current: installing chdb-core $CHDB_CORE_VERSION from PyPI" >&2
    python3 -m venv "$VENV"
    # Only the engine: pandas and pyarrow serve chdb's DataFrame API, which the shim does not use.
    "$VENV/bin/pip" install --quiet --no-deps "chdb-core==$CHDB_CORE_VERSION"
fi

rm -rf "$DATA"
"$VENV/bin/python" scripts/clickhouse-current/http_shim.py "$PORT" "$DATA" > "$LOG" 2>&1 &
SHIM=$!
trap 'kill $SHIM 2>/dev/null || true; wait $SHIM 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 1 120); do
    curl -sf "http://127.0.0.1:$PORT/ping" >/dev/null && break
    kill -0 $SHIM 2>/dev/null || { cat "$LOG" >&2; exit 1; }
    sleep 0.5
done
head -1 "$LOG" >&2

TEST_CLICKHOUSE_URL="http://127.0.0.1:$PORT" ${CARGO:-cargo} test --test api -- --test-threads=8
