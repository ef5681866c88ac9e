#!/usr/bin/env bash
# Runs the black-box tests (tests/api) again against current ClickHouse releases.
#
# The machines have Debian's ClickHouse 18.16 and no Docker. PyPI's chdb packages embed
# current ClickHouse engines; scripts/clickhouse-current/http_shim.py puts ClickHouse's HTTP
# interface in front of one, so the service runs unchanged: the same DDL, materialized
# views, aggregate states and queries, executed by that engine. The tests' own ClickHouse
# queries go to it too (TEST_CLICKHOUSE_URL).
#
# Versions (CLICKHOUSE_CURRENT_VERSIONS, default both; set it empty to skip this step):
#   24.8  the line docker-compose.yml runs (chdb 3.0.1, which imports pyarrow)
#   26.9  the newest engine on PyPI (chdb-core 26.9.0)
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${CLICKHOUSE_CURRENT_PORT:-8124}

requirements() {
    case "$1" in
        24.8) echo "chdb==3.0.1 pyarrow==26.0.1" ;;
        26.9) echo "chdb-core==26.9.0" ;;
        *) echo "test-clickhouse-current: no engine known for ClickHouse $1" >&2; return 1 ;;
    esac
}

# Engine connections the shim may use at once (see http_shim.py).
connections() {
    case "$1" in
        24.8) echo 1 ;;
        *) echo 4 ;;
    esac
}

./scripts/ensure-python-venv.sh

for version in ${CLICKHOUSE_CURRENT_VERSIONS-24.8 26.9}; do
    wanted=$(requirements "$version")
    venv=target/chdb-$version
    data=target/chdb-$version-data
    log=target/chdb-$version-shim.log
    if [ "$(cat "$venv/.installed" 2>/dev/null)" != "$wanted" ]; then
        echo "test-clickhouse-current: installing $wanted from PyPI" >&2
        rm -rf "$venv"
        python3 -m venv "$venv"
        # Only the engine: the rest of chdb's dependencies serve its DataFrame API.
        # shellcheck disable=SC2086
        "$venv/bin/pip" install --quiet --no-deps $wanted
        echo "$wanted" > "$venv/.installed"
    fi

    rm -rf "$data"
    "$venv/bin/python" scripts/clickhouse-current/http_shim.py "$PORT" "$data" "$(connections "$version")" \
        > "$log" 2>&1 &
    shim=$!
    trap 'kill $shim 2>/dev/null || true' EXIT
    for _ in $(seq 1 120); do
        curl -sf "http://127.0.0.1:$PORT/ping" >/dev/null && break
        kill -0 $shim 2>/dev/null || { cat "$log" >&2; exit 1; }
        sleep 0.5
    done
    head -1 "$log" >&2
    grep -q "^ClickHouse $version\." "$log" || { echo "test-clickhouse-current: not ClickHouse $version" >&2; exit 1; }
    TEST_CLICKHOUSE_URL="http://127.0.0.1:$PORT" ${CARGO:-cargo} test --test api -- --test-threads=${TEST_THREADS:-5}
    kill $shim
    wait $shim 2>/dev/null || true
    trap - EXIT
    rm -rf "$data"
done
