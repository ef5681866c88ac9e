#!/usr/bin/env bash
# Brings up what the service needs on this machine: Postgres and Redis must answer (they are
# started with the machine's own commands when they do not), ClickHouse is installed from
# Debian's packages when missing and started when not running. Creates the development
# databases. Idempotent and quiet when everything is already up.
set -euo pipefail

PG_HOST=${PG_HOST:-127.0.0.1}
PG_PORT=${PG_PORT:-5432}
REDIS_HOST=${REDIS_HOST:-127.0.0.1}
REDIS_PORT=${REDIS_PORT:-6379}
CLICKHOUSE_HTTP=${CLICKHOUSE_HTTP:-http://127.0.0.1:8123}
DEV_DATABASE=${DEV_DATABASE:-telemetry}

say() { echo "stack: $*" >&2; }
fail() { echo "stack: ERROR: $*" >&2; exit 1; }

wait_for() { # wait_for <seconds> <description> <command...>
    local seconds=$1 what=$2; shift 2
    for _ in $(seq 1 $((seconds * 4))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.25
    done
    fail "$what did not come up within ${seconds}s"
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        fail "need root to run: $*"
    fi
}

# --- Postgres -------------------------------------------------------------------------------
pg_up() { psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -tAc 'SELECT 1' ; }
if ! pg_up >/dev/null 2>&1; then
    if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
        say "starting Postgres"
        as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
        wait_for 30 "Postgres on $PG_HOST:$PG_PORT" pg_up
    else
        fail "Postgres does not answer on $PG_HOST:$PG_PORT (user postgres, trust auth) and cannot be started here"
    fi
fi
if [ "$(psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$DEV_DATABASE'")" != "1" ]; then
    say "creating Postgres database $DEV_DATABASE"
    psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -qc "CREATE DATABASE $DEV_DATABASE"
fi

# --- Redis ----------------------------------------------------------------------------------
redis_up() { [ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]; }
if ! redis_up; then
    if command -v redis-server >/dev/null; then
        say "starting Redis"
        mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
        redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" \
            --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
        wait_for 15 "Redis on $REDIS_HOST:$REDIS_PORT" redis_up
    else
        fail "Redis does not answer on $REDIS_HOST:$REDIS_PORT and redis-server is not installed"
    fi
fi

# --- ClickHouse -----------------------------------------------------------------------------
clickhouse_up() { curl -sf "$CLICKHOUSE_HTTP/ping" ; }
if ! clickhouse_up >/dev/null 2>&1; then
    if ! command -v clickhouse-server >/dev/null && [ ! -x /usr/sbin/clickhouse-server ]; then
        say "installing ClickHouse from Debian's packages (apt-get install clickhouse-server)"
        export DEBIAN_FRONTEND=noninteractive
        if ! apt-cache show clickhouse-server >/dev/null 2>&1; then
            as_root apt-get update -qq >/dev/null
        fi
        as_root apt-get install -y -qq clickhouse-server clickhouse-client >/dev/null \
            || fail "apt-get install clickhouse-server failed"
    fi
    say "starting ClickHouse"
    as_root mkdir -p /var/log/clickhouse-server /var/lib/clickhouse
    as_root chown -R clickhouse:clickhouse /var/log/clickhouse-server /var/lib/clickhouse 2>/dev/null || true
    as_root start-stop-daemon --start --quiet --background --chuid clickhouse:clickhouse \
        --exec /usr/sbin/clickhouse-server -- --config=/etc/clickhouse-server/config.xml \
        || fail "could not start clickhouse-server (see /var/log/clickhouse-server/)"
    wait_for 60 "ClickHouse at $CLICKHOUSE_HTTP" clickhouse_up
fi
curl -sf "$CLICKHOUSE_HTTP/" --data-binary "CREATE DATABASE IF NOT EXISTS $DEV_DATABASE" >/dev/null \
    || fail "cannot create ClickHouse database $DEV_DATABASE"
