"""The error envelopes tests expect, written once."""

from __future__ import annotations

from typing import Any


def field_error(location: str, field: str, kind: str, message: str) -> dict[str, Any]:
    """The 422 body naming one refused input field."""
    detail = {"location": location, "field": field, "type": kind, "message": message}
    error = {"code": "validation_error", "message": "入力内容に誤りがあります。", "status": 422, "details": [detail]}
    return {"error": error}
