# Sourced by the other scripts: make sure uv (pinned) and the locked environment are there.
# Needs only Python 3.11+ and pip; everything else comes from the lock file.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
UV_VERSION=0.13.8
if ! command -v uv >/dev/null 2>&1 || [ "$(uv --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
    python3 -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
uv sync --frozen --quiet --extra dev-stack
export PATH="$PWD/.venv/bin:$PATH"
