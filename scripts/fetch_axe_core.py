"""Put axe-core's browser script where the browser tests read it: `.cache/axe-core-<version>/axe.min.js`.

Run by scripts/test.sh before the tests (which never download anything). The build machines may have no Node.js, so
the package comes straight from the npm registry as its tarball, pinned to one version and checked against the
registry's own integrity digest (`npm view axe-core@VERSION dist.integrity`) before one file is taken out of it.
Does nothing when the file is already there."""

from __future__ import annotations

import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

VERSION = "4.14.1"
TARBALL = f"https://registry.npmjs.org/axe-core/-/axe-core-{VERSION}.tgz"
INTEGRITY = "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="
MEMBER = "package/axe.min.js"
TARGET = Path(__file__).resolve().parent.parent / ".cache" / f"axe-core-{VERSION}" / "axe.min.js"
"""Git ignores `.cache/`; tests/web/browser_support.py reads this path (a test keeps the two equal)."""


def integrity_of(data: bytes) -> str:
    """The Subresource Integrity string npm records for a tarball."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def fetch() -> Path:
    if TARGET.is_file():
        return TARGET
    with urllib.request.urlopen(TARBALL, timeout=60) as response:
        data = response.read()
    if integrity_of(data) != INTEGRITY:
        raise SystemExit(f"axe-core {VERSION}: the tarball from {TARBALL} does not match its pinned integrity")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        member = archive.extractfile(MEMBER)
        if member is None:
            raise SystemExit(f"axe-core {VERSION}: {MEMBER} is not a file in {TARBALL}")
        script = member.read()
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    partial = TARGET.with_suffix(".tmp")
    partial.write_bytes(script)
    partial.replace(TARGET)  # whole or absent: a test never reads half a file
    return TARGET


if __name__ == "__main__":
    print(f"axe-core {VERSION}: {fetch()}", file=sys.stderr)
