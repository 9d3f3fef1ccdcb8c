"""Where attachment files live: content-addressed blobs behind a small interface.

A blob's key is the SHA-256 of its bytes, so the same photo attached twice is stored once and a
stored file never changes. ``LocalBlobStore`` keeps them under the instance folder; a shared
volume or an object store can replace it by implementing ``BlobStore``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol


class BlobStore(Protocol):
    def put(self, data: bytes) -> str:
        """Store the bytes (once, whatever the number of calls); their key."""
        ...

    def open(self, key: str) -> BinaryIO:
        """The stored bytes, to read; FileNotFoundError when there are none."""
        ...

    def delete(self, key: str) -> None:
        """Forget the bytes (nothing when there are none)."""
        ...

    def holds(self, key: str) -> bool:
        """Whether bytes of this key are stored."""
        ...

    def stored_keys(self) -> Iterator[str]:
        """Every stored key."""
        ...


def blob_key(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class LocalBlobStore:
    """Blobs as files ``<root>/ab/cd/<key>``, written to a temporary file and renamed into place (never half a file)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if len(key) != 64 or any(char not in "0123456789abcdef" for char in key):
            raise FileNotFoundError(key)  # never a path outside the store
        return self.root / key[:2] / key[2:4] / key

    def put(self, data: bytes) -> str:
        key = blob_key(data)
        path = self._path(key)
        if path.exists():
            return key
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as temporary:
            temporary.write(data)
        os.replace(temporary.name, path)
        return key

    def open(self, key: str) -> BinaryIO:
        return self._path(key).open("rb")

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def holds(self, key: str) -> bool:
        return self._path(key).is_file()

    def stored_keys(self) -> Iterator[str]:
        if self.root.is_dir():
            yield from (path.name for path in self.root.glob("??/??/*") if len(path.name) == 64)


def copy_blobs(source: BlobStore, target: BlobStore) -> int:
    """Copy the blobs the target lacks (a backup, a restore); how many were copied. Stored blobs never change,
    so one already held is the same bytes."""
    copied = 0
    for key in source.stored_keys():
        if not target.holds(key):
            with source.open(key) as stream:
                target.put(stream.read())
            copied += 1
    return copied
