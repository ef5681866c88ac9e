#!/usr/bin/env bash
# Installs the OpenTelemetry Python SDK and its OTLP exporters (tests/otel/requirements.txt)
# into target/otel-venv, once per change of the requirements: the black-box tests export to
# the service with them over OTLP/HTTP and OTLP/gRPC, as a producer would.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/otel-venv
requirements=tests/otel/requirements.txt
if cmp -s "$requirements" "$venv/.installed" 2>/dev/null; then
    exit 0
fi
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    echo "otel-venv: installing python3-venv" >&2
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get install -y -qq python3 python3-venv >&2 \
        || { $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq python3 python3-venv >&2; }
fi
echo "otel-venv: installing the OpenTelemetry SDK from PyPI into $venv" >&2
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
cp "$requirements" "$venv/.installed"
