#!/usr/bin/env bash
# Drops the Postgres and ClickHouse databases and Redis keys left by earlier test runs.
set -euo pipefail
PG="psql -h ${PG_HOST:-127.0.0.1} -p ${PG_PORT:-5432} -U postgres -d postgres -qtA"
CLICKHOUSE_HTTP=${CLICKHOUSE_HTTP:-http://127.0.0.1:8123}

for database in $($PG -c "SELECT datname FROM pg_database WHERE datname LIKE 'test\_%'"); do
    $PG -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null
done
for database in $(curl -sf "$CLICKHOUSE_HTTP/" --data-binary "SHOW DATABASES" | grep '^test_' || true); do
    curl -sf "$CLICKHOUSE_HTTP/" --data-binary "DROP DATABASE IF EXISTS $database" >/dev/null
done
redis-cli -h "${REDIS_HOST:-127.0.0.1}" -p "${REDIS_PORT:-6379}" --scan --pattern 'test:*' \
    | xargs -r -n 500 redis-cli -h "${REDIS_HOST:-127.0.0.1}" -p "${REDIS_PORT:-6379}" DEL >/dev/null || true
