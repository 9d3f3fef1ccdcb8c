"""The alerts Prometheus holds now (firing or pending), for the admin's monitoring page.

Also the one way the page reads Prometheus's HTTP API (`api_data`, `unreadable`), which `trends` shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from ..doctor.base import HttpError, get_json

# What reading an answer can raise: no answer or an error status, a body that is not JSON (ValueError), or
# JSON without the expected fields.
READ_ERRORS = (HttpError, ValueError, KeyError, TypeError)


def api_data(prometheus_url: str, path: str, **params: str) -> Any:
    """The `data` of a Prometheus HTTP API answer (`/api/v1/<path>`), waiting at most the doctor's timeout."""
    query = f"?{urlencode(params)}" if params else ""
    return get_json(f"{prometheus_url.rstrip('/')}/api/v1/{path}{query}")["data"]


def unreadable(prometheus_url: str, exc: Exception) -> str:
    """Why the page shows nothing from Prometheus, for people (one of READ_ERRORS)."""
    if isinstance(exc, HttpError):
        return f"Prometheus（{prometheus_url}）に接続できません: {exc}"
    return f"Prometheus（{prometheus_url}）の応答を読めません。"


@dataclass(frozen=True)
class Alert:
    name: str
    state: str  # "firing" or "pending"
    severity: str
    summary: str
    active_at: str  # as Prometheus gives it (RFC 3339, UTC)


@dataclass(frozen=True)
class AlertStatus:
    """The alerts, firing first; or why they could not be read (then no alert is known)."""

    alerts: list[Alert]
    error: str | None = None


def current_alerts(prometheus_url: str) -> AlertStatus:
    """The alerts of the Prometheus at the URL (its HTTP API), waiting at most the doctor's timeout."""
    try:
        alerts = [
            Alert(
                alert["labels"]["alertname"],
                alert["state"],
                alert["labels"].get("severity", ""),
                alert.get("annotations", {}).get("summary", ""),
                alert.get("activeAt", ""),
            )
            for alert in api_data(prometheus_url, "alerts")["alerts"]
        ]
    except READ_ERRORS as exc:
        return AlertStatus([], unreadable(prometheus_url, exc))
    alerts.sort(key=lambda alert: (alert.state != "firing", alert.name))
    return AlertStatus(alerts)
