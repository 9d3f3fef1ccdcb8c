"""The Alertmanager checks: it answers, has a route, Prometheus sends alerts to it, and the alerts get through."""

from __future__ import annotations

from collections import defaultdict

from prometheus_client.samples import Sample

from .base import Check, CheckStatus, Endpoints, HttpError, Result, get_json, metric_samples, prometheus_data

START_FIX = (
    "Alertmanager を起動してください（Docker: docker compose --profile alertmanager up -d）。"
    "別の場所で動いているなら --alertmanager-url（ALERTMANAGER_URL）で指定してください。"
)
DELIVERY_FIX = (
    "Alertmanager のログ（docker logs mks-alertmanager、native では journalctl -u prometheus-alertmanager）で理由を"
    "確認してください。STARTTLS のないメール中継なら ALERT_SMTP_REQUIRE_TLS=false、Webhook なら URL を確認し、"
    "docs/runbook.md の AlertmanagerNotificationsFailing に沿って直してください。"
)


def check_alertmanager(endpoints: Endpoints) -> list[Result]:
    """Alertmanager answers, has a route and is Prometheus's destination; then whether notifications get through."""
    destinations = [a["url"] for a in prometheus_data(endpoints, "alertmanagers")["activeAlertmanagers"]]
    try:
        status = get_json(f"{endpoints.alertmanager}/api/v2/status")
    except HttpError as exc:
        if not destinations:
            return [
                Result(
                    Check.ALERTMANAGER,
                    CheckStatus.WARNING,
                    f"{endpoints.alertmanager} に接続できず、Prometheus にも送信先がありません"
                    "（アラートは誰にも通知されません）",
                    START_FIX + "prometheus.yml の alerting に送信先を書いてください。",
                )
            ]
        return [
            Result(
                Check.ALERTMANAGER,
                CheckStatus.ERROR,
                f"{endpoints.alertmanager} に接続できません（{exc}）。Prometheus の送信先: {', '.join(destinations)}",
                START_FIX,
            )
        ]
    if not destinations:
        return [
            Result(
                Check.ALERTMANAGER,
                CheckStatus.ERROR,
                "Prometheus から送信先として見えていません",
                "prometheus.yml の alerting を確認してください。",
            )
        ]
    if "route:" not in status.get("config", {}).get("original", ""):
        return [
            Result(
                Check.ALERTMANAGER,
                CheckStatus.WARNING,
                "ルーティング設定がありません",
                "alertmanager/alertmanager.yml を確認してください。",
            )
        ]
    version = status.get("versionInfo", {}).get("version", "?")
    running = Result(Check.ALERTMANAGER, CheckStatus.OK, f"稼働中（版 {version}）、送信先 {len(destinations)} 件")
    return [running, check_alert_delivery(endpoints)]


def check_alert_delivery(endpoints: Endpoints) -> Result:
    """Since they started, Prometheus's sends to Alertmanager and Alertmanager's notifications per integration
    (email, webhook, slack): all of them failing is NG, some of them 警告."""
    prometheus_metrics = list(metric_samples(f"{endpoints.prometheus}/metrics"))
    sent = _totals(prometheus_metrics, "prometheus_notifications_sent_total", "alertmanager")
    errors = _totals(prometheus_metrics, "prometheus_notifications_errors_total", "alertmanager")
    alertmanager_metrics = list(metric_samples(f"{endpoints.alertmanager}/metrics"))
    notified = _totals(alertmanager_metrics, "alertmanager_notifications_total", "integration")
    failed = _totals(alertmanager_metrics, "alertmanager_notifications_failed_total", "integration")
    # (what, failed, attempted): Prometheus's sends first (its sent_total counts the failed ones too), then each
    # integration that was used.
    counts = [("Prometheus → Alertmanager", sum(errors.values()), sum(sent.values()))]
    counts += [
        (integration, failed.get(integration, 0.0), total) for integration, total in sorted(notified.items()) if total
    ]
    failing = [(what, bad, total) for what, bad, total in counts if bad]
    summary = "、".join(
        f"{what} {int(total - bad)}/{int(total)} 件成功" if total else f"{what} 送信なし" for what, bad, total in counts
    )
    if not failing:
        return Result(Check.ALERT_DELIVERY, CheckStatus.OK, f"起動以来 {summary}")
    status = CheckStatus.ERROR if any(bad >= total for _what, bad, total in failing) else CheckStatus.WARNING
    return Result(Check.ALERT_DELIVERY, status, f"起動以来 {summary}（失敗あり）", DELIVERY_FIX)


def _totals(samples: list[Sample], name: str, label: str) -> dict[str, float]:
    """The samples of one counter summed by one label."""
    totals: dict[str, float] = defaultdict(float)
    for sample in samples:
        if sample.name == name:
            totals[sample.labels.get(label, "")] += sample.value
    return totals
