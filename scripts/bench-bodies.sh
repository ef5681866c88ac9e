#!/usr/bin/env bash
# Hostile bodies (make bench-bodies). Prints figures; asserts nothing.
#
# Small gzip bodies that inflate, within the 10 MiB body limit, into millions of JSON
# elements, unknown fields or empty OTLP messages. Each is sent three times to a release
# build; the script prints the status, the time, the size of the answer and the server's
# peak RSS after each request.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${BENCH_PORT:-18082}
DB=bench_bodies
source scripts/bench-lib.sh
BODIES=$(mktemp -d)
start_service "$DB" "$PORT" "$OUT/bodies-server.log"
trap 'kill $SERVER_PID 2>/dev/null || true; rm -rf "$BODIES"' EXIT

python3 - "$BODIES" <<'PY'
import gzip, sys
out = sys.argv[1]
limit = 10 * 1024 * 1024
def varint(n):
    b = b""
    while True:
        low, n = n & 0x7F, n >> 7
        if n:
            b += bytes([low | 0x80])
        else:
            return b + bytes([low])
def field(tag, payload):
    return bytes([(tag << 3) | 2]) + varint(len(payload)) + payload
bodies = {
    # /ingest: 3.5 million empty events; 5.2 million numbers; one event with 1.7 million
    # unknown fields.
    "ingest-empty-events.json": b"[" + b",".join([b"{}"] * ((limit - 2) // 3)) + b"]",
    "ingest-numbers.json": b"[" + b",".join([b"1"] * ((limit - 2) // 2)) + b"]",
    "ingest-unknown-fields.json": b"{" + b",".join([b'"a":0'] * ((limit - 2) // 6)) + b"}",
    # /v1/logs: 5.2 million empty log records (protobuf).
    "logs-empty-records.pb": field(1, field(2, b"\x12\x00" * ((limit - 16) // 2))),
    # /v1/traces: one span with 999,990 empty attributes, just within the message limit.
    "traces-attributes.json": (
        '{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[%s]}]}]}]}'
        % ",".join(["{}"] * 999_990)
    ).encode(),
}
for name, body in bodies.items():
    assert len(body) <= limit, name
    with open(f"{out}/{name}.gz", "wb") as f:
        f.write(gzip.compress(body))
PY

echo "| Body (gzip size) | Route | Answers (status, time) | Answer bytes | Peak RSS after |"
echo "|---|---|---|---|---|"
echo "| (none: after start-up) | | | | $(( $(awk '/VmHWM/ {print $2}' /proc/$SERVER_PID/status) / 1024 )) MB |"
send() { # send <body file> <route> <content type>
    local file=$1 route=$2 type=$3 answers=""
    for _ in 1 2 3; do
        answers+=$(curl -s -o "$BODIES/answer" -w "%{http_code} %{time_total}s, " \
            -H "X-API-Key: $KEY" -H "Content-Type: $type" -H "Content-Encoding: gzip" \
            --data-binary "@$BODIES/$file.gz" "$URL$route")
    done
    echo "| $file ($(stat -c %s "$BODIES/$file.gz") B) | $route | ${answers%, } |" \
        "$(stat -c %s "$BODIES/answer") | $(( $(awk '/VmHWM/ {print $2}' /proc/$SERVER_PID/status) / 1024 )) MB |"
}
send ingest-empty-events.json /ingest application/json
send ingest-numbers.json /ingest application/json
send ingest-unknown-fields.json /ingest application/json
send logs-empty-records.pb /v1/logs application/x-protobuf
send traces-attributes.json /v1/traces application/json
