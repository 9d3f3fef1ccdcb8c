"""axe-core, the accessibility checker the browser tests run in each page: pinned, fetched once, verified.

``python -m tests.pages.axe`` (run by scripts/test.sh before the tests) downloads the pinned release
from the npm registry into backend/.cache and checks it against the registry's published sha512; a
test only reads the file. To update, change VERSION and INTEGRITY to the registry's
(``npm view axe-core@<version> dist.integrity``). axe-core is licensed MPL-2.0; it is a test tool,
never served by MKS.
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import urllib.request
from pathlib import Path

VERSION = "4.14.1"
INTEGRITY = "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="
TARBALL = f"https://registry.npmjs.org/axe-core/-/axe-core-{VERSION}.tgz"
SCRIPT = Path(__file__).resolve().parents[2] / ".cache" / f"axe-core-{VERSION}.min.js"


def fetch() -> Path:
    """The pinned axe.min.js, downloaded and verified unless already there."""
    if SCRIPT.exists():
        return SCRIPT
    with urllib.request.urlopen(TARBALL, timeout=60) as response:
        archive = response.read()
    digest = "sha512-" + base64.b64encode(hashlib.sha512(archive).digest()).decode()
    if digest != INTEGRITY:
        raise RuntimeError(f"axe-core {VERSION}: the download does not match the registry's sha512")
    with tarfile.open(fileobj=io.BytesIO(archive)) as unpacked:
        member = unpacked.extractfile("package/axe.min.js")
        assert member is not None
        SCRIPT.parent.mkdir(parents=True, exist_ok=True)
        SCRIPT.write_bytes(member.read())
    return SCRIPT


if __name__ == "__main__":
    print(fetch())
