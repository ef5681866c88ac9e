#!/usr/bin/env bash
# python-venv.sh VENV REQUIREMENTS: installs the pinned REQUIREMENTS from PyPI into the
# virtual environment VENV, once per change of them (python3-venv from Debian's packages
# when the machine lacks it). Used for the OpenTelemetry SDK and for schemathesis.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=$1
requirements=$2
if cmp -s "$requirements" "$venv/.installed" 2>/dev/null; then
    exit 0
fi
./scripts/ensure-python-venv.sh
echo "python-venv: installing $requirements from PyPI into $venv" >&2
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
cp "$requirements" "$venv/.installed"
