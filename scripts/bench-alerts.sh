#!/usr/bin/env bash
# Alerting benchmark (make bench-alerts). Prints figures; asserts nothing.
#
# 1. Starts a release build against fresh databases; measures the maximum ingest rate for
#    10 s (batches of 1,000 seed-shaped events, 8 connections).
# 2. With ingestion running at half that rate, probes ingest one threshold-crossing metric
#    for a rule that notifies a local webhook receiver, and measure the time from the 202 to
#    the webhook's arrival.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${BENCH_PORT:-18095}
DB=bench_alerts
DURATION=${DURATION:-30}
export NOTIFY_ALLOW_PRIVATE_NETWORKS=true
source scripts/bench-lib.sh
start_service "$DB" "$PORT" "$OUT/alerts-server.log"

echo "maximum ingest rate (10 s)" >&2
MAX=$($LOADGEN ingest --url "$URL" --api-key "$KEY" --connections 8 --batch-size 1000 \
    --duration 10 --run-id alerts-max | tee "$OUT/alerts-max.txt" | grep '^RESULT ' | sed 's/^RESULT //')
HALF=$(python3 -c "print(int($(field "$MAX" events_per_second) / 2))")
echo "alert latency with $HALF events/s of background ingestion ($DURATION s)" >&2
$LOADGEN ingest --url "$URL" --api-key "$KEY" --connections 8 --batch-size 1000 \
    --duration $((DURATION + 10)) --rate "$HALF" --run-id alerts-background > "$OUT/alerts-background.txt" &
BACKGROUND=$!
sleep 3
LATENCY=$($LOADGEN alert-latency --url "$URL" --api-key "$KEY" --duration "$DURATION" \
    | tee "$OUT/alerts-latency.txt" | grep '^RESULT ' | sed 's/^RESULT //')
wait $BACKGROUND
BACKGROUND_RESULT=$(grep '^RESULT ' "$OUT/alerts-background.txt" | sed 's/^RESULT //')

python3 - "$LATENCY" "$BACKGROUND_RESULT" "$MAX" <<PY | tee "$OUT/alerts-summary.md"
import json, sys
latency, background, maximum = (json.loads(a) for a in sys.argv[1:4])
print("| Measurement | Value |")
print("|---|---|")
print(f"| Maximum ingest rate (10 s) | {maximum['events_per_second']:,.0f} events/s |")
print(f"| Background ingestion during the probes | {background['events_per_second']:,.0f} events/s |")
print(f"| Alert latency, 202 to webhook ({latency['probes']} probes) p50 / p95 / p99 | {latency['latency']['p50_ms']:.0f} / {latency['latency']['p95_ms']:.0f} / {latency['latency']['p99_ms']:.0f} ms |")
PY
