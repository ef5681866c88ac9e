#!/usr/bin/env bash
# Ingestion benchmark (make bench-ingest). Prints figures; asserts nothing.
#
# 1. Starts a release build of the service against a fresh database `bench_ingest`.
# 2. Sends batches of BATCH_SIZE unique seed-shaped events over CONNECTIONS connections for
#    DURATION seconds as fast as they are acknowledged: events/s and latency.
# 3. Reads the server's peak RSS and the event store's bytes per event.
# 4. Runs again at half the measured rate: latency at half load; then OTLP/HTTP log exports
#    (protobuf) at the maximum rate; then OTLP metric exports (half number points, half
#    histograms) over HTTP and over gRPC, twice each in alternating order; then ClickHouse
#    bytes per counter and histogram data point, raw and in the run rollups.
# 5. Measures the raw limit: the same number of seed-shaped events copied into a plain
#    Postgres table with `psql \copy`, and prints our rate as a ratio of it.
set -euo pipefail
cd "$(dirname "$0")/.."

CONNECTIONS=${CONNECTIONS:-8}
BATCH_SIZE=${BATCH_SIZE:-1000}
DURATION=${DURATION:-20}
PORT=${BENCH_PORT:-18080}
DB=bench_ingest
source scripts/bench-lib.sh
start_service "$DB" "$PORT" "$OUT/ingest-server.log"

run() { # run <label> <extra loadgen args...>
    local label=$1; shift
    $LOADGEN ingest --url "$URL" --api-key "$KEY" --connections "$CONNECTIONS" \
        --batch-size "$BATCH_SIZE" --run-id "$label-$(date +%s%N)" "$@" | tee "$OUT/ingest-$label.txt" >&2
    grep '^RESULT ' "$OUT/ingest-$label.txt" | sed 's/^RESULT //'
}

echo "warm-up (3 s)" >&2
run warmup --duration 3 >/dev/null
echo "maximum rate ($DURATION s)" >&2
MAX=$(run max --duration "$DURATION")
RSS_KB=$(awk '/VmHWM/ {print $2}' /proc/$SERVER_PID/status)

STORED=$($PG -d $DB -c "SELECT sum(jsonb_array_length(payload -> event_type -> 'ids'))
    FROM events WHERE aggregate_type = 'IngestBatch' AND event_type <> 'BatchAccepted'")
# The event store is partitioned (migrations/0011): every leaf, with its TOAST and indexes.
STORE_BYTES=$($PG -d $DB -c "SELECT coalesce(sum(pg_total_relation_size(relid)), 0)
    FROM pg_partition_tree('events') WHERE isleaf")
DEDUP_BYTES=$($PG -d $DB -c "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0)
    FROM pg_inherits WHERE inhparent = 'ingest_dedup'::regclass")
MAX_RATE=$(field "$MAX" events_per_second)
SENT=$(field "$MAX" ingested)

# Start the half-load run from a clean checkpoint, so it does not pay for the writes of the
# maximum-rate run (checkpoints during the run itself are part of the measurement).
$PG -d $DB -c "CHECKPOINT"
sleep 3
HALF=$(python3 -c "print(int($MAX_RATE / 2))")
echo "half load: $HALF events/s ($DURATION s)" >&2
HALF_RESULT=$(run half --duration "$DURATION" --rate "$HALF" --timeline)
# OpenTelemetry producers: the same batch size as OTLP/HTTP log exports (binary protobuf).
$PG -d $DB -c "CHECKPOINT"
sleep 3
echo "OTLP/HTTP log exports at the maximum rate ($DURATION s)" >&2
OTLP_RESULT=$(run otlp --duration "$DURATION" --otlp-logs)
RSS_KB=$(awk '/VmHWM/ {print $2}' /proc/$SERVER_PID/status)
# OTLP metric exports (half number points, half histograms) over HTTP and over gRPC, the
# order alternating (HTTP gRPC gRPC HTTP), so the database's growth favours neither.
GRPC_ADDRESS=127.0.0.1:$((PORT + 1))
METRICS_PAIRS="["
for order in http-first grpc-first; do
    $PG -d $DB -c "CHECKPOINT"
    sleep 3
    if [ $order = http-first ]; then
        echo "OTLP/HTTP then OTLP/gRPC metric exports at the maximum rate ($DURATION s each)" >&2
        HTTP_RESULT=$(run otlp-metrics-http --duration "$DURATION" --otlp-metrics)
        GRPC_RESULT=$(run otlp-metrics-grpc --duration "$DURATION" --otlp-metrics --grpc "$GRPC_ADDRESS")
    else
        echo "OTLP/gRPC then OTLP/HTTP metric exports at the maximum rate ($DURATION s each)" >&2
        GRPC_RESULT=$(run otlp-metrics-grpc --duration "$DURATION" --otlp-metrics --grpc "$GRPC_ADDRESS")
        HTTP_RESULT=$(run otlp-metrics-http --duration "$DURATION" --otlp-metrics)
    fi
    METRICS_PAIRS="$METRICS_PAIRS{\"http\": $HTTP_RESULT, \"grpc\": $GRPC_RESULT},"
done
METRICS_PAIRS="${METRICS_PAIRS%,}]"
METRICS_RSS_KB=$(awk '/VmHWM/ {print $2}' /proc/$SERVER_PID/status)

# ClickHouse bytes per OTLP data point: once the processor has written every event, merge
# each table's parts (steady state) and divide its bytes on disk by the counter and
# histogram points. The load generator gives every point a series of its own (a unique
# `request.id`), the most rows the run rollups can have per point.
CH="curl -sf --max-time 900 http://127.0.0.1:8123/?database=$DB --data-binary"
STORED_NOW=$($PG -d $DB -c "SELECT sum(jsonb_array_length(payload -> event_type -> 'ids'))
    FROM events WHERE aggregate_type = 'IngestBatch' AND event_type <> 'BatchAccepted'")
echo "waiting for the processor to write $STORED_NOW events to ClickHouse" >&2
for _ in $(seq 1 600); do
    [ "$($CH "SELECT count() FROM events")" -ge "$STORED_NOW" ] && break
    sleep 1
done
POINTS=$($CH "SELECT count() FROM events WHERE event_type = 'metric' AND metric_kind IN ('counter', 'histogram')")
for table in events metric_runs_1m metric_runs_1h metric_runs_1d; do
    $CH "OPTIMIZE TABLE $table FINAL" >/dev/null
done
table_bytes() { $CH "SELECT sum(bytes_on_disk) FROM system.parts WHERE database = '$DB' AND table = '$1' AND active"; }
table_rows() { $CH "SELECT sum(rows) FROM system.parts WHERE database = '$DB' AND table = '$1' AND active"; }
ROLLUP_FIGURES="{\"points\": $POINTS"
for table in events metric_runs_1m metric_runs_1h metric_runs_1d; do
    ROLLUP_FIGURES="$ROLLUP_FIGURES, \"$table\": [$(table_bytes $table), $(table_rows $table)]"
done
ROLLUP_FIGURES="$ROLLUP_FIGURES}"
kill $SERVER_PID

# The raw limit: the same number of seed-shaped events, written by one `psql \copy` into a
# plain table (no index); into a table with a unique (tenant, event id) index (what
# exactly-once costs Postgres at minimum when ids arrive in order, as the load generator's
# do); and into a table with a unique index on the MD5 of (tenant, event id), the random
# 16-byte key the deduplication index holds whatever the ids look like.
COPY_FILE=$(mktemp /tmp/bench-copy.XXXXXX)
$LOADGEN copy-file --out "$COPY_FILE" --events "$SENT"
copy_rate() { # copy_rate <table> -> events/s
    local start end
    $PG -d $DB -c "CHECKPOINT"
    start=$(date +%s.%N)
    $PG -d $DB -c "\\copy $1 FROM '$COPY_FILE'"
    end=$(date +%s.%N)
    python3 -c "print($SENT / ($end - $start))"
}
$PG -d $DB -c "CREATE TABLE raw_events (tenant_id text, event_id text, event_type text,
    service_name text, ts timestamptz, user_id text, payload json)"
$PG -d $DB -c "CREATE TABLE raw_events_unique (LIKE raw_events)"
$PG -d $DB -c "CREATE UNIQUE INDEX ON raw_events_unique (tenant_id, event_id)"
$PG -d $DB -c "CREATE TABLE raw_events_hashed (LIKE raw_events)"
$PG -d $DB -c "CREATE UNIQUE INDEX ON raw_events_hashed ((md5(tenant_id || chr(31) || event_id)::uuid))"
echo "raw baseline: psql \\copy of $SENT events" >&2
COPY_RATE=$(copy_rate raw_events)
UNIQUE_COPY_RATE=$(copy_rate raw_events_unique)
HASHED_COPY_RATE=$(copy_rate raw_events_hashed)
RAW_BYTES=$($PG -d $DB -c "SELECT pg_total_relation_size('raw_events')")
rm -f "$COPY_FILE"

python3 - "$MAX" "$HALF_RESULT" "$OTLP_RESULT" "$METRICS_PAIRS" "$ROLLUP_FIGURES" <<PY | tee "$OUT/ingest-summary.md"
import json, sys
mx, half, otlp = json.loads(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
metrics_pairs = json.loads(sys.argv[4])
rollups = json.loads(sys.argv[5])
stored, store, dedup, raw = $STORED, $STORE_BYTES, $DEDUP_BYTES, $RAW_BYTES
copy_rate = $COPY_RATE
print("| Figure | Value |")
print("|---|---|")
print(f"| Acknowledged events/s (max, {mx['requests']} requests of $BATCH_SIZE, $CONNECTIONS connections) | {mx['events_per_second']:,.0f} |")
print(f"| Latency at max p50 / p95 / p99 | {mx['p50_ms']:.0f} / {mx['p95_ms']:.0f} / {mx['p99_ms']:.0f} ms |")
print(f"| Raw limit: psql \\\\copy of {mx['ingested']:,} events | {copy_rate:,.0f} events/s |")
print(f"| Ratio to raw copy | {mx['events_per_second'] / copy_rate:.2f} |")
print(f"| psql \\\\copy into a table with a unique (tenant, eventId) index | {$UNIQUE_COPY_RATE:,.0f} events/s (ratio {mx['events_per_second'] / $UNIQUE_COPY_RATE:.2f}) |")
print(f"| psql \\\\copy into a table with a unique index on md5(tenant, eventId) | {$HASHED_COPY_RATE:,.0f} events/s (ratio {mx['events_per_second'] / $HASHED_COPY_RATE:.2f}) |")
print(f"| Latency at half load ({half['events_per_second']:,.0f} events/s) p50 / p95 / p99 | {half['p50_ms']:.0f} / {half['p95_ms']:.0f} / {half['p99_ms']:.0f} ms |")
print(f"| OTLP/HTTP log exports (protobuf, $BATCH_SIZE records each): events/s, p50 / p95 / p99 | {otlp['events_per_second']:,.0f}, {otlp['p50_ms']:.0f} / {otlp['p95_ms']:.0f} / {otlp['p99_ms']:.0f} ms |")
for transport in ("http", "grpc"):
    runs = [pair[transport] for pair in metrics_pairs]
    rates = ", ".join(f"{run['events_per_second']:,.0f}" for run in runs)
    p99 = ", ".join(f"{run['p99_ms']:.0f}" for run in runs)
    name = "OTLP/HTTP" if transport == "http" else "OTLP/gRPC"
    print(f"| {name} metric exports ($BATCH_SIZE data points, half histograms): data points/s; p99 | {rates}; {p99} ms |")
ratios = [pair["grpc"]["events_per_second"] / pair["http"]["events_per_second"] for pair in metrics_pairs]
print(f"| OTLP/gRPC to OTLP/HTTP, paired (HTTP first, then gRPC first) | {', '.join(f'{r:.2f}' for r in ratios)} |")
print(f"| Server peak RSS (JSON and OTLP log runs) | {$RSS_KB / 1024:.0f} MB |")
print(f"| Server peak RSS after the OTLP metric runs | {$METRICS_RSS_KB / 1024:.0f} MB |")
print(f"| Event store bytes per event (events table, TOAST and indexes) | {store / stored:.0f} |")
print(f"| Deduplication index bytes per event | {dedup / stored:.0f} |")
print(f"| Raw copy table bytes per event (for comparison) | {raw / mx['ingested']:.0f} |")
points = rollups["points"]
print(f"| OTLP counter and histogram data points in ClickHouse | {points:,} |")
size, rows = rollups["events"]
print(f"| ClickHouse raw events table (every event of the run, logs included): bytes per event | {size / rows:.1f} |")
for table in ("metric_runs_1m", "metric_runs_1h", "metric_runs_1d"):
    size, rows = rollups[table]
    print(f"| ClickHouse {table} (one row per series, run and bucket): bytes per data point; rows per data point | {size / points:.1f}; {rows / points:.2f} |")
print(f"| Failures (status:count) at max / half / OTLP | {mx['failures']} / {half['failures']} / {otlp['failures']} |")
PY
