"""The alerts Prometheus holds now (firing or pending), for the admin's monitoring page."""

from __future__ import annotations

from dataclasses import dataclass

from ..doctor.base import HttpError, get_json


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
        found = get_json(f"{prometheus_url.rstrip('/')}/api/v1/alerts")["data"]["alerts"]
        alerts = [
            Alert(
                alert["labels"]["alertname"],
                alert["state"],
                alert["labels"].get("severity", ""),
                alert.get("annotations", {}).get("summary", ""),
                alert.get("activeAt", ""),
            )
            for alert in found
        ]
    except HttpError as exc:
        return AlertStatus([], f"Prometheus（{prometheus_url}）に接続できません: {exc}")
    except (ValueError, KeyError, TypeError):
        return AlertStatus([], f"Prometheus（{prometheus_url}）の応答を読めません。")
    alerts.sort(key=lambda alert: (alert.state != "firing", alert.name))
    return AlertStatus(alerts)
