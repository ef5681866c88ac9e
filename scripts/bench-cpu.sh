#!/usr/bin/env bash
# Where the CPU goes at the maximum ingest rate (make bench-cpu). Prints figures; asserts
# nothing.
#
# Starts the release build against a fresh database, warms up for 3 s, then ingests at the
# maximum rate for DURATION seconds while
#   - reading each process's CPU time from /proc before and after (Postgres, ClickHouse and
#     the service, summed over their processes), and
#   - sampling pg_stat_activity every 25 ms from one Postgres session: what the service's
#     connections are doing (by statement and wait type).
# PROCESSORS_ENABLED=false in the environment measures ingestion alone.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-15}
PORT=${BENCH_PORT:-18081}
DB=bench_cpu
source scripts/bench-lib.sh
start_service "$DB" "$PORT" "$OUT/cpu-server.log"
$LOADGEN ingest --url "$URL" --api-key "$KEY" --duration 3 --run-id "warm-$(date +%s%N)" >/dev/null

cpu_ticks() { # "<group> <ticks>" per process group
    for stat in /proc/[0-9]*/stat; do
        local dir=${stat%/stat}
        local comm fields
        comm=$(cat "$dir/comm" 2>/dev/null) || continue
        fields=$(cut -d' ' -f14,15 "$stat" 2>/dev/null) || continue
        echo "$comm $fields"
    done | awk '{g = $1
        if (g ~ /^postgres/) g = "postgres"
        else if (g ~ /^telemetry-serv/) g = "service"
        else if (g ~ /^telemetry-load/) g = "load-generator"
        else if (g ~ /[Cc]lick[Hh]ouse|^Bg|^Merge|^Background|^Async|^SystemLog/) g = "clickhouse"
        t[g] += $2 + $3} END {for (g in t) print g, t[g]}' | sort
}

$PG -d "$DB" -c "CREATE TABLE activity_samples (statement text, wait text)"
SAMPLES=$((DURATION * 40))
$PG -d "$DB" -c "DO \$\$ BEGIN FOR i IN 1..$SAMPLES LOOP
    PERFORM pg_stat_clear_snapshot();
    INSERT INTO activity_samples
    SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 70), coalesce(wait_event_type, 'CPU')
    FROM pg_stat_activity
    WHERE state = 'active' AND datname = '$DB' AND pid <> pg_backend_pid();
    COMMIT; PERFORM pg_sleep(0.025); END LOOP; END \$\$;" &
SAMPLER=$!
BEFORE=$(cpu_ticks)
$LOADGEN ingest --url "$URL" --api-key "$KEY" --duration "$DURATION" \
    --run-id "cpu-$(date +%s%N)" | tee "$OUT/cpu-ingest.txt" | grep '^ingest' >&2
AFTER=$(cpu_ticks)
wait $SAMPLER
BATCHES=$(grep '^RESULT ' "$OUT/cpu-ingest.txt" | sed 's/^RESULT //' \
    | python3 -c "import json,sys; print(json.load(sys.stdin)['requests'])")
kill $SERVER_PID

TICKS=$(getconf CLK_TCK)
echo "| Process | CPU seconds | Share of $(nproc) cores | ms per 1,000-event batch |"
echo "|---|---|---|---|"
join <(echo "$BEFORE") <(echo "$AFTER") | awk -v hz="$TICKS" -v d="$DURATION" -v n="$(nproc)" -v b="$BATCHES" \
    '{s = ($3 - $2) / hz; if (s > 0.1) printf "| %s | %.1f | %.0f %% | %.1f |\n", $1, s, 100 * s / (d * n), 1000 * s / b}'
echo
echo "| pg_stat_activity samples | state | statement |"
echo "|---|---|---|"
$PG -d "$DB" -F ' | ' -c "SELECT count(*), wait, statement FROM activity_samples
    GROUP BY 2, 3 ORDER BY 1 DESC LIMIT 12" | sed 's/^/| /; s/$/ |/'
