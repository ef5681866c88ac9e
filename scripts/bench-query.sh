#!/usr/bin/env bash
# Read-side benchmark (make bench-query). Prints figures; asserts nothing.
#
# 1. Starts a release build against fresh databases `bench_query`.
# 2. Seeds EVENTS (default 10 million) seed-shaped events for one tenant, timestamps spread
#    over the last 7 days, at the maximum ingest rate; waits until the processors have
#    applied them all.
# 3. Summary latency (24h and 7d windows) computed (`Cache-Control: no-cache`) and cached;
#    event-query latency: the first page (with its total), a cursor page at depth 100 and a
#    cursor page at depth 100,000. Each measurement follows 10 unmeasured requests of its
#    kind (ClickHouse's caches, connections); the first of them is printed on its own (for
#    the first measurement, the 24h summary, that is the first read after the seeding).
# 4. Freshness: with ingestion running at half the seeding rate, probes ingest one event and
#    poll /query until it is visible.
set -euo pipefail
cd "$(dirname "$0")/.."

EVENTS=${EVENTS:-10000000}
PORT=${BENCH_PORT:-18090}
DB=bench_query
source scripts/bench-lib.sh
start_service "$DB" "$PORT" "$OUT/query-server.log"

echo "seeding $EVENTS events over 7 days" >&2
SEED=$($LOADGEN ingest --url "$URL" --api-key "$KEY" --connections 8 --batch-size 1000 \
    --duration 3600 --total-events "$EVENTS" --spread-seconds 604800 --run-id seed \
    | tee "$OUT/query-seed.txt" | grep '^RESULT ' | sed 's/^RESULT //')
SEED_RATE=$(field "$SEED" events_per_second)
SEEDED=$(field "$SEED" ingested)
echo "waiting for the processors to apply $SEEDED events" >&2
WAIT_START=$(date +%s)
while true; do
    APPLIED=$(curl -sf "http://127.0.0.1:8123/?database=$DB" --data-binary "SELECT count() FROM events")
    [ "$APPLIED" -ge "$SEEDED" ] && break
    sleep 2
done
CATCH_UP=$(( $(date +%s) - WAIT_START ))
echo "applied; processors needed ${CATCH_UP}s after the seeding ended" >&2

$LOADGEN query-bench --url "$URL" --api-key "$KEY" --tenant bench --requests 200 \
    | tee "$OUT/query-bench.txt" >&2
READS=$(grep '^RESULT ' "$OUT/query-bench.txt" | sed 's/^RESULT //')

HALF=$(python3 -c "print(int($SEED_RATE / 2))")
echo "freshness under $HALF events/s of ingestion" >&2
$LOADGEN ingest --url "$URL" --api-key "$KEY" --connections 8 --batch-size 1000 \
    --duration 45 --rate "$HALF" --run-id background > "$OUT/query-background.txt" &
BACKGROUND=$!
sleep 5
FRESH=$($LOADGEN freshness --url "$URL" --api-key "$KEY" --duration 30 \
    | tee "$OUT/query-freshness.txt" | grep '^RESULT ' | sed 's/^RESULT //')
wait $BACKGROUND
BACKGROUND_RESULT=$(grep '^RESULT ' "$OUT/query-background.txt" | sed 's/^RESULT //')
RSS_KB=$(awk '/VmHWM/ {print $2}' /proc/$SERVER_PID/status)

python3 - "$SEED" "$READS" "$FRESH" "$BACKGROUND_RESULT" <<PY | tee "$OUT/query-summary.md"
import json, sys
seed, reads, fresh, background = (json.loads(a) for a in sys.argv[1:5])
def row(name, f):
    first = "" if f["first_ms"] is None else f"{f['first_ms']:.2f}"
    return f"| {name} | {f['p50_ms']:.2f} | {f['p99_ms']:.2f} | {first} |"
print(f"Seeded {seed['ingested']:,} events at {seed['events_per_second']:,.0f} events/s; "
      f"processors done ${CATCH_UP} s after seeding ended; {reads['events_in_range']:,} events in range.")
print()
print("| Measurement | p50 ms | p99 ms | first warm-up request ms |")
print("|---|---|---|---|")
for window in ("24h", "7d"):
    print(row(f"summary {window}, computed", reads[f"summary_{window}_computed"]))
    print(row(f"summary {window}, cached", reads[f"summary_{window}_cached"]))
print(row("query: first page (with total)", reads["first_page"]))
print(row("query: cursor page at depth 100", reads["cursor_depth_100"]))
print(row("query: cursor page at depth 100,000", reads["cursor_depth_deep"]))
print(f"| offset page 1,000 (once) | {reads['offset_page_deep_ms']:.0f} | | |")
f = fresh["freshness"]
print(f"| freshness, 202 to visible in /query ({fresh['probes']} probes at {background['events_per_second']:,.0f} events/s) | {f['p50_ms']:.0f} (p95 {f['p95_ms']:.0f}) | {f['p99_ms']:.0f} | |")
f = fresh["summary_freshness"]
print(f"| freshness, 202 to visible in the cached summary (same probes) | {f['p50_ms']:.0f} (p95 {f['p95_ms']:.0f}) | {f['p99_ms']:.0f} | |")
print(f"| server peak RSS | {$RSS_KB / 1024:.0f} MB | | |")
PY
