#!/usr/bin/env bash
# Installs python3-venv from Debian's packages when the machine lacks it (Debian ships venv's
# pip bootstrap apart from python3). Used by every script that makes a virtual environment.
set -euo pipefail
if python3 -c 'import ensurepip, venv' 2>/dev/null; then
    exit 0
fi
echo "ensure-python-venv: installing python3-venv" >&2
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
$sudo_cmd apt-get install -y -qq python3 python3-venv >&2 \
    || { $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq python3 python3-venv >&2; }
