#!/usr/bin/env bash
# Run every check: lint, types, the layer contract (import-linter), the deployment files (docker-compose.yml against
# the compose spec vendored in check-jsonschema, the Dockerfile with hadolint; neither downloads anything), and the
# tests (they start their own Temporal servers and PostgreSQL).
# Browser tests drive Debian's Chromium; it is installed here when missing (nothing is downloaded by the tests).
source "$(dirname "$0")/bootstrap.sh"
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
ruff check .
ruff format --check .
mypy
lint-imports --no-cache
check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
hadolint Dockerfile
pytest -q -p no:cacheprovider "$@"
