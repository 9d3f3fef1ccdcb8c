#!/usr/bin/env bash
# Set up (or reuse) backend/.venv and run the system on its embedded default: SQLite, demo data, :5100.
set -euo pipefail
cd "$(dirname "$0")/../backend"
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r requirements.txt
.venv/bin/python -m pip install --quiet --no-deps -e .
echo "MKS を起動します: http://${MKS_HOST:-0.0.0.0}:${MKS_PORT:-5100}  (デモユーザー admin / admin123)"
# app_v2.py runs the start-up step (JWT secret, migrations, demo data) before it serves.
exec .venv/bin/python app_v2.py
