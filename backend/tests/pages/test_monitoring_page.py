"""The small charts of the monitoring page, read from a real Prometheus (the prometheus package's binary).

The Prometheus has no scrape target: recording rules write constant series under the names the charts query,
so the latest value each chart states is known exactly and there within one evaluation interval.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mks.pages.admin import TREND_CHARTS
from mks.services import trends
from tests.monitoring.stack import bare_prometheus, require_prometheus
from tests.servers import free_port

from .test_pages import sign_in

ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

BACKEND = Path(__file__).resolve().parents[2]
CHART = re.compile(r'<svg viewBox="0 0 160 40" width="160" height="40" role="img" aria-label="([^"]+)">(.*?)</svg>')

# (recorded name, job, instance, value): two instances of the MKS job, to be summed (requests) or maxed (the
# rest), and another job that must not count.
SERIES = [
    ("instance:mks_http_requests:rate5m", "mks-backend", "app-1:5100", 5),
    ("instance:mks_http_requests:rate5m", "mks-backend", "app-2:5100", 7.5),
    ("instance:mks_http_requests:rate5m", "other", "other:9100", 1000),
    ("instance:mks_http_errors:ratio_rate5m", "mks-backend", "app-1:5100", 0.01),
    ("instance:mks_http_errors:ratio_rate5m", "mks-backend", "app-2:5100", 0.0125),
    ("instance:mks_http_request_duration_seconds:p95_5m", "mks-backend", "app-1:5100", 0.25),
    ("instance:mks_http_request_duration_seconds:p95_5m", "mks-backend", "app-2:5100", 0.125),
    ("mks_active_users", "mks-backend", "app-1:5100", 3),
    ("mks_active_users", "mks-backend", "app-2:5100", 3),
]
LABELS = [
    "過去1時間のリクエスト数（毎秒）。最新 12.50",
    "過去1時間のエラー率（5xx）。最新 1.25%",
    "過去1時間の応答時間 p95。最新 250 ms",
    "過去1時間のアクティブユーザー。最新 3人",
]


def recording_rules() -> str:
    rules = "".join(
        f"      - record: {name}\n        expr: vector({value})\n"
        f'        labels: {{job: "{job}", instance: "{instance}"}}\n'
        for name, job, instance, value in SERIES
    )
    return f"groups:\n  - name: chart-test\n    rules:\n{rules}"


def charts(page: str) -> list[tuple[str, str]]:
    return CHART.findall(page)


def test_the_charts_query_what_the_overview_dashboard_shows() -> None:
    dashboard = json.loads((BACKEND / "monitoring/grafana/dashboards/app-overview.json").read_text())
    shown = {target["expr"] for panel in dashboard["panels"] for target in panel["targets"]}
    for expr in trends.QUERIES.values():
        assert expr.replace('{job="mks-backend"}', '{job="$job", instance=~"$instance"}') in shown
    assert list(TREND_CHARTS) == list(trends.QUERIES)


@ON_SQLITE
def test_the_monitoring_page_charts_the_last_hour_from_prometheus(
    app: Flask, client: FlaskClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_prometheus()
    rules = tmp_path / "rules.yml"
    rules.write_text(recording_rules())
    config = f"global:\n  scrape_interval: 1h\n  evaluation_interval: 1s\nrule_files:\n  - {rules}\n"
    sign_in(client, "admin")
    settings = app.extensions["mks_settings"]
    with bare_prometheus(tmp_path / "prometheus", config_text=config) as prometheus:
        settings.prometheus_url = prometheus
        deadline = time.monotonic() + 20  # the rules are evaluated every second
        while True:
            response = client.get("/admin/monitoring")
            page = response.get_data(as_text=True)
            if "データなし" not in page or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        assert response.status_code == 200
        found = charts(page)
        assert [label for label, _ in found] == LABELS
        # Data only since Prometheus started: a line or a dot ending at the right edge, at the top (flat series).
        assert all(re.fullmatch(r'<path d="M[^"]*158,2( h0)?" fill="none" [^>]*/>', path) for _, path in found)

        # An expression Prometheus refuses (HTTP 400) is told like an unreachable Prometheus.
        monkeypatch.setitem(trends.QUERIES, "active_users", "max(")
        refused = client.get("/admin/monitoring")
    assert refused.status_code == 200
    text = refused.get_data(as_text=True)
    assert f"グラフのデータを読み込めませんでした。Prometheus（{prometheus}）に接続できません: HTTP 400" in text
    assert charts(text) == []


@ON_SQLITE
def test_an_unreachable_prometheus_leaves_the_page_with_a_japanese_note(app: Flask, client: FlaskClient) -> None:
    sign_in(client, "admin")
    settings = app.extensions["mks_settings"]
    page = client.get("/admin/monitoring").get_data(as_text=True)
    assert "MKS_PROMETHEUS_URL を設定すると、リクエスト数・エラー率・応答時間・アクティブユーザーの過去1時間" in page
    assert charts(page) == []
    settings.prometheus_url = f"http://127.0.0.1:{free_port()}"  # closed: nothing listens there
    response = client.get("/admin/monitoring")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f"グラフのデータを読み込めませんでした。Prometheus（{settings.prometheus_url}）に接続できません" in page
    assert charts(page) == []
