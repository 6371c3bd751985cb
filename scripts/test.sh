#!/usr/bin/env bash
# Run every check: lint, types, and the tests (they start their own Temporal servers and PostgreSQL).
source "$(dirname "$0")/bootstrap.sh"
ruff check .
ruff format --check .
mypy
pytest -q -p no:cacheprovider "$@"
