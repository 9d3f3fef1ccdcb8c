#!/usr/bin/env bash
# Run the benchmark suite (docs/benchmarks.md) with the test environment: ./scripts/bench.sh [--write] [--only ...]
# Needs what the tests need (PostgreSQL on 127.0.0.1:5432) plus wrk (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x backend/.venv-test/bin/python ]; then
  "$PYTHON" -m venv backend/.venv-test
fi
backend/.venv-test/bin/python -m pip install --quiet -r backend/requirements-dev.txt
backend/.venv-test/bin/python -m pip install --quiet --no-deps -e backend
exec backend/.venv-test/bin/python -m bench "$@"
