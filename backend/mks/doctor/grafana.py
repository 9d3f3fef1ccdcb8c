"""The Grafana checks: it answers, its Prometheus datasource is healthy, and the dashboards are provisioned."""

from __future__ import annotations

import base64

from .base import Check, CheckStatus, Endpoints, HttpError, Result, get_json

GRAFANA_FOLDER = "Mirai"
# The provisioned dashboards (backend/monitoring/grafana/dashboards), by uid: the guide's three, the error
# budgets and the dependencies. The monitoring page links them.
GRAFANA_DASHBOARDS = {
    "mks-app-overview": "アプリケーション概要",
    "mks-api-performance": "APIパフォーマンス",
    "mks-system-resources": "システムリソース",
    "mks-error-budget": "エラーバジェット",
    "mks-dependencies": "依存サービス",
}
GRAFANA_DATASOURCE_UID = "mks-prometheus"


def _grafana_headers(endpoints: Endpoints) -> dict[str, str]:
    credentials = f"{endpoints.grafana_user}:{endpoints.grafana_password or ''}".encode()
    return {"Authorization": "Basic " + base64.b64encode(credentials).decode()}


def check_grafana(endpoints: Endpoints) -> list[Result]:
    """Grafana answers, its Prometheus datasource is healthy, and the five dashboards are in folder Mirai."""
    assert endpoints.grafana is not None
    base, headers = endpoints.grafana, _grafana_headers(endpoints)
    try:
        health = get_json(f"{base}/api/health")
    except HttpError as exc:
        return [
            Result(
                Check.GRAFANA,
                CheckStatus.ERROR,
                f"{base} に接続できません（{exc}）",
                "./setup-monitoring.sh で起動してください。",
            )
        ]
    results = [
        Result(
            Check.GRAFANA,
            CheckStatus.OK,
            f"稼働中（版 {health.get('version', '?')}、DB {health.get('database', '?')}）",
        )
    ]
    try:
        datasource = get_json(f"{base}/api/datasources/uid/{GRAFANA_DATASOURCE_UID}/health", headers)
        ok = datasource.get("status") == "OK"
        results.append(
            Result(
                Check.GRAFANA_DATASOURCE,
                CheckStatus.OK if ok else CheckStatus.ERROR,
                datasource.get("message", ""),
                ""
                if ok
                else "データソースの URL（GRAFANA_PROMETHEUS_URL、既定 http://prometheus:9090）と"
                " Prometheus の稼働を確認してください。",
            )
        )
        dashboards = get_json(f"{base}/api/search?type=dash-db&tag=mks", headers)
    except HttpError as exc:
        fix = "GRAFANA_ADMIN_USER / GRAFANA_ADMIN_PASSWORD（backend/monitoring/.env）を確認してください。"
        return [*results, Result(Check.GRAFANA_API, CheckStatus.ERROR, f"呼び出しに失敗（{exc}）", fix)]
    in_folder = {d["uid"] for d in dashboards if d.get("folderTitle") == GRAFANA_FOLDER}
    missing = set(GRAFANA_DASHBOARDS) - in_folder
    results.append(
        Result(
            Check.GRAFANA_DASHBOARDS,
            CheckStatus.ERROR if missing else CheckStatus.OK,
            f"フォルダー「{GRAFANA_FOLDER}」に {len(in_folder & set(GRAFANA_DASHBOARDS))}/{len(GRAFANA_DASHBOARDS)} 件"
            + (f"（不足: {', '.join(sorted(missing))}）" if missing else ""),
            "docker logs mks-grafana | grep -i provision でプロビジョニングのエラーを確認してください。"
            if missing
            else "",
        )
    )
    return results
