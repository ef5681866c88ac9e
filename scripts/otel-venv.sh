#!/usr/bin/env bash
# Installs the OpenTelemetry Python SDK and its OTLP exporters (tests/otel/requirements.txt)
# into target/otel-venv, once per change of the requirements: the black-box tests export to
# the service with them over OTLP/HTTP and OTLP/gRPC, as a producer would.
set -euo pipefail
cd "$(dirname "$0")/.."
exec ./scripts/python-venv.sh target/otel-venv tests/otel/requirements.txt
