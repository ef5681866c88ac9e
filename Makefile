# The targets a person runs are the targets CI runs (.ci/run calls `make lint`, then `make test`).

CARGO ?= cargo
PORT ?= 8080
# Black-box tests run this many at a time. Each starts one to three service instances with
# up to 7 Postgres connections each; at 8 at a time the suite peaked at 103 connections
# (the server allows 100, plus 3 for superusers) and a test failed with "too many clients"
# (docs/OPERATIONS.md, "Tests").
TEST_THREADS ?= 5
export PORT CARGO TEST_THREADS

.PHONY: help run test stack ui lint fmt openapi config-docs test-contract check-layering clean-test-data test-clickhouse-current test-browser bench bench-ingest bench-query bench-alerts bench-bodies bench-cpu bench-ui bench-retention build

help:
	@echo "make run     start the local stack and the service on PORT (default 8080), console included"
	@echo "make test    start the local stack and run every test (black-box tests also against a current ClickHouse; browser tests)"
	@echo "make ui      build the browser console (ui/ -> ui/dist)"
	@echo "make lint    rustfmt check and clippy (warnings are errors)"
	@echo "make openapi refresh openapi/openapi.json from the code"
	@echo "make config-docs regenerate the README settings table and config/example.toml"
	@echo "make bench   run the benchmarks (see docs/BENCHMARKS.md); make bench-cpu: CPU by process"

stack:
	@./scripts/stack.sh

# The browser console (needs Node.js 20.19+; installed from Debian's packages when missing).
ui:
	@./scripts/ui.sh

build:
	$(CARGO) build --bin telemetry-server

run: stack ui build
	@echo ""
	@echo "  Telemetry service on http://localhost:$(PORT)"
	@echo "  Console:      http://localhost:$(PORT)/ui/ (sign in with the dev API key below)"
	@echo "  Swagger UI:   http://localhost:$(PORT)/docs"
	@echo "  OTLP/gRPC:    localhost:4317 (OTLP/HTTP on port $(PORT))"
	@echo "  Readiness:    http://localhost:$(PORT)/readyz"
	@echo "  Dev API key:  dev-key-0000000000000001 (tenant demo; see config/dev.toml)"
	@echo ""
	$(CARGO) run --quiet --bin telemetry-server -- --config config/dev.toml serve

test: stack ui
	@cd ui && npm test --silent
	@./scripts/otel-venv.sh
	@./scripts/clean-test-data.sh
	$(CARGO) build --workspace --all-targets
	@./scripts/check-layering.sh
	$(CARGO) test --workspace --all-targets -- --test-threads=$(TEST_THREADS)
	@./scripts/test-contract.sh
	@./scripts/test-clickhouse-current.sh
	@./scripts/test-browser.sh

# The contract test alone (schemathesis against the served OpenAPI document).
test-contract: stack
	$(CARGO) build --bin telemetry-server
	@./scripts/test-contract.sh

# The browser tests alone (Playwright and Debian's Chromium against the real service).
test-browser: stack ui
	$(CARGO) build --bin telemetry-server
	@./scripts/test-browser.sh

# The black-box tests again, against a current ClickHouse release (part of `make test`).
test-clickhouse-current: stack
	@./scripts/otel-venv.sh
	$(CARGO) build --workspace --all-targets
	@./scripts/test-clickhouse-current.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

# Regenerate the README's table of settings and config/example.toml from src/config/catalog.rs.
config-docs:
	UPDATE_CONFIG_DOCS=1 $(CARGO) test --quiet --lib config::catalog

openapi:
	$(CARGO) run --quiet --bin telemetry-server -- openapi > openapi/openapi.json.tmp
	mv openapi/openapi.json.tmp openapi/openapi.json

bench: bench-ingest bench-query bench-alerts bench-bodies bench-ui bench-retention

bench-ingest: stack
	@./scripts/bench-ingest.sh

bench-cpu: stack
	@./scripts/bench-cpu.sh

bench-query: stack
	@./scripts/bench-query.sh

bench-alerts: stack
	@./scripts/bench-alerts.sh

bench-bodies: stack
	@./scripts/bench-bodies.sh

bench-ui: stack
	@./scripts/bench-ui.sh

# What enforcing retention costs ClickHouse at 10 million events (deletes, partition drops).
bench-retention: stack
	@./scripts/bench-retention.sh

check-layering:
	@./scripts/check-layering.sh

clean-test-data:
	@./scripts/clean-test-data.sh
