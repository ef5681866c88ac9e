#!/usr/bin/env bash
# The contract test: schemathesis (pinned in tests/contract/requirements.txt, installed into
# target/contract-venv) generates requests from the OpenAPI document the running service
# serves, sends them, and checks every answer against the document, with all its checks on.
# The service runs as in test-browser.sh, with the failed-authentication budget lifted (the
# checks send many unauthenticated requests on purpose). Any failure fails `make test`.
# (That the committed openapi/openapi.json equals the served one is a black-box test.)
#
# CONTRACT_EXAMPLES (default 20) bounds the examples per operation; CONTRACT_SEED fixes the
# generator's seed (default: a fixed one, so a run is reproducible; pass another to explore).
# Arguments go to `schemathesis run` (`--include-name 'GET /catalog'` tests one operation).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/contract-venv
./scripts/python-venv.sh "$venv" tests/contract/requirements.txt

key=contract-key-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
. scripts/test-service.sh
start_test_service contract API_KEYS="$key:acme" RATE_LIMIT_FAILED_AUTH_MAX_REQUESTS=0 \
    RATE_LIMIT_MAX_REQUESTS=1000000

report=target/contract-report
rm -rf "$report"
mkdir -p "$report"
config=$report/schemathesis.toml
at() { date -u -d "$1" +%Y-%m-%dT%H:%M:%SZ; }
{
    cat tests/contract/schemathesis.toml
    echo
    echo "[dictionaries.range-start]"
    echo "values = [\"$(at '-2 hours')\", \"$(at '-90 minutes')\"]"
    echo "[dictionaries.range-end]"
    echo "values = [\"$(at '-30 minutes')\", \"$(at 'now')\"]"
    echo "[dictionaries.recent]"
    echo "values = [\"$(at '-1 hour')\", \"$(at '-1 minute')\", \"$(at 'now')\"]"
} > "$config"

# Through tests/contract/run.py: the pinned CLI with a fix for an internal error (see there).
"$venv/bin/python" tests/contract/run.py --config-file "$config" run "$address/api-docs/openapi.json" \
    --header "X-API-Key: $key" \
    --checks all \
    --max-examples "${CONTRACT_EXAMPLES:-20}" \
    --seed "${CONTRACT_SEED:-20261207}" \
    --request-timeout 30 \
    --no-color \
    --report junit,har --report-dir "$report" \
    "$@"
