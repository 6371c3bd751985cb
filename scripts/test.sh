#!/usr/bin/env bash
# Run every check: lint, types, the layer contract (import-linter), the deployment files (docker-compose.yml against
# the compose spec vendored in check-jsonschema, the Dockerfile with hadolint, the Prometheus rules and config with
# promtool; none downloads anything), and the tests (they start their own Temporal servers and PostgreSQL).
# Browser tests drive Debian's Chromium, and the Prometheus rules are checked by promtool from Debian's `prometheus`;
# each is installed here when missing, and so is axe-core's script for their accessibility check (nothing is
# downloaded by the tests).
source "$(dirname "$0")/bootstrap.sh"
if { [ ! -x /usr/bin/chromium ] || ! command -v promtool >/dev/null 2>&1; } && command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    if [ ! -x /usr/bin/chromium ]; then
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
    fi
    if ! command -v promtool >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    fi
fi
# axe-core for the browser tests' accessibility check: its pinned tarball from the npm registry, verified, once
python scripts/fetch_axe_core.py
ruff check .
ruff format --check .
mypy
lint-imports --no-cache
check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
hadolint Dockerfile
# the alert rules, and that they fire on the series they claim; the scrape config's syntax (its token file exists
# only in the container, so file checks are skipped)
promtool check rules deploy/prometheus/alerts.yml
promtool test rules deploy/prometheus/alerts_test.yml
promtool check config --syntax-only deploy/prometheus/prometheus.yml
pytest -q -p no:cacheprovider "$@"
