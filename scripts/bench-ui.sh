#!/usr/bin/env bash
# Console benchmark (make bench-ui). Prints figures; asserts nothing.
#
# 1. Builds the console and a release build of the service (which embeds it), starts it
#    against fresh databases `bench_ui`, and seeds EVENTS (default 10 million) events for
#    one tenant over the last 7 days at the maximum ingest rate; waits for the processors.
# 2. JS+CSS bytes as served (gzip and brotli).
# 3. First load in Chromium: navigation start to the overview's total on screen, in a new
#    browser context (cold: no cached assets) and again in the same tab (warm); RUNS times.
# 4. Live tail latency: ingestion runs at half the seeding rate while a probe ingests one
#    event every 250 ms for a service the explorer's live tail filters on; from each 202 to
#    the event's row on screen.
# 5. Ingestion with 20 live streams of the tenant open (every event matches) against none:
#    ROUNDS pairs of DURATION-second runs at the maximum rate (which comes first alternates);
#    medians and the ratio of each pair; then 4 pairs at half the seeding rate, where the
#    CPU per event the streams add shows without the noise of the maximum rate. The
#    streams' client runs on the same machine.
set -euo pipefail
cd "$(dirname "$0")/.."

EVENTS=${EVENTS:-10000000}
PORT=${BENCH_PORT:-18095}
DURATION=${DURATION:-15}
ROUNDS=${ROUNDS:-6}
TAILS=${TAILS:-20}
DB=bench_ui
./scripts/ui.sh
./scripts/browser-tools.sh
export CHROMIUM_PATH=${CHROMIUM_PATH:-/usr/bin/chromium}
source scripts/bench-lib.sh
start_service "$DB" "$PORT" "$OUT/ui-server.log"
BENCH_NODE="node tests/browser/bench/console-bench.mjs"
export BASE_URL="$URL" API_KEY="$KEY"

echo "seeding $EVENTS events over 7 days" >&2
SEED=$($LOADGEN ingest --url "$URL" --api-key "$KEY" --connections 8 --batch-size 1000 \
    --duration 3600 --total-events "$EVENTS" --spread-seconds 604800 --run-id seed \
    | tee "$OUT/ui-seed.txt" | grep '^RESULT ' | sed 's/^RESULT //')
SEED_RATE=$(field "$SEED" events_per_second)
SEEDED=$(field "$SEED" ingested)
echo "waiting for the processors to apply $SEEDED events" >&2
while true; do
    APPLIED=$(curl -sf "http://127.0.0.1:8123/?database=$DB" --data-binary "SELECT count() FROM events")
    [ "$APPLIED" -ge "$SEEDED" ] && break
    sleep 2
done

sizes() { # sizes <suffix>: bytes of the console's JS and CSS with that suffix
    find ui/dist/assets -name "*.js$1" -o -name "*.css$1" | xargs cat | wc -c
}
BYTES="{\"raw\": $(sizes ''), \"gzip\": $(sizes .gz), \"brotli\": $(sizes .br)}"

echo "first load, cold and warm" >&2
LOAD=$($BENCH_NODE first-load | tee "$OUT/ui-first-load.txt" | grep '^RESULT ' | sed 's/^RESULT //')

HALF=$(python3 -c "print(int($SEED_RATE / 2))")
echo "live tail latency under $HALF events/s of ingestion" >&2
$LOADGEN ingest --url "$URL" --api-key "$KEY" --connections 8 --batch-size 1000 \
    --duration 50 --rate "$HALF" --run-id live-background > "$OUT/ui-live-background.txt" &
BACKGROUND=$!
sleep 5
LIVE=$(DURATION_SECONDS=30 $BENCH_NODE live-latency | tee "$OUT/ui-live.txt" | grep '^RESULT ' | sed 's/^RESULT //')
wait $BACKGROUND
LIVE_BACKGROUND=$(grep '^RESULT ' "$OUT/ui-live-background.txt" | sed 's/^RESULT //')

# CPU seconds (user + system, in clock ticks) of the service, and of the Postgres backends
# serving its database.
service_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }
postgres_ticks() {
    local total=0 pid
    for pid in $(pgrep -f "postgres: .* $DB "); do
        total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
    done
    echo "$total"
}
run_max() { # run_max <label>: one run at RUN_RATE (0: the maximum), with the CPU it cost
    local service_before postgres_before result
    service_before=$(service_ticks)
    postgres_before=$(postgres_ticks)
    result=$($LOADGEN ingest --url "$URL" --api-key "$KEY" --connections 8 --batch-size 1000 \
        --duration "$DURATION" --rate "${RUN_RATE:-0}" --run-id "$1-$(date +%s%N)" \
        | tee "$OUT/ui-$1.txt" | grep '^RESULT ' | sed 's/^RESULT //')
    python3 -c "import json, sys; r = json.loads(sys.argv[1]); r['service_ticks'] = $(service_ticks) - $service_before; r['postgres_ticks'] = $(postgres_ticks) - $postgres_before; print(json.dumps(r))" "$result"
}
with_tails() { # with_tails <round>: one maximum-rate run with the streams open
    $BENCH_NODE tails "$TAILS" > "$OUT/ui-tails-$1.txt" &
    local tails_pid=$!
    sleep 2
    $PG -d $DB -c "CHECKPOINT" >/dev/null
    run_max tails
    kill -TERM $tails_pid
    wait $tails_pid || true
}
without_tails() {
    $PG -d $DB -c "CHECKPOINT" >/dev/null
    run_max none
}
# pairs <rounds> <label>: runs without and with the streams; rounds alternate which comes
# first (A B, B A, ...), so a rate that drifts as the database grows favours neither side.
pairs() {
    local pairs="[" round none with streamed
    for round in $(seq 1 "$1"); do
        echo "$2 round $round: without live streams and with $TAILS" >&2
        if [ $((round % 2)) -eq 1 ]; then
            none=$(without_tails); with=$(with_tails "$2-$round")
        else
            with=$(with_tails "$2-$round"); none=$(without_tails)
        fi
        streamed=$(grep '^RESULT ' "$OUT/ui-tails-$2-$round.txt" | sed 's/^RESULT //')
        pairs="$pairs{\"none\": $none, \"tails\": $with, \"streamed\": $streamed},"
    done
    echo "${pairs%,}]"
}
PAIRS=$(pairs "$ROUNDS" max)
# At a fixed rate (half the seeding rate) the CPU the streams cost shows without the noise
# of a maximum rate that moves from run to run.
FIXED_PAIRS=$(RUN_RATE=$HALF pairs 4 fixed)

python3 - "$SEED" "$BYTES" "$LOAD" "$LIVE" "$LIVE_BACKGROUND" "$PAIRS" "$FIXED_PAIRS" <<PY | tee "$OUT/ui-summary.md"
import json, statistics, sys
seed, size, load, live, background, pairs, fixed = (json.loads(a) for a in sys.argv[1:8])
print(f"Seeded {seed['ingested']:,} events over 7 days at {seed['events_per_second']:,.0f} events/s.")
print()
print("| Figure | Value |")
print("|---|---|")
print(f"| Console JS+CSS, gzip / brotli (raw) | {size['gzip']/1024:.1f} / {size['brotli']/1024:.1f} KB ({size['raw']/1024:.0f} KB) |")
c, w = load["cold_ms"], load["warm_ms"]
print(f"| First load to the overview's numbers, cold (new context), p50 / max of {c['n']} | {c['p50']:.0f} / {c['max']:.0f} ms (first ever: {load['first_cold_ms']:.0f} ms) |")
print(f"| Same, warm (assets cached), p50 / max of {w['n']} | {w['p50']:.0f} / {w['max']:.0f} ms |")
l = live["latency_ms"]
print(f"| Live tail, 202 to row on screen, at {background['events_per_second']:,.0f} events/s: p50 / p95 / max ({l['n']} of {live['probes']} probes shown) | {l['p50']} / {l['p95']} / {l['max']} ms |")
none = [p["none"]["events_per_second"] for p in pairs]
tails = [p["tails"]["events_per_second"] for p in pairs]
ratios = [t / n for t, n in zip(tails, none)]
print(f"| Ingest at max without live streams, median of {len(none)} ($DURATION s runs) | {statistics.median(none):,.0f} events/s |")
print(f"| Ingest at max with $TAILS live streams open, median | {statistics.median(tails):,.0f} events/s |")
print(f"| Paired ratio with/without, each round (first run of a round alternates) | {', '.join(f'{r:.3f}' for r in ratios)} (median {statistics.median(ratios):.3f}, geometric mean {statistics.geometric_mean(ratios):.3f}) |")
def per_thousand(runs, side, ticks):
    return statistics.median(p[side][ticks] * 10 / p[side]["ingested"] * 1000 for p in runs)
for runs, how in ((pairs, "at the maximum rate"), (fixed, f"at {fixed[0]['none']['events_per_second']:,.0f} events/s")):
    for ticks, who in (("service_ticks", "Service"), ("postgres_ticks", "Postgres")):
        print(f"| {who} CPU per 1,000 events {how}, median without / with streams | {per_thousand(runs, 'none', ticks):.2f} / {per_thousand(runs, 'tails', ticks):.2f} ms |")
streamed = pairs[-1]["streamed"]
print(f"| Events the $TAILS streams received in the last round (skipped: dropped frames) | {streamed['events']:,} ({streamed['dropped_frames']:,} dropped frames) |")
PY
