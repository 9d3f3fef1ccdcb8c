#!/usr/bin/env bash
# Run the benchmark suite (docs/benchmarks.md) with the test environment: ./scripts/bench.sh [--write] [--only ...]
# Needs wrk and PostgreSQL's server package (apt-get install wrk postgresql): the run starts its own cluster
# (bench/postgres.py), or uses MKS_BENCH_POSTGRES_URL's server as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x backend/.venv-test/bin/python ]; then
  "$PYTHON" -m venv backend/.venv-test
fi
backend/.venv-test/bin/python -m pip install --quiet -r backend/requirements-dev.txt
backend/.venv-test/bin/python -m pip install --quiet --no-deps -e backend
exec backend/.venv-test/bin/python -m bench "$@"
