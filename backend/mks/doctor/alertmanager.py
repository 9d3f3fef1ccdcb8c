"""The Alertmanager check: it answers, has a route, and Prometheus sends alerts to it."""

from __future__ import annotations

from .base import CheckStatus, Endpoints, HttpError, Result, get_json, prometheus_data


def check_alertmanager(endpoints: Endpoints) -> Result:
    """Alertmanager answers, has a route, and Prometheus sends alerts to it."""
    name = "Alertmanager"
    assert endpoints.alertmanager is not None
    try:
        status = get_json(f"{endpoints.alertmanager}/api/v2/status")
    except HttpError as exc:
        return Result(
            name,
            CheckStatus.NG,
            f"{endpoints.alertmanager} に接続できません（{exc}）",
            "docker compose --profile alertmanager up -d で起動してください。",
        )
    active = prometheus_data(endpoints, "alertmanagers")["activeAlertmanagers"]
    if not active:
        return Result(
            name,
            CheckStatus.NG,
            "Prometheus から送信先として見えていません",
            "prometheus.yml の alerting を確認してください。",
        )
    if "route:" not in status.get("config", {}).get("original", ""):
        return Result(
            name,
            CheckStatus.WARNING,
            "ルーティング設定がありません",
            "alertmanager/alertmanager.yml を確認してください。",
        )
    return Result(
        name,
        CheckStatus.OK,
        f"稼働中（版 {status.get('versionInfo', {}).get('version', '?')}）、送信先 {len(active)} 件",
    )
