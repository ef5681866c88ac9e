#!/usr/bin/env bash
# Fails when a layer depends on what it must not (see docs/ARCHITECTURE.md):
# the domain on any IO crate, the application on any adapter crate.
set -euo pipefail
cd "$(dirname "$0")/.."

io_crates='sqlx|sqlx-core|sqlx-postgres|axum|axum-core|hyper|hyper-util|redis|clickhouse|moka|postgres-es|reqwest|tower-http|utoipa|jsonwebtoken'

check() { # check <package> <forbidden regex>
    local package=$1 forbidden=$2 tree found
    tree=$(cargo tree --quiet -p "$package" -e normal,build --prefix none --format '{p}') \
        || { echo "layering: cargo tree failed for $package" >&2; return 1; }
    found=$(echo "$tree" | awk '{print $1}' | sort -u | grep -E "^(${forbidden})$" || true)
    if [ -n "$found" ]; then
        echo "layering: $package must not depend on: $(echo "$found" | tr '\n' ' ')" >&2
        return 1
    fi
}

check telemetry-domain "$io_crates|tokio-postgres"
check telemetry-application "$io_crates"
echo "layering: ok" >&2
