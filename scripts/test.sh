#!/usr/bin/env bash
# Set up (or reuse) backend/.venv-test and run the whole check: lint, types, tests on SQLite and PostgreSQL.
# Needs a PostgreSQL server (default postgresql://postgres@127.0.0.1:5432, trust auth; set
# MKS_TEST_POSTGRES_URL to change). With CI=true an unreachable PostgreSQL fails the run.
set -euo pipefail
cd "$(dirname "$0")/../backend"
PYTHON=${PYTHON:-python3}
if [ ! -x .venv-test/bin/python ]; then
  "$PYTHON" -m venv .venv-test
fi
.venv-test/bin/python -m pip install --quiet --upgrade pip
.venv-test/bin/python -m pip install --quiet -r requirements-dev.txt
.venv-test/bin/python -m pip install --quiet --no-deps -e .
.venv-test/bin/python -m tests.pages.axe >/dev/null  # the browser tests' accessibility checker (pinned, verified)
.venv-test/bin/ruff check . ../bench
.venv-test/bin/ruff format --check . ../bench
.venv-test/bin/mypy
.venv-test/bin/mypy --strict ../bench
# Two workers, one test file each (fixtures shared within a file stay on one worker): the suite's servers,
# databases and ports are per test, so files run side by side. MKS_TEST_WORKERS=0 runs them in this process.
.venv-test/bin/pytest -n "${MKS_TEST_WORKERS:-2}" --dist loadfile \
  --cov=mks --cov-branch --cov-report=term-missing:skip-covered "$@"
