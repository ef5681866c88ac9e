#!/usr/bin/env bash
# Retention benchmark on ClickHouse alone (no service, no cargo). Prints figures; asserts
# nothing. Needs only curl and the usual tools.
#
# 1. Creates a scratch database `bench_retention` (dropped first) holding `events` exactly as
#    clickhouse/0001_events.sql and the minute rollup `event_counts_1m` with its view, as
#    clickhouse/0002_rollups.sql.
# 2. Inserts ROWS (default 10 million) rows in blocks of BLOCK (default 1 million) from
#    numbers(): 10 tenants, timestamps evenly over the 90 days before END (2026-12-01),
#    ~60-byte payloads, 20 services, 60 % logs / 30 % metrics / 10 % traces. Every partition
#    of both tables is then merged to one part (OPTIMIZE ... FINAL), so each run starts from
#    the same layout.
# 3. Measures, on both tables, wall time, rows removed, parts rewritten and active bytes on
#    disk before and after:
#    d. the maintenance pre-check `SELECT count() ... WHERE tenant_id = ... AND timestamp <
#       cutoff` (first run, then the median of 5), before and after the tenant's rows are gone;
#    a. `ALTER TABLE ... DELETE` of one tenant's rows older than the cutoff (60 days before
#       END); mutations are asynchronous on 18.16, so the time runs until system.mutations
#       shows them done;
#    e. the same mutation again, now that nothing matches;
#    b. one mutation for 5 tenants in two retention classes, an OR of
#       (tenant_id IN (...) AND timestamp < cutoff): 3 tenants at 60 days, 2 at 45 days;
#    c. `ALTER TABLE ... DROP PARTITION` of the oldest month.
# 4. Prints a summary table and drops the database (KEEP=1 keeps it).
#
# CLICKHOUSE_HTTP (default http://127.0.0.1:8123) selects the server.
set -euo pipefail

CH=${CLICKHOUSE_HTTP:-http://127.0.0.1:8123}
CH=${CH%/}
DB=bench_retention
ROWS=${ROWS:-10000000}
BLOCK=${BLOCK:-1000000}
END='2026-12-01 00:00:00'
DAYS=90
KEEP_DAYS=60        # tenant-3 (step a) and the first class of step b
KEEP_DAYS_SHORT=45  # the second class of step b

# ch <query> [database]: runs a query; on an error prints ClickHouse's message and fails.
ch() {
    local out code
    out=$(curl -sS --max-time "${CH_TIMEOUT:-7200}" -w '\n%{http_code}' \
        "$CH/?database=${2:-$DB}" --data-binary "$1") || { echo "bench: curl failed: $1" >&2; return 1; }
    code=${out##*$'\n'}
    out=${out%$'\n'*}
    if [ "$code" != 200 ]; then
        printf 'bench: ClickHouse answered %s to:\n  %s\n%s\n' "$code" "$1" "$out" >&2
        return 1
    fi
    printf '%s\n' "$out"
}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
log() { printf '%s\n' "$*" >&2; }

cleanup() {
    if [ "${KEEP:-0}" != 1 ]; then
        ch "DROP DATABASE IF EXISTS $DB" default >/dev/null || true
    fi
}

VERSION=$(ch "SELECT version()" default)
log "ClickHouse $VERSION at $CH"

END_TS=$(ch "SELECT toUnixTimestamp(toDateTime('$END', 'UTC'))" default)
START_TS=$((END_TS - DAYS * 86400))
STEP_US=$((DAYS * 86400 * 1000000 / ROWS))
CUTOFF=$(ch "SELECT toString(toDateTime($((END_TS - KEEP_DAYS * 86400)), 'UTC'))" default)
CUTOFF_SHORT=$(ch "SELECT toString(toDateTime($((END_TS - KEEP_DAYS_SHORT * 86400)), 'UTC'))" default)
OLDEST=$(ch "SELECT toYYYYMM(toDateTime($START_TS, 'UTC'))" default)
C="toDateTime('$CUTOFF', 'UTC')"
CS="toDateTime('$CUTOFF_SHORT', 'UTC')"

# --- 1. Schema ----------------------------------------------------------------------------
ch "DROP DATABASE IF EXISTS $DB" default >/dev/null
ch "CREATE DATABASE $DB" default >/dev/null
trap cleanup EXIT
ch "CREATE TABLE events (tenant_id String, ts_us Int64, timestamp DateTime('UTC'), event_id String, event_type Enum8('log' = 1, 'metric' = 2, 'trace' = 3), service_name String, user_id String, metric_name String, metric_value Float64, payload String, src_tx UInt64, src_pos Int64, src_idx UInt32, recorded_at DateTime('UTC')) ENGINE = MergeTree PARTITION BY toYYYYMM(timestamp) ORDER BY (tenant_id, ts_us, event_id)" >/dev/null
ch "CREATE TABLE event_counts_1m (tenant_id String, bucket DateTime('UTC'), event_type Enum8('log' = 1, 'metric' = 2, 'trace' = 3), service_name String, events UInt64) ENGINE = SummingMergeTree(events) PARTITION BY toYYYYMM(bucket) ORDER BY (tenant_id, bucket, event_type, service_name) SETTINGS index_granularity = 1024" >/dev/null
ch "CREATE MATERIALIZED VIEW event_counts_1m_mv TO event_counts_1m AS SELECT tenant_id, toStartOfMinute(timestamp) AS bucket, event_type, service_name, count() AS events FROM events GROUP BY tenant_id, bucket, event_type, service_name" >/dev/null

# --- 2. Data ------------------------------------------------------------------------------
log "inserting $ROWS rows over $DAYS days before $END (blocks of $BLOCK)"
T0=$(now)
for ((off = 0; off < ROWS; off += BLOCK)); do
    n=$((ROWS - off < BLOCK ? ROWS - off : BLOCK))
    ch "INSERT INTO events (tenant_id, ts_us, timestamp, event_id, event_type, service_name, user_id, metric_name, metric_value, payload, src_tx, src_pos, src_idx, recorded_at)
        SELECT
            concat('tenant-', toString(number % 10)),
            toInt64($START_TS) * 1000000 + toInt64(number) * $STEP_US AS us,
            toDateTime(intDiv(us, 1000000), 'UTC') AS ts,
            lower(hex(sipHash128(toString(number)))),
            CAST(multiIf(intDiv(number, 10) % 10 < 6, 'log', intDiv(number, 10) % 10 < 9, 'metric', 'trace') AS Enum8('log' = 1, 'metric' = 2, 'trace' = 3)) AS type,
            concat('service-', toString(sipHash64(number) % 20)),
            concat('user-', toString(intHash64(number) % 5000)),
            if(type = 'metric', concat('metric.', toString(intHash32(number) % 10)), ''),
            if(type = 'metric', (intHash32(number) % 100000) / 100, 0),
            concat('{\"message\":\"request ', toString(number), ' handled\",\"status\":200,\"ms\":', toString(number % 997), '}'),
            toUInt64(1000 + intDiv(number, 1000)),
            toInt64(number),
            toUInt32(0),
            toDateTime(intDiv(us, 1000000) + 2, 'UTC')
        FROM numbers($off, $n)" >/dev/null
done
INSERT_S=$(since "$T0")
log "inserted in ${INSERT_S}s; merging every partition to one part"
T0=$(now)
for t in events event_counts_1m; do
    for p in $(ch "SELECT DISTINCT partition FROM system.parts WHERE database = '$DB' AND table = '$t' AND active ORDER BY partition"); do
        ch "OPTIMIZE TABLE $t PARTITION $p FINAL" >/dev/null
    done
done
while [ "$(ch "SELECT count() FROM system.merges WHERE database = '$DB'")" != 0 ]; do sleep 0.5; done
OPTIMIZE_S=$(since "$T0")
log "merged in ${OPTIMIZE_S}s"

# --- helpers for the measurements ---------------------------------------------------------
# parts <table>: one line per active part: <partition>_<min>_<max>_<level> <data version> <rows>.
# A mutation gives every part a new data version; 18.16 rewrites a part (all its columns)
# only if rows in it match, and hard-links the others (same rows, new version).
parts() {
    ch "SELECT concat(partition_id, '_', toString(min_block_number), '_', toString(max_block_number), '_', toString(level)), data_version, rows
        FROM system.parts WHERE database = '$DB' AND table = '$1' AND active ORDER BY 1 FORMAT TSV"
}
# changes <parts before> <parts after>: "<rewritten>/<hard-linked>/<active>".
changes() {
    awk 'NR == FNR { v[$1] = $2; r[$1] = $3; next }
         { n++; if (!($1 in v)) rw++; else if ($2 != v[$1]) { if ($3 != r[$1]) rw++; else ln++ } }
         END { printf "%d/%d/%d", rw, ln, n }' <(printf '%s\n' "$1") <(printf '%s\n' "$2")
}
bytes() { ch "SELECT sum(bytes_on_disk) FROM system.parts WHERE database = '$DB' AND table = '$1' AND active"; }
nrows() { ch "SELECT count() FROM $1"; }
layout() {
    ch "SELECT table, partition, count() AS parts, sum(rows) AS rows, round(sum(bytes_on_disk) / 1048576, 1) AS MiB
        FROM system.parts WHERE database = '$DB' AND active GROUP BY table, partition ORDER BY table, partition FORMAT PrettyCompactNoEscapes"
}
wait_mutations() {
    local t=$1 deadline=$(($(date +%s) + 7200))
    while [ "$(ch "SELECT count() FROM system.mutations WHERE database = '$DB' AND table = '$t' AND is_done = 0")" != 0 ]; do
        if [ "$(date +%s)" -gt "$deadline" ]; then
            ch "SELECT * FROM system.mutations WHERE database = '$DB' AND table = '$t' FORMAT Vertical" >&2
            log "bench: mutation on $t not done after 2 hours"
            return 1
        fi
        sleep 0.1
    done
}

SUMMARY=()
# record <step> <table> <matched> <removed> <seconds> <rewritten parts / total> <bytes before> <bytes after>
record() {
    SUMMARY+=("$(printf '| %s | %s | %s | %s | %s | %s | %s -> %s |' "$1" "$2" "$3" "$4" "$5" "$6" "$(mib "$7")" "$(mib "$8")")")
    log "  $1 $2: matched $3, removed $4, ${5}s, parts rewritten/hard-linked/active $6, MiB $(mib "$7") -> $(mib "$8")"
}

# mutate <step> <table> <predicate>: ALTER TABLE ... DELETE, timed until system.mutations says done.
mutate() {
    local step=$1 t=$2 pred=$3 matched rows0 rows1 b0 b1 p0 p1 t0 secs
    matched=$(ch "SELECT count() FROM $t WHERE $pred")
    rows0=$(nrows "$t"); b0=$(bytes "$t"); p0=$(parts "$t")
    t0=$(now)
    ch "ALTER TABLE $t DELETE WHERE $pred" >/dev/null
    wait_mutations "$t"
    secs=$(since "$t0")
    rows1=$(nrows "$t"); b1=$(bytes "$t"); p1=$(parts "$t")
    record "$step" "$t" "$matched" "$((rows0 - rows1))" "$secs" "$(changes "$p0" "$p1")" "$b0" "$b1"
}

# precheck <step> <tenant>: the count a maintenance run does before issuing a mutation.
# Prints first-run wall time, then the median of 5 more (wall and server-side), rows read.
precheck() {
    local step=$1 tenant=$2 q out t0 first walls=() servers=() rows_read count i
    q="SELECT count() FROM events WHERE tenant_id = '$tenant' AND timestamp < $C FORMAT JSON"
    t0=$(now); out=$(ch "$q"); first=$(since "$t0")
    for i in 1 2 3 4 5; do
        t0=$(now); out=$(ch "$q"); walls+=("$(since "$t0")")
        servers+=("$(printf '%s' "$out" | sed -n 's/.*"elapsed": *\([0-9.e-]*\).*/\1/p')")
    done
    count=$(printf '%s' "$out" | sed -n 's/.*"count()": *"\{0,1\}\([0-9]*\)"\{0,1\}.*/\1/p')
    rows_read=$(printf '%s' "$out" | sed -n 's/.*"rows_read": *\([0-9]*\).*/\1/p')
    local wall_med server_med
    wall_med=$(printf '%s\n' "${walls[@]}" | sort -g | sed -n 3p)
    server_med=$(printf '%s\n' "${servers[@]}" | sort -g | sed -n 3p | awk '{ printf "%.4f", $1 }')
    SUMMARY+=("$(printf '| %s | events (SELECT count, %s) | %s | - | first %s, median %s (server %s) | rows read %s | - |' \
        "$step" "$tenant" "$count" "$first" "$wall_med" "$server_med" "$rows_read")")
    log "  $step pre-check $tenant: count $count, first ${first}s, median ${wall_med}s (server ${server_med}s), rows read $rows_read"
}

log "layout before the measurements:"
layout >&2
EVENTS_BYTES0=$(bytes events); ROLLUP_BYTES0=$(bytes event_counts_1m)
EVENTS_ROWS0=$(nrows events); ROLLUP_ROWS0=$(nrows event_counts_1m)

# --- 3. Measurements ----------------------------------------------------------------------
log "d. pre-check count (tenant-4, cutoff $CUTOFF)"
precheck d tenant-4

log "a. delete tenant-3 older than $CUTOFF"
mutate a events "tenant_id = 'tenant-3' AND timestamp < $C"
mutate a event_counts_1m "tenant_id = 'tenant-3' AND bucket < $C"

log "d'. pre-check count when nothing matches (tenant-3)"
precheck "d'" tenant-3

log "e. the same mutation again, nothing matching"
mutate e events "tenant_id = 'tenant-3' AND timestamp < $C"
mutate e event_counts_1m "tenant_id = 'tenant-3' AND bucket < $C"

log "b. 5 tenants in one mutation (0,1,2 older than $CUTOFF; 5,6 older than $CUTOFF_SHORT)"
mutate b events "(tenant_id IN ('tenant-0', 'tenant-1', 'tenant-2') AND timestamp < $C) OR (tenant_id IN ('tenant-5', 'tenant-6') AND timestamp < $CS)"
mutate b event_counts_1m "(tenant_id IN ('tenant-0', 'tenant-1', 'tenant-2') AND bucket < $C) OR (tenant_id IN ('tenant-5', 'tenant-6') AND bucket < $CS)"

log "c. drop partition $OLDEST"
for t in events event_counts_1m; do
    col=timestamp; [ "$t" = event_counts_1m ] && col=bucket
    matched=$(ch "SELECT count() FROM $t WHERE toYYYYMM($col) = $OLDEST")
    rows0=$(nrows "$t"); b0=$(bytes "$t")
    t0=$(now)
    ch "ALTER TABLE $t DROP PARTITION $OLDEST" >/dev/null
    secs=$(since "$t0")
    rows1=$(nrows "$t"); b1=$(bytes "$t")
    record c "$t" "$matched" "$((rows0 - rows1))" "$secs" "0/0/$(parts "$t" | grep -c .)" "$b0" "$b1"
done

log "layout after the measurements:"
layout >&2

# --- 4. Summary ---------------------------------------------------------------------------
cat <<EOF

ClickHouse $VERSION; $EVENTS_ROWS0 rows in events ($(mib "$EVENTS_BYTES0") MiB on disk), $ROLLUP_ROWS0 rows in event_counts_1m ($(mib "$ROLLUP_BYTES0") MiB)
insert ${INSERT_S}s, OPTIMIZE FINAL ${OPTIMIZE_S}s; data $(ch "SELECT toString(toDateTime($START_TS, 'UTC'))" default) .. $END UTC; cutoff $CUTOFF (45-day class $CUTOFF_SHORT)

| Step | Table | Rows matched | Rows removed | Wall s | Parts rewritten / hard-linked / active | MiB before -> after |
|---|---|---|---|---|---|---|
EOF
printf '%s\n' "${SUMMARY[@]}"
