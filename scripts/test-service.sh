# Sourced by the script-driven test suites (browser, contract): starts the real service
# (target/debug/telemetry-server) against the local Postgres, ClickHouse and Redis with a
# database and key prefix of its own, waits until its read models run, and removes all of it
# on exit.
#
#   start_test_service NAME [VAR=VALUE ...]
#
# sets `address` (http://127.0.0.1:PORT), `jwt_secret`, `database` and `server_log`; extra
# VAR=VALUE pairs go to the service's environment (after the defaults, so they win).

PG="psql -h ${PG_HOST:-127.0.0.1} -p ${PG_PORT:-5432} -U postgres -d postgres -qtA"
CLICKHOUSE_HTTP=${CLICKHOUSE_HTTP:-http://127.0.0.1:8123}

server_pid=""
database=""
stop_test_service() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [ -n "$database" ]; then
        $PG -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
        curl -sf "$CLICKHOUSE_HTTP/" --data-binary "DROP DATABASE IF EXISTS $database" \
            >/dev/null 2>&1 || true
    fi
}

start_test_service() {
    local name=$1
    shift
    local server=${TELEMETRY_SERVER_BIN:-target/debug/telemetry-server}
    [ -x "$server" ] || { echo "$name: $server is missing: run cargo build first" >&2; exit 1; }
    local id
    id=$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
    database=test_${name}_$id
    jwt_secret=$name-tests-secret-$id-0123456789abcdef
    server_log=target/$name-server.log
    mkdir -p target
    $PG -c "CREATE DATABASE $database" >/dev/null
    trap stop_test_service EXIT

    env HOST=127.0.0.1 PORT=0 OTLP_GRPC_PORT=0 LOG_FORMAT=json LOG_LEVEL=info \
        DATABASE_URL="postgres://postgres@${PG_HOST:-127.0.0.1}:${PG_PORT:-5432}/$database" \
        CLICKHOUSE_URL="$CLICKHOUSE_HTTP" CLICKHOUSE_DATABASE="$database" \
        REDIS_KEY_PREFIX="test:$database:" JWT_SECRET="$jwt_secret" \
        NOTIFY_ALLOW_PRIVATE_NETWORKS=true ALERT_TICK_MS=500 \
        "$@" "$server" serve > "$server_log" 2>&1 &
    server_pid=$!

    address=""
    local port
    for _ in $(seq 1 600); do
        kill -0 "$server_pid" 2>/dev/null || { echo "$name: the service exited; see $server_log" >&2; exit 1; }
        port=$(grep -o '"port":[0-9]*' "$server_log" | head -n1 | cut -d: -f2 || true)
        if [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/readyz" \
            | grep -q '"rollups":{"status":"running"'; then
            address="http://127.0.0.1:$port"
            break
        fi
        sleep 0.1
    done
    [ -n "$address" ] || { echo "$name: the service did not become ready; see $server_log" >&2; exit 1; }
    echo "$name: service on $address (log: $server_log)" >&2
}
