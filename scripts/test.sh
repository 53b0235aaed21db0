#!/usr/bin/env bash
# The whole test suite: lint, format check, type check, tests. Extra arguments go to pytest.
#   OPSWARDEN_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test  runs the store tests on PostgreSQL too
#   OPSWARDEN_CORPUS=../shared/corpus                                      runs the corpus conformance test
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh

echo "== ruff"
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
.venv/bin/pytest -n "${PYTEST_WORKERS:-2}" "$@"
