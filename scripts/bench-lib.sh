# Shared by the benchmark scripts: builds the release binaries and starts the service
# against fresh databases. Source it; it sets SERVER_PID, URL, LOADGEN, PG, KEY, OUT.
set -euo pipefail

PG="psql -h 127.0.0.1 -U postgres -qtA"
KEY=bench-key-0000000001
OUT=${BENCH_OUT:-bench-results}
LOADGEN=target/release/telemetry-loadgen
mkdir -p "$OUT"

./scripts/stack.sh
# Databases left by `make test` (hundreds of small ones) are throwaway; a benchmark should
# not share the servers with them.
./scripts/clean-test-data.sh
cargo build --release --quiet -p telemetry-server -p telemetry-loadgen

# start_service <database> <port> <log file>: fresh Postgres and ClickHouse databases named
# <database>, rate limits lifted, one tenant `bench`.
start_service() {
    local db=$1 port=$2 log=$3
    $PG -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
    curl -sf --max-time 600 http://127.0.0.1:8123/ --data-binary "DROP DATABASE IF EXISTS $db" >/dev/null
    PORT=$port OTLP_GRPC_PORT=$((port + 1)) DATABASE_URL=postgres://postgres@127.0.0.1:5432/$db CLICKHOUSE_DATABASE=$db \
    REDIS_KEY_PREFIX="bench:$(date +%s):" API_KEYS="$KEY:bench" RATE_LIMIT_MAX_REQUESTS=60000000 \
    LOG_LEVEL=warn target/release/telemetry-server serve > "$log" 2>&1 &
    SERVER_PID=$!
    trap 'kill $SERVER_PID 2>/dev/null || true' EXIT
    URL="http://127.0.0.1:$port"
    for _ in $(seq 1 120); do curl -sf "$URL/healthz" >/dev/null && return 0; sleep 0.5; done
    echo "bench: the service did not start; see $log" >&2
    return 1
}

# field <json> <name>
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
