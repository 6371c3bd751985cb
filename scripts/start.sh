#!/usr/bin/env bash
# Start the whole system on the embedded default: Temporal dev server (UI on :8233), PostgreSQL, worker.
# Ctrl-C stops all of it; data stays under ./data (or --data-dir DIR).
source "$(dirname "$0")/bootstrap.sh"
exec complaints dev "$@"
