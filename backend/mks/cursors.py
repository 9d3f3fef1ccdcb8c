"""Opaque page cursors: a position in a sorted list that clients hand back but cannot forge.

A cursor is base64url JSON plus an HMAC keyed from the token secret, so a tampered one is
refused before its values reach a query.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

_KEY_PURPOSE = b"mks page cursor"


class InvalidCursor(ValueError):
    """The cursor was not issued by this service (or not with its current secret)."""


def _signature(secret: str, payload: str) -> str:
    key = hmac.new(secret.encode(), _KEY_PURPOSE, hashlib.sha256).digest()
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def encode(secret: str, values: list[Any]) -> str:
    """A signed cursor holding the JSON values, keyed from the token secret."""
    raw = json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode()
    payload = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return f"{payload}.{_signature(secret, payload)}"


def decode(secret: str, cursor: str) -> list[Any]:
    """The values of a cursor encode() issued; InvalidCursor for anything else."""
    payload, _, signature = cursor.partition(".")
    # compare_digest takes ASCII str only; anything else was not issued here.
    if not (cursor.isascii() and hmac.compare_digest(signature, _signature(secret, payload))):
        raise InvalidCursor()
    values: list[Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return values
