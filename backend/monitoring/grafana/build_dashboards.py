#!/usr/bin/env python3
"""Generate the Grafana dashboards of MKS (dashboards/*.json) from the descriptions below.

    python build_dashboards.py           # rewrite dashboards/*.json
    python build_dashboards.py --check   # exit 1 and name every file that differs from the generated one

Standard library only. Edit this file, not the JSON: the JSON is provisioned into Grafana 11 as is.

Conventions every dashboard follows (tests/monitoring/test_dashboards.py checks them):
- every panel and every query names the datasource by uid (DATASOURCE_UID, the uid provisioned in
  provisioning/datasources/prometheus.yml);
- every selector filters on the template variables: job="$job", instance=~"$instance"; the only other
  variable is $__rate_interval;
- gauge and stat thresholds come from THRESHOLDS, which mirrors prometheus/alert-rules.yml.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # backend/monitoring: the SLOs of slo.py
import slo

Panel = dict[str, Any]

DATASOURCE_UID = "mks-prometheus"
DATASOURCE = {"type": "prometheus", "uid": DATASOURCE_UID}
DASHBOARD_DIR = Path(__file__).resolve().parent / "dashboards"
GRID_WIDTH = 24


class Threshold(NamedTuple):
    """Warning and critical levels of one alert pair."""

    warning: float
    critical: float


# The alert thresholds of prometheus/alert-rules.yml (warning alert, critical alert). Keep them equal.
THRESHOLDS: dict[str, Threshold] = {
    "cpu_percent": Threshold(80, 95),  # HighCPUUsage / CriticalCPUUsage
    "memory_percent": Threshold(85, 95),  # HighMemoryUsage / CriticalMemoryUsage
    "disk_percent": Threshold(90, 98),  # HighDiskUsage / CriticalDiskUsage
    "latency_p95_seconds": Threshold(2, 5),  # SlowAPIResponse / CriticalAPIResponse
    "error_ratio": Threshold(0.05, 0.15),  # HighErrorRate / CriticalErrorRate
}


# --- PromQL helpers ----------------------------------------------------------------------------------


def series(metric: str) -> str:
    """A selector of `metric` restricted to the chosen job and instances."""
    return f'{metric}{{job="$job", instance=~"$instance"}}'


def rate(metric: str) -> str:
    """Per-second rate of a counter (or histogram bucket) over Grafana's rate interval."""
    return f"rate({series(metric)}[$__rate_interval])"


def quantile_by(q: float, histogram: str, *labels: str) -> str:
    """histogram_quantile over raw buckets, keeping `le` (and `labels`) through the sum."""
    by = ", ".join(("le", *labels))
    return f"histogram_quantile({q}, sum by ({by}) ({rate(histogram + '_bucket')}))"


# --- Panel helpers -----------------------------------------------------------------------------------


def target(expr: str, legend: str = "", *, instant: bool = False, table: bool = False) -> dict[str, Any]:
    """One Prometheus query (refId is assigned by the panel)."""
    return {
        "datasource": DATASOURCE,
        "editorMode": "code",
        "expr": expr,
        "format": "table" if table else "time_series",
        "instant": instant,
        "legendFormat": legend or "__auto",
        "range": not instant,
        "refId": "",
    }


def steps(threshold: Threshold | None, base: str = "green") -> dict[str, Any]:
    """Absolute threshold steps: base colour, yellow from warning, red from critical."""
    values: list[dict[str, Any]] = [{"color": base, "value": None}]
    if threshold is not None:
        values += [{"color": "yellow", "value": threshold.warning}, {"color": "red", "value": threshold.critical}]
    return {"mode": "absolute", "steps": values}


def _panel(
    kind: str,
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    *,
    width: int,
    height: int,
    defaults: dict[str, Any],
    options: dict[str, Any],
) -> Panel:
    """Fields common to every panel; `layout` fills in id and gridPos."""
    for index, query in enumerate(targets):
        query["refId"] = chr(ord("A") + index)
    return {
        "datasource": DATASOURCE,
        "description": description,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "gridPos": {"h": height, "w": width, "x": 0, "y": 0},
        "id": 0,
        "options": options,
        "targets": targets,
        "title": title,
        "type": kind,
    }


def _reduce(calc: str = "lastNotNull") -> dict[str, Any]:
    return {"calcs": [calc], "fields": "", "values": False}


def stat(
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    *,
    unit: str,
    threshold: Threshold | None = None,
    decimals: int | None = None,
    mappings: list[dict[str, Any]] | None = None,
    width: int = 4,
    height: int = 5,
) -> Panel:
    """A single value (last value), coloured by the thresholds."""
    defaults: dict[str, Any] = {
        "color": {"mode": "thresholds"},
        "mappings": mappings or [],
        "thresholds": steps(threshold, base="green" if threshold or mappings else "blue"),
        "unit": unit,
    }
    if decimals is not None:
        defaults["decimals"] = decimals
    options = {
        "colorMode": "background" if threshold or mappings else "value",
        "graphMode": "area",
        "justifyMode": "auto",
        "orientation": "auto",
        "reduceOptions": _reduce(),
        "showPercentChange": False,
        "textMode": "auto",
        "wideLayout": True,
    }
    return _panel("stat", title, description, targets, width=width, height=height, defaults=defaults, options=options)


def gauge(
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    *,
    threshold: Threshold,
    width: int = 8,
    height: int = 7,
) -> Panel:
    """A 0-100 % gauge: green, yellow from the warning alert, red from the critical alert."""
    defaults = {
        "color": {"mode": "thresholds"},
        "decimals": 1,
        "mappings": [],
        "max": 100,
        "min": 0,
        "thresholds": steps(threshold),
        "unit": "percent",
    }
    options = {
        "minVizHeight": 75,
        "minVizWidth": 75,
        "orientation": "auto",
        "reduceOptions": _reduce(),
        "showThresholdLabels": False,
        "showThresholdMarkers": True,
        "sizing": "auto",
    }
    return _panel("gauge", title, description, targets, width=width, height=height, defaults=defaults, options=options)


def timeseries(
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    *,
    unit: str,
    threshold: Threshold | None = None,
    max_value: float | None = None,
    stack: bool = False,
    width: int = 12,
    height: int = 8,
) -> Panel:
    """A graph over time; with `threshold`, the warning and critical levels are drawn as dashed lines."""
    defaults: dict[str, Any] = {
        "color": {"mode": "palette-classic"},
        "custom": {
            "axisBorderShow": False,
            "axisPlacement": "auto",
            "drawStyle": "line",
            "fillOpacity": 10,
            "gradientMode": "none",
            "lineInterpolation": "linear",
            "lineWidth": 1,
            "pointSize": 4,
            "showPoints": "never",
            "spanNulls": False,
            "stacking": {"group": "A", "mode": "normal" if stack else "none"},
            "thresholdsStyle": {"mode": "dashed" if threshold else "off"},
        },
        "mappings": [],
        "min": 0,
        "thresholds": steps(threshold),
        "unit": unit,
    }
    if max_value is not None:
        defaults["max"] = max_value
    options = {
        "legend": {"calcs": ["mean", "max"], "displayMode": "table", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return _panel(
        "timeseries", title, description, targets, width=width, height=height, defaults=defaults, options=options
    )


def piechart(
    title: str, description: str, targets: list[dict[str, Any]], *, unit: str, width: int = 8, height: int = 8
) -> Panel:
    """Shares of the series, each reduced to its mean over the time range."""
    defaults = {"color": {"mode": "palette-classic"}, "mappings": [], "unit": unit}
    options = {
        "displayLabels": ["percent"],
        "legend": {"displayMode": "table", "placement": "right", "showLegend": True, "values": ["percent"]},
        "pieType": "donut",
        "reduceOptions": _reduce("mean"),
        "tooltip": {"mode": "single", "sort": "none"},
    }
    return _panel(
        "piechart", title, description, targets, width=width, height=height, defaults=defaults, options=options
    )


def bargauge(
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    *,
    unit: str,
    threshold: Threshold | None = None,
    width: int = 8,
    height: int = 8,
) -> Panel:
    """Horizontal bars, one per series (last value)."""
    defaults = {"color": {"mode": "thresholds"}, "mappings": [], "min": 0, "thresholds": steps(threshold), "unit": unit}
    options = {
        "displayMode": "gradient",
        "maxVizHeight": 300,
        "minVizHeight": 16,
        "minVizWidth": 8,
        "namePlacement": "auto",
        "orientation": "horizontal",
        "reduceOptions": _reduce(),
        "showUnfilled": True,
        "sizing": "auto",
        "valueMode": "color",
    }
    return _panel(
        "bargauge", title, description, targets, width=width, height=height, defaults=defaults, options=options
    )


def table(
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    *,
    columns: dict[str, str],
    width: int = 12,
    height: int = 5,
) -> Panel:
    """Labels of instant query results as a table: `columns` maps label → header, all else is hidden."""
    defaults = {"color": {"mode": "thresholds"}, "custom": {"align": "auto"}, "mappings": [], "thresholds": steps(None)}
    options = {"cellHeight": "sm", "footer": {"show": False}, "showHeader": True}
    panel = _panel("table", title, description, targets, width=width, height=height, defaults=defaults, options=options)
    panel["transformations"] = [
        {
            "id": "organize",
            "options": {
                "excludeByName": {"Time": True, "Value": True, "__name__": True, "job": True},
                "indexByName": {label: index for index, label in enumerate(columns)},
                "renameByName": columns,
            },
        },
    ]
    return panel


def layout(rows: list[list[Panel]]) -> list[Panel]:
    """Place rows of panels top to bottom, left to right, and number the panels 1, 2, 3, …"""
    placed: list[Panel] = []
    y = 0
    for row in rows:
        x = 0
        for panel in row:
            grid = panel["gridPos"]
            if x + grid["w"] > GRID_WIDTH:
                raise ValueError(f"row too wide at panel {panel['title']!r}")
            grid.update(x=x, y=y)
            x += grid["w"]
            panel["id"] = len(placed) + 1
            placed.append(panel)
        y += max(panel["gridPos"]["h"] for panel in row)
    return placed


# --- Dashboard frame ---------------------------------------------------------------------------------


def template_variables(*, per_instance: bool = True) -> dict[str, Any]:
    """$job (one job, default mks-backend) and, for series kept per instance, $instance (several or All = .*)."""

    def query_variable(name: str, label: str, query: str, **extra: Any) -> dict[str, Any]:
        return {
            "datasource": DATASOURCE,
            "definition": query,
            "hide": 0,
            "label": label,
            "name": name,
            "options": [],
            "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
            "refresh": 2,  # on time range change: new instances appear without a reload
            "regex": "",
            "skipUrlSync": False,
            "sort": 1,
            "type": "query",
            **extra,
        }

    job = query_variable(
        "job",
        "ジョブ",
        "label_values(up, job)",
        current={"selected": True, "text": "mks-backend", "value": "mks-backend"},
        includeAll=False,
        multi=False,
    )
    instance = query_variable(
        "instance",
        "インスタンス",
        'label_values(up{job="$job"}, instance)',
        allValue=".*",
        current={"selected": True, "text": ["All"], "value": ["$__all"]},
        includeAll=True,
        multi=True,
    )
    return {"list": [job, instance] if per_instance else [job]}


def dashboard(
    uid: str, title: str, description: str, rows: list[list[Panel]], *, per_instance: bool = True
) -> dict[str, Any]:
    """A complete dashboard: shared settings, template variables, links to the other MKS dashboards."""
    return {
        "annotations": {"list": []},
        "description": description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [
            {
                "asDropdown": False,
                "icon": "external link",
                "includeVars": True,
                "keepTime": True,
                "tags": ["mks"],
                "targetBlank": False,
                "title": "MKS ダッシュボード",
                "type": "dashboards",
            }
        ],
        "panels": layout(rows),
        "refresh": "30s",
        "schemaVersion": 39,
        "tags": ["mks"],
        "templating": template_variables(per_instance=per_instance),
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "timezone": "Asia/Tokyo",
        "title": title,
        "uid": uid,
        "version": 1,
        "weekStart": "",
    }


# --- The three dashboards ----------------------------------------------------------------------------

LATENCY = THRESHOLDS["latency_p95_seconds"]
ERRORS = THRESHOLDS["error_ratio"]
UP_MAPPINGS = [
    {
        "options": {
            "0": {"color": "red", "index": 0, "text": "停止"},
            "1": {"color": "green", "index": 1, "text": "稼働中"},
        },
        "type": "value",
    }
]


def app_overview() -> dict[str, Any]:
    """アプリケーション概要: the numbers to look at first."""
    return dashboard(
        "mks-app-overview",
        "アプリケーション概要",
        "MKS バックエンドの全体状況（ナレッジ数・利用者・リクエスト・エラー・応答時間）",
        [
            [
                stat(
                    "総ナレッジ数",
                    "データベースのナレッジ件数（archived を含む全ステータス）",
                    [target(f"max({series('mks_knowledge_total')})", "ナレッジ数")],
                    unit="short",
                    width=3,
                ),
                stat(
                    "アクティブユーザー数",
                    "直近 15 分（MKS_ACTIVE_USER_WINDOW）に認証済みの操作をしたユーザー数",
                    [target(f"max({series('mks_active_users')})", "アクティブユーザー")],
                    unit="short",
                    width=3,
                ),
                stat(
                    "リクエスト数",
                    "全インスタンス合計の毎秒リクエスト数（直近 5 分平均）",
                    [target(f"sum({series('instance:mks_http_requests:rate5m')})", "リクエスト/秒")],
                    unit="reqps",
                    decimals=2,
                    width=3,
                ),
                stat(
                    "エラー率",
                    "5xx 応答の割合（直近 5 分、最も高いインスタンス）。黄 5%・赤 15% はアラート "
                    "HighErrorRate / CriticalErrorRate と同じ",
                    [target(f"max({series('instance:mks_http_errors:ratio_rate5m')})", "エラー率")],
                    unit="percentunit",
                    threshold=ERRORS,
                    decimals=2,
                ),
                stat(
                    "平均レスポンスタイム",
                    "全リクエストの応答時間の平均（直近の rate 区間、選んだインスタンス全体）。"
                    "少数の遅い要求は平均に埋もれるため、アラートは右の p95 で判定",
                    [
                        target(
                            f"sum({rate('mks_http_request_duration_seconds_sum')})"
                            f" / sum({rate('mks_http_request_duration_seconds_count')})",
                            "平均",
                        )
                    ],
                    unit="s",
                    decimals=3,
                ),
                stat(
                    "p95 レスポンスタイム",
                    "応答時間の 95 パーセンタイル（直近 5 分、最も遅いインスタンス）。黄 2 秒・赤 5 秒はアラート "
                    "SlowAPIResponse / CriticalAPIResponse と同じ",
                    [target(f"max({series('instance:mks_http_request_duration_seconds:p95_5m')})", "p95")],
                    unit="s",
                    threshold=LATENCY,
                    decimals=3,
                ),
                stat(
                    "稼働状態",
                    "Prometheus が /metrics を取得できているか（インスタンスごと）",
                    [target(series("up"), "{{instance}}")],
                    unit="short",
                    mappings=UP_MAPPINGS,
                    width=3,
                ),
            ],
            [
                timeseries(
                    "リクエスト数（ステータス別）",
                    "HTTP ステータスコード別の毎秒リクエスト数（全インスタンス合計）",
                    [target(f"sum by (status) ({rate('mks_http_requests_total')})", "{{status}}")],
                    unit="reqps",
                ),
                timeseries(
                    "レスポンスタイム（パーセンタイル）",
                    "応答時間の p50 / p95 / p99（直近 5 分、インスタンスごと）。破線は 2 秒・5 秒のアラート閾値",
                    [
                        target(series("instance:mks_http_request_duration_seconds:p50_5m"), "p50 {{instance}}"),
                        target(series("instance:mks_http_request_duration_seconds:p95_5m"), "p95 {{instance}}"),
                        target(series("instance:mks_http_request_duration_seconds:p99_5m"), "p99 {{instance}}"),
                    ],
                    unit="s",
                    threshold=LATENCY,
                ),
            ],
            [
                timeseries(
                    "認証試行数",
                    "ログインの結果別（success / failure / rate_limited）の毎秒件数",
                    [target(f"sum by (status) ({rate('mks_auth_attempts_total')})", "{{status}}")],
                    unit="reqps",
                ),
                timeseries(
                    "エラー発生数（タイプ別）",
                    "エラー応答の種類別の毎秒件数（validation, auth, not_found, rate_limited, db_error など）",
                    [target(f"sum by (type) ({rate('mks_errors_total')})", "{{type}}")],
                    unit="reqps",
                    stack=True,
                ),
            ],
        ],
    )


def api_performance() -> dict[str, Any]:
    """APIパフォーマンス: traffic and latency per endpoint, method, status; database; rate limiting."""
    p95_by_endpoint = f"max by (endpoint) ({series('endpoint:mks_http_request_duration_seconds:p95_5m')})"
    return dashboard(
        "mks-api-performance",
        "APIパフォーマンス",
        "エンドポイント・メソッド・ステータス別のトラフィックと応答時間、データベース、レート制限",
        [
            [
                timeseries(
                    "エンドポイント別リクエスト数",
                    "ルート（テンプレート）ごとの毎秒リクエスト数（直近 5 分平均、全インスタンス合計）",
                    [target(f"sum by (endpoint) ({series('endpoint:mks_http_requests:rate5m')})", "{{endpoint}}")],
                    unit="reqps",
                    height=9,
                ),
                timeseries(
                    "エンドポイント別レスポンスタイム（p95）",
                    "ルートごとの応答時間 p95（直近 5 分、最も遅いインスタンス）。破線は 2 秒・5 秒のアラート閾値",
                    [target(p95_by_endpoint, "{{endpoint}}")],
                    unit="s",
                    threshold=LATENCY,
                    height=9,
                ),
            ],
            [
                timeseries(
                    "HTTPメソッド別リクエスト数",
                    "HTTP メソッド別の毎秒リクエスト数（全インスタンス合計）",
                    [target(f"sum by (method) ({rate('mks_http_requests_total')})", "{{method}}")],
                    unit="reqps",
                    width=8,
                ),
                piechart(
                    "HTTPステータスコード分布",
                    "表示期間中の応答のステータスコード別の割合",
                    [target(f"sum by (status) ({rate('mks_http_requests_total')})", "{{status}}")],
                    unit="reqps",
                ),
                bargauge(
                    "遅いエンドポイント（p95 上位 10）",
                    "応答時間 p95 が長いルート上位 10 件（直近 5 分）。黄 2 秒・赤 5 秒",
                    [target(f"topk(10, {p95_by_endpoint})", "{{endpoint}}", instant=True)],
                    unit="s",
                    threshold=LATENCY,
                ),
            ],
            [
                timeseries(
                    "データベースクエリ時間",
                    "SQL 文の実行時間 p95: 全体（直近 5 分、インスタンスごと）と操作別（select / insert / update / "
                    "delete / other）。アラート MKSSlowDatabaseQueries は全体 p95 が 1 秒超",
                    [
                        target(series("instance:mks_database_query_duration_seconds:p95_5m"), "全体 p95 {{instance}}"),
                        target(
                            quantile_by(0.95, "mks_database_query_duration_seconds", "operation"), "{{operation}} p95"
                        ),
                    ],
                    unit="s",
                ),
                timeseries(
                    "DB 接続数",
                    "プールから貸し出し中のデータベース接続数（インスタンスごと、全ワーカー合計）",
                    [target(series("mks_database_connections"), "{{instance}}")],
                    unit="short",
                    width=6,
                ),
                timeseries(
                    "DB エラー数",
                    "データベース障害による 503 応答の毎秒件数（直近 5 分）。0 を超えて 2 分続くと MKSDatabaseErrors",
                    [target(series("instance:mks_db_errors:rate5m"), "{{instance}}")],
                    unit="reqps",
                    width=6,
                ),
            ],
            [
                timeseries(
                    "レート制限ヒット数",
                    "レート制限で拒否（429）した毎秒件数: エンドポイント別と合計（直近 5 分、インスタンスごと）",
                    [
                        target(f"sum by (endpoint) ({rate('mks_rate_limit_hits_total')})", "{{endpoint}}"),
                        target(series("instance:mks_rate_limit_hits:rate5m"), "合計（5分平均） {{instance}}"),
                    ],
                    unit="reqps",
                ),
                timeseries(
                    "ログイン失敗数",
                    "誤った認証情報によるログイン失敗の毎秒件数（直近 5 分）。毎秒 0.5 件超で MKSLoginFailureSpike",
                    [target(series("instance:mks_auth_failures:rate5m"), "{{instance}}")],
                    unit="reqps",
                ),
            ],
        ],
    )


def system_resources() -> dict[str, Any]:
    """システムリソース: host CPU, memory and disk against the alert levels, and application gauges."""
    resources = [
        ("CPU", "mks_system_cpu_usage_percent", THRESHOLDS["cpu_percent"], "ホストの CPU 使用率"),
        ("メモリ", "mks_system_memory_usage_percent", THRESHOLDS["memory_percent"], "ホストのメモリ使用率"),
        (
            "ディスク",
            "mks_system_disk_usage_percent",
            THRESHOLDS["disk_percent"],
            "データディレクトリのあるファイルシステムの使用率",
        ),
    ]
    gauges = [
        gauge(
            f"{name}使用率",
            f"{meaning}（インスタンスごとの最新値）。黄 {level.warning}%・赤 {level.critical}% はアラートと同じ",
            [target(series(metric), "{{instance}}")],
            threshold=level,
        )
        for name, metric, level, meaning in resources
    ]
    graphs = [
        timeseries(
            f"{name}使用率の推移",
            f"{meaning}の推移。破線は {level.warning}%（warning）・{level.critical}%（critical）のアラート閾値",
            [target(series(metric), "{{instance}}")],
            unit="percent",
            threshold=level,
            max_value=100,
            width=8,
        )
        for name, metric, level, meaning in resources
    ]
    return dashboard(
        "mks-system-resources",
        "システムリソース",
        "ホストの CPU・メモリ・ディスク使用率（アラート閾値つき）とアプリケーションの主要な値",
        [
            gauges,
            graphs,
            [
                timeseries(
                    "アプリケーションメトリクス",
                    "ナレッジ総数・アクティブユーザー数（データベースの値）と、処理中のリクエスト数・DB 接続数"
                    "（全インスタンス合計）",
                    [
                        target(f"max({series('mks_knowledge_total')})", "ナレッジ総数"),
                        target(f"max({series('mks_active_users')})", "アクティブユーザー数"),
                        target(f"sum({series('mks_http_requests_in_progress')})", "処理中のリクエスト数"),
                        target(f"sum({series('mks_database_connections')})", "DB 接続数"),
                    ],
                    unit="short",
                    width=24,
                ),
            ],
            [
                stat(
                    "メモリ総量",
                    "ホストのメモリ総量",
                    [target(series("mks_system_memory_total_bytes"), "{{instance}}")],
                    unit="bytes",
                    width=6,
                ),
                stat(
                    "ディスク容量",
                    "データディレクトリのあるファイルシステムの容量",
                    [target(series("mks_system_disk_total_bytes"), "{{instance}}")],
                    unit="bytes",
                    width=6,
                ),
                table(
                    "ビルド情報",
                    "稼働中のバージョンと実行環境（インスタンスごと）",
                    [target(series("mks_build_info"), "", instant=True, table=True)],
                    columns={
                        "instance": "インスタンス",
                        "version": "バージョン",
                        "python": "Python",
                        "database": "データベース",
                    },
                ),
            ],
        ],
    )


def slo_series(metric: str, slo: str | None = None) -> str:
    """A selector of an SLO series: per job (the service, all instances), of one SLO or of all."""
    matchers = 'job="$job"' + (f', slo="{slo}"' if slo else "")
    return f"{metric}{{{matchers}}}"


# Budget left: red when spent, yellow below a quarter.
BUDGET_STEPS = {
    "mode": "absolute",
    "steps": [{"color": "red", "value": None}, {"color": "yellow", "value": 0}, {"color": "green", "value": 0.25}],
}


def error_budget() -> dict[str, Any]:
    """エラーバジェット: the SLOs of slo.py, how much of their budget is left, and how fast it burns."""
    budget_left, time_left = [], []
    for objective in slo.OBJECTIVES:
        remaining = slo_series("slo:mks_error_budget:remaining_ratio", objective.slo)
        burn = slo_series("slo:mks_error_budget:burn_rate1h", objective.slo)
        window = objective.window_seconds
        left = stat(
            f"残りのエラーバジェット（{objective.title}）",
            f"{objective.sli}の目標 {objective.objective:.1%}（{objective.window}）で許される目標外の応答のうち、"
            "まだ使っていない割合。0 未満は目標割れ。",
            [target(remaining, objective.slo)],
            unit="percentunit",
            decimals=1,
            width=6,
        )
        left["fieldConfig"]["defaults"]["thresholds"] = BUDGET_STEPS
        left["options"]["colorMode"] = "background"
        budget_left.append(left)
        time_left.append(
            stat(
                f"使い切るまで（{objective.title}）",
                "直近 1 時間の消費速度が続いたとき、残りのバジェットを使い切るまでの時間"
                f"（上限は窓の {objective.window}）。",
                # Not burning divides by 0: +Inf, shown as the whole window.
                [target(f"clamp_min(clamp_max({remaining} * {window} / {burn}, {window}), 0)", objective.slo)],
                unit="s",
                width=6,
            )
        )
    page, ticket = slo.BURN_ALERTS[0], slo.BURN_ALERTS[2]
    return dashboard(
        "mks-error-budget",
        "エラーバジェット",
        "SLO（backend/monitoring/slo.py）ごとのエラーバジェットの残り、消費速度、使い切るまでの時間。"
        f"消費速度の破線はチケット（{ticket.factor:g} 倍）とページ（{page.factor:g} 倍）の閾値。",
        [
            budget_left + time_left,
            [
                timeseries(
                    "消費速度（直近 1 時間）",
                    "エラーバジェットを消費する速さ（1 = 窓の終わりにちょうど使い切る）。"
                    f"アラート MKSErrorBudgetBurn は 1 時間と 5 分の両方が {page.factor:g} 倍を超えるとページ。",
                    [target(slo_series("slo:mks_error_budget:burn_rate1h"), "{{slo}}")],
                    unit="short",
                    threshold=Threshold(ticket.factor, page.factor),
                ),
                timeseries(
                    "目標外の割合",
                    "5xx（可用性）または 1 秒超（応答時間）の応答の割合。窓ごと。",
                    [
                        target(slo_series("slo:mks_sli_errors:ratio_rate5m"), "{{slo}} 5 分"),
                        target(slo_series("slo:mks_sli_errors:ratio_rate1h"), "{{slo}} 1 時間"),
                        target(slo_series("slo:mks_sli_errors:ratio_rate6h"), "{{slo}} 6 時間"),
                    ],
                    unit="percentunit",
                ),
            ],
            [
                timeseries(
                    "エラーバジェットの残り（推移）",
                    "SLO ごとのバジェットの残り。下がり続けるなら、アラートにならない小さな劣化が続いている。",
                    [target(slo_series("slo:mks_error_budget:remaining_ratio"), "{{slo}}")],
                    unit="percentunit",
                    width=24,
                ),
            ],
        ],
        per_instance=False,
    )


DASHBOARDS = {
    "app-overview.json": app_overview,
    "api-performance.json": api_performance,
    "system-resources.json": system_resources,
    "error-budget.json": error_budget,
}


def render(dashboard_json: dict[str, Any]) -> str:
    """The file content: sorted keys, two-space indent, Japanese kept readable, trailing newline."""
    return json.dumps(dashboard_json, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the dashboards, or with --check report the ones that differ from the generated content."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 if a file is out of date")
    args = parser.parse_args(argv)
    stale = []
    for name, build in DASHBOARDS.items():
        path = DASHBOARD_DIR / name
        content = render(build())
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == content:
            continue
        if args.check:
            stale.append(name)
            print(f"out of date: {path} (run python {Path(__file__).name})", file=sys.stderr)
        else:
            DASHBOARD_DIR.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
            print(f"wrote {path}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
