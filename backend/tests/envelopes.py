"""The error envelopes tests expect, written once."""

from __future__ import annotations

from typing import Any

# The 429 body of every rate limit (the code and message of mks.errors.HTTP_ERRORS[429]).
RATE_LIMITED = {
    "error": {
        "code": "rate_limited",
        "message": "リクエストが多すぎます。しばらく待ってから再試行してください。",
        "status": 429,
    }
}


def field_error(location: str, field: str, kind: str, message: str) -> dict[str, Any]:
    """The 422 body naming one refused input field."""
    detail = {"location": location, "field": field, "type": kind, "message": message}
    error = {"code": "validation_error", "message": "入力内容に誤りがあります。", "status": 422, "details": [detail]}
    return {"error": error}
