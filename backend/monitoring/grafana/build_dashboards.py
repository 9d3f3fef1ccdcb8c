#!/usr/bin/env python3
"""Generate the Grafana dashboards of MKS (dashboards/*.json) with grafana-foundation-sdk's typed builders.

    python build_dashboards.py           # rewrite dashboards/*.json
    python build_dashboards.py --check   # exit 1 and name every file that differs from the generated one

Needs grafana-foundation-sdk (pinned in requirements-dev.txt; its builders are Grafana 11.6's). Edit this
file, not the JSON: the JSON is provisioned into Grafana as is.

Conventions every dashboard follows (tests/monitoring/test_dashboards.py checks them):
- every panel and every query names the datasource by uid (DATASOURCE_UID, the uid provisioned in
  provisioning/datasources/prometheus.yml); the alert lists, which run no query, name it in their options;
- every selector filters on the template variables: job="$job", instance=~"$instance"; the only other
  variable is $__rate_interval. The dependencies' dashboard has no variables: each selector names its
  exporter's scrape job (prometheus.yml);
- a panel of a metric an alert watches shows the alert's levels from thresholds.py (colours, or threshold
  lines on graphs) and links the alert's section of the runbook; every dashboard links the runbook.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NamedTuple, TypeVar

from grafana_foundation_sdk.builders import (
    bargauge,
    common,
    dashboard,
    gauge,
    piechart,
    prometheus,
    stat,
    table,
    timeseries,
)
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_model
from grafana_foundation_sdk.models import dashboard as dashboard_model
from grafana_foundation_sdk.models import piechart as piechart_model
from grafana_foundation_sdk.models import prometheus as prometheus_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # backend/monitoring: rules.py, slo.py, thresholds.py
import rules
import slo
import thresholds

DATASOURCE_UID = "mks-prometheus"
DATASOURCE_NAME = "Prometheus"  # the alert lists select the rules of a datasource by its name, not its uid
DATASOURCE = dashboard_model.DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)
DASHBOARD_DIR = Path(__file__).resolve().parent / "dashboards"
GRID_WIDTH = 24

Query = prometheus.Dataquery
Panel = TypeVar("Panel", stat.Panel, gauge.Panel, timeseries.Panel, piechart.Panel, bargauge.Panel, table.Panel)
AnyPanel = stat.Panel | gauge.Panel | timeseries.Panel | piechart.Panel | bargauge.Panel | table.Panel | dashboard.Panel


class Alert(NamedTuple):
    """The alerts a panel mirrors: their levels colour it (or draw its lines), the first names its runbook link."""

    level: thresholds.Threshold | None
    names: tuple[str, ...]

    def prose(self) -> str:
        """The levels as a description states them, e.g. 黄 2 秒・赤 5 秒を超えるとアラート SlowAPIResponse / …"""
        assert self.level is not None
        levels = [f"{name} {_amount(value, self.level.unit)}" for _, name, value in coloured_levels(self.level)]
        return f"{'・'.join(levels)}を超えるとアラート {' / '.join(self.names)}"


def coloured_levels(level: thresholds.Threshold) -> list[tuple[str, str, float]]:
    """(Grafana colour, its Japanese name, level) of the warning and the critical level that exist."""
    pairs = (("yellow", "黄", level.warning), ("red", "赤", level.critical))
    return [(colour, name, value) for colour, name, value in pairs if value is not None]


def _amount(value: float, unit: str) -> str:
    if unit == "":  # a ratio, read as a percentage
        return f"{value:.0%}"
    return f"{value:g}{unit}" if unit == "%" else f"{value:g} {unit}"


def watching(key: str, *names: str) -> Alert:
    """The alerts (warning first) on the level THRESHOLDS[key]."""
    return Alert(thresholds.THRESHOLDS[key], names)


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


def target(expr: str, legend: str = "", *, instant: bool = False, table_format: bool = False) -> Query:
    """One Prometheus query (refId is assigned by the panel)."""
    query = (
        prometheus.Dataquery()
        .datasource(DATASOURCE)
        .editor_mode(prometheus_model.QueryEditorMode.CODE)
        .expr(expr)
        .format(
            prometheus_model.PromQueryFormat.TABLE if table_format else prometheus_model.PromQueryFormat.TIME_SERIES
        )
        .legend_format(legend or "__auto")
    )
    return query.instant() if instant else query.range()


def steps(level: thresholds.Threshold | None, base: str = "green") -> dashboard.ThresholdsConfig:
    """Absolute threshold steps: base colour, yellow from the warning level, red from the critical one."""
    values = [dashboard_model.Threshold(value=None, color=base)]
    if level is not None:
        values += [dashboard_model.Threshold(value=value, color=colour) for colour, _, value in coloured_levels(level)]
    return dashboard.ThresholdsConfig().mode(dashboard_model.ThresholdsMode.ABSOLUTE).steps(values)


def runbook_link(alert: str) -> dashboard.DashboardLink:
    """A link to the runbook section of `alert`, opened beside the dashboard."""
    return (
        dashboard.DashboardLink(f"手順書: {alert}")
        .type(dashboard_model.DashboardLinkType.LINK)
        .url(thresholds.runbook_url(alert))
        .target_blank(True)
    )


def _panel(
    panel: Panel, title: str, description: str, queries: list[Query], *, width: int, height: int, alert: Alert | None
) -> Panel:
    """Fields common to every panel; `layout` fills in id and position."""
    for index, query in enumerate(queries):
        query.ref_id(chr(ord("A") + index))
    panel = panel.title(title).description(description).datasource(DATASOURCE).targets(queries)
    panel = panel.span(width).height(height).mappings([])
    return panel.links([runbook_link(alert.names[0])]) if alert else panel


def _reduce(calc: str = "lastNotNull") -> common.ReduceDataOptions:
    return common.ReduceDataOptions().calcs([calc]).fields("").values(False)


def _color_mode(mode: dashboard_model.FieldColorModeId) -> dashboard.FieldColor:
    return dashboard.FieldColor().mode(mode)


def stat_panel(
    title: str,
    description: str,
    queries: list[Query],
    *,
    unit: str,
    alert: Alert | None = None,
    colours: dashboard.ThresholdsConfig | None = None,
    decimals: int | None = None,
    mappings: list[dashboard_model.ValueMapping] | None = None,
    width: int = 4,
    height: int = 5,
) -> stat.Panel:
    """A single value (last value), coloured by the alert's levels, by `colours` or by the value mappings."""
    level = alert.level if alert else None
    coloured = bool(level or colours or mappings)
    panel = _panel(stat.Panel(), title, description, queries, width=width, height=height, alert=alert)
    panel = (
        panel.color_scheme(_color_mode(dashboard_model.FieldColorModeId.THRESHOLDS))
        .mappings(mappings or [])
        .thresholds(colours or steps(level, base="green" if coloured else "blue"))
        .unit(unit)
        .color_mode(common_model.BigValueColorMode.BACKGROUND if coloured else common_model.BigValueColorMode.VALUE)
        .graph_mode(common_model.BigValueGraphMode.AREA)
        .justify_mode(common_model.BigValueJustifyMode.AUTO)
        .orientation(common_model.VizOrientation.AUTO)
        .reduce_options(_reduce())
        .show_percent_change(False)
        .text_mode(common_model.BigValueTextMode.AUTO)
        .wide_layout(True)
    )
    return panel if decimals is None else panel.decimals(decimals)


def gauge_panel(
    title: str, description: str, queries: list[Query], *, alert: Alert, width: int = 8, height: int = 7
) -> gauge.Panel:
    """A 0-100 % gauge: green, yellow from the warning alert, red from the critical alert."""
    return (
        _panel(gauge.Panel(), title, description, queries, width=width, height=height, alert=alert)
        .color_scheme(_color_mode(dashboard_model.FieldColorModeId.THRESHOLDS))
        .decimals(1)
        .min(0)
        .max(100)
        .thresholds(steps(alert.level))
        .unit("percent")
        .min_viz_height(75)
        .min_viz_width(75)
        .orientation(common_model.VizOrientation.AUTO)
        .reduce_options(_reduce())
        .show_threshold_labels(False)
        .show_threshold_markers(True)
        .sizing(common_model.BarGaugeSizing.AUTO)
    )


def timeseries_panel(
    title: str,
    description: str,
    queries: list[Query],
    *,
    unit: str,
    alert: Alert | None = None,
    area: bool = False,
    max_value: float | None = None,
    stack: bool = False,
    width: int = 12,
    height: int = 8,
) -> timeseries.Panel:
    """A graph over time; with an alert's levels, they are drawn as dashed lines (with `area`, a line over a
    coloured band: a level at 0 would hide its line on the axis)."""
    level = alert.level if alert else None
    if level is None:
        style = common_model.GraphThresholdsStyleMode.OFF
    else:
        style = (
            common_model.GraphThresholdsStyleMode.LINE_AND_AREA
            if area
            else common_model.GraphThresholdsStyleMode.DASHED
        )
    panel = (
        _panel(timeseries.Panel(), title, description, queries, width=width, height=height, alert=alert)
        .color_scheme(_color_mode(dashboard_model.FieldColorModeId.PALETTE_CLASSIC))
        .axis_border_show(False)
        .axis_placement(common_model.AxisPlacement.AUTO)
        .draw_style(common_model.GraphDrawStyle.LINE)
        .fill_opacity(10)
        .gradient_mode(common_model.GraphGradientMode.NONE)
        .line_interpolation(common_model.LineInterpolation.LINEAR)
        .line_width(1)
        .point_size(4)
        .show_points(common_model.VisibilityMode.NEVER)
        .span_nulls(False)
        .stacking(
            common.StackingConfig()
            .group("A")
            .mode(common_model.StackingMode.NORMAL if stack else common_model.StackingMode.NONE)
        )
        .thresholds_style(common.GraphThresholdsStyleConfig().mode(style))
        .min(0)
        .thresholds(steps(level))
        .unit(unit)
        .legend(
            common.VizLegendOptions()
            .calcs(["mean", "max"])
            .display_mode(common_model.LegendDisplayMode.TABLE)
            .placement(common_model.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
        .tooltip(
            common.VizTooltipOptions()
            .mode(common_model.TooltipDisplayMode.MULTI)
            .sort(common_model.SortOrder.DESCENDING)
        )
    )
    return panel if max_value is None else panel.max(max_value)


def piechart_panel(
    title: str, description: str, queries: list[Query], *, unit: str, width: int = 8, height: int = 8
) -> piechart.Panel:
    """Shares of the series, each reduced to its mean over the time range."""
    return (
        _panel(piechart.Panel(), title, description, queries, width=width, height=height, alert=None)
        .color_scheme(_color_mode(dashboard_model.FieldColorModeId.PALETTE_CLASSIC))
        .unit(unit)
        .display_labels([piechart_model.PieChartLabels.PERCENT])
        .legend(
            piechart.PieChartLegendOptions()
            .display_mode(common_model.LegendDisplayMode.TABLE)
            .placement(common_model.LegendPlacement.RIGHT)
            .show_legend(True)
            .values([piechart_model.PieChartLegendValues.PERCENT])
        )
        .pie_type(piechart_model.PieChartType.DONUT)
        .reduce_options(_reduce("mean"))
        .tooltip(
            common.VizTooltipOptions().mode(common_model.TooltipDisplayMode.SINGLE).sort(common_model.SortOrder.NONE)
        )
    )


def bargauge_panel(
    title: str, description: str, queries: list[Query], *, unit: str, alert: Alert, width: int = 8, height: int = 8
) -> bargauge.Panel:
    """Horizontal bars, one per series (last value), coloured by the alert's levels."""
    return (
        _panel(bargauge.Panel(), title, description, queries, width=width, height=height, alert=alert)
        .color_scheme(_color_mode(dashboard_model.FieldColorModeId.THRESHOLDS))
        .min(0)
        .thresholds(steps(alert.level))
        .unit(unit)
        .display_mode(common_model.BarGaugeDisplayMode.GRADIENT)
        .max_viz_height(300)
        .min_viz_height(16)
        .min_viz_width(8)
        .name_placement(common_model.BarGaugeNamePlacement.AUTO)
        .orientation(common_model.VizOrientation.HORIZONTAL)
        .reduce_options(_reduce())
        .show_unfilled(True)
        .sizing(common_model.BarGaugeSizing.AUTO)
        .value_mode(common_model.BarGaugeValueMode.COLOR)
    )


def table_panel(
    title: str,
    description: str,
    queries: list[Query],
    *,
    columns: dict[str, str],
    width: int = 12,
    height: int = 5,
) -> table.Panel:
    """Labels of instant query results as a table: `columns` maps label → header, all else is hidden."""
    organize = dashboard_model.DataTransformerConfig(
        id_val="organize",
        options={
            "excludeByName": {"Time": True, "Value": True, "__name__": True, "job": True},
            "indexByName": {label: index for index, label in enumerate(columns)},
            "renameByName": columns,
        },
    )
    return (
        _panel(table.Panel(), title, description, queries, width=width, height=height, alert=None)
        .color_scheme(_color_mode(dashboard_model.FieldColorModeId.THRESHOLDS))
        .align(common_model.FieldTextAlignment.AUTO)
        .thresholds(steps(None))
        .cell_height(common_model.TableCellHeight.SM)
        .footer(common.TableFooterOptions().show(False))
        .show_header(True)
        .transformations([organize])
    )


def alert_list_panel(
    title: str, description: str, *, alert_name: str = "", width: int = 12, height: int = 8
) -> dashboard.Panel:
    """The firing and pending alerts of Prometheus's rules (all, or those whose name contains `alert_name`).

    grafana-foundation-sdk 11.6 has no builder nor options model for the alert list panel: it is built with
    the generic panel builder, its options a plain dict of the plugin's UnifiedAlertListOptions.
    """
    options = {
        "alertInstanceLabelFilter": "",
        "alertName": alert_name,
        "dashboardAlerts": False,
        "datasource": DATASOURCE_NAME,
        "groupBy": [],
        "groupMode": "default",
        "maxItems": 20,
        "showInstances": True,
        "sortOrder": 3,  # importance: critical first
        "stateFilter": {
            "error": False,
            "firing": True,
            "noData": False,
            "normal": False,
            "pending": True,
            "recovering": False,
        },
        "viewMode": "list",
    }
    # `targets: []`: the panel runs no query, and every panel of the JSON has a list of them.
    return (
        dashboard.Panel()
        .type("alertlist")
        .title(title)
        .description(description)
        .targets([])
        .span(width)
        .height(height)
        .options(options)
    )


def layout(board: dashboard.Dashboard, rows: list[list[AnyPanel]]) -> dashboard.Dashboard:
    """Number the panels 1, 2, 3, … and add them row by row.

    The SDK places panels left to right and starts a new row once 24 columns are filled, so each row must
    fill them exactly; a row that does not would flow into the next one.
    """
    number = 0
    for row in rows:
        width = sum(panel.build().grid_pos.w for panel in row)
        if width != GRID_WIDTH:
            raise ValueError(f"row of {[panel.build().title for panel in row]} is {width} columns wide, not 24")
        for panel in row:
            number += 1
            board = board.with_panel(panel.id(number))
    return board


# --- Dashboard frame ---------------------------------------------------------------------------------


def template_variables(*, per_instance: bool = True) -> list[dashboard.QueryVariable]:
    """$job (one job, default mks-backend) and, for series kept per instance, $instance (several or All = .*)."""

    def query_variable(name: str, label: str, query: str) -> dashboard.QueryVariable:
        return (
            dashboard.QueryVariable(name)
            .label(label)
            .hide(dashboard_model.VariableHide.DONT_HIDE)
            .datasource(DATASOURCE)
            .query({"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"})
            .options([])
            .refresh(dashboard_model.VariableRefresh.ON_TIME_RANGE_CHANGED)  # new instances appear without a reload
            .regex("")
            .sort(dashboard_model.VariableSort.ALPHABETICAL_ASC)
        )

    job = (
        query_variable("job", "ジョブ", "label_values(up, job)")
        .current(dashboard_model.VariableOption(selected=True, text="mks-backend", value="mks-backend"))
        .include_all(False)
        .multi(False)
    )
    instance = (
        query_variable("instance", "インスタンス", 'label_values(up{job="$job"}, instance)')
        .all_value(".*")
        .current(dashboard_model.VariableOption(selected=True, text=["All"], value=["$__all"]))
        .include_all(True)
        .multi(True)
    )
    return [job, instance] if per_instance else [job]


def dashboard_links() -> list[dashboard.DashboardLink]:
    """The other MKS dashboards (by tag, keeping time and variables), and the runbook."""
    others = (
        dashboard.DashboardLink("MKS ダッシュボード")
        .type(dashboard_model.DashboardLinkType.DASHBOARDS)
        .icon("external link")
        .tags(["mks"])
        .as_dropdown(False)
        .include_vars(True)
        .keep_time(True)
        .target_blank(False)
    )
    runbook = (
        dashboard.DashboardLink("手順書（runbook）")
        .type(dashboard_model.DashboardLinkType.LINK)
        .icon("doc")
        .url(thresholds.DEFAULT_RUNBOOK_BASE_URL)
        .target_blank(True)
    )
    return [others, runbook]


def build_dashboard(
    uid: str,
    title: str,
    description: str,
    rows: list[list[AnyPanel]],
    *,
    per_instance: bool = True,
    variables: bool = True,
) -> dashboard_model.Dashboard:
    """A complete dashboard: shared settings, template variables (none without `variables`), links to the other MKS
    dashboards and the runbook."""
    board = (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .annotations([])  # Grafana adds its built-in annotation query to this list: keep the list, even empty
        .tags(["mks"])
        .editable()
        .tooltip(dashboard_model.DashboardCursorSync.CROSSHAIR)
        .fiscal_year_start_month(0)
        .refresh("30s")
        .time("now-1h", "now")
        .timezone("Asia/Tokyo")
        .version(1)
        .week_start("")
        .links(dashboard_links())
        .variables(template_variables(per_instance=per_instance) if variables else [])
    )
    return layout(board, rows).build()


# --- The dashboards ----------------------------------------------------------------------------------

LATENCY = watching("latency_p95_seconds", "SlowAPIResponse", "CriticalAPIResponse")
ERRORS = watching("error_ratio", "HighErrorRate", "CriticalErrorRate")
UP_MAPPINGS: list[dashboard_model.ValueMapping] = [
    dashboard_model.ValueMap(
        options={
            "0": dashboard_model.ValueMappingResult(color="red", index=0, text="停止"),
            "1": dashboard_model.ValueMappingResult(color="green", index=1, text="稼働中"),
        }
    )
]


def app_overview() -> dashboard_model.Dashboard:
    """アプリケーション概要: the numbers to look at first, and the alerts that fire."""
    return build_dashboard(
        "mks-app-overview",
        "アプリケーション概要",
        "MKS バックエンドの全体状況（ナレッジ数・利用者・リクエスト・エラー・応答時間）と発生中のアラート",
        [
            [
                stat_panel(
                    "総ナレッジ数",
                    "データベースのナレッジ件数（archived を含む全ステータス）",
                    [target(f"max({series('mks_knowledge_total')})", "ナレッジ数")],
                    unit="short",
                    width=3,
                ),
                stat_panel(
                    "アクティブユーザー数",
                    "直近 15 分（MKS_ACTIVE_USER_WINDOW）に認証済みの操作をしたユーザー数",
                    [target(f"max({series('mks_active_users')})", "アクティブユーザー")],
                    unit="short",
                    width=3,
                ),
                stat_panel(
                    "リクエスト数",
                    "全インスタンス合計の毎秒リクエスト数（直近 5 分平均）",
                    [target(f"sum({series('instance:mks_http_requests:rate5m')})", "リクエスト/秒")],
                    unit="reqps",
                    decimals=2,
                    width=3,
                ),
                stat_panel(
                    "エラー率",
                    f"5xx 応答の割合（直近 5 分、最も高いインスタンス）。{ERRORS.prose()}",
                    [target(f"max({series('instance:mks_http_errors:ratio_rate5m')})", "エラー率")],
                    unit="percentunit",
                    alert=ERRORS,
                    decimals=2,
                ),
                stat_panel(
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
                stat_panel(
                    "p95 レスポンスタイム",
                    f"応答時間の 95 パーセンタイル（直近 5 分、最も遅いインスタンス）。{LATENCY.prose()}",
                    [target(f"max({series('instance:mks_http_request_duration_seconds:p95_5m')})", "p95")],
                    unit="s",
                    alert=LATENCY,
                    decimals=3,
                ),
                stat_panel(
                    "稼働状態",
                    "Prometheus が /metrics を取得できているか（インスタンスごと）",
                    [target(series("up"), "{{instance}}")],
                    unit="short",
                    mappings=UP_MAPPINGS,
                    width=3,
                ),
            ],
            [
                alert_list_panel(
                    "発生中のアラート",
                    "Prometheus のアラートルールのうち発火中（firing）と発火待ち（pending）のもの。"
                    "対応はダッシュボード上部の「手順書（runbook）」から",
                ),
                timeseries_panel(
                    "エラー率の推移",
                    f"5xx 応答の割合（直近 5 分、インスタンスごと）。{ERRORS.prose()}",
                    [target(series("instance:mks_http_errors:ratio_rate5m"), "{{instance}}")],
                    unit="percentunit",
                    alert=ERRORS,
                ),
            ],
            [
                timeseries_panel(
                    "リクエスト数（ステータス別）",
                    "HTTP ステータスコード別の毎秒リクエスト数（全インスタンス合計）",
                    [target(f"sum by (status) ({rate('mks_http_requests_total')})", "{{status}}")],
                    unit="reqps",
                ),
                timeseries_panel(
                    "レスポンスタイム（パーセンタイル）",
                    "応答時間の p50 / p95 / p99（直近 5 分、インスタンスごと）。"
                    f"破線はアラートの閾値: {LATENCY.prose()}",
                    [
                        target(series("instance:mks_http_request_duration_seconds:p50_5m"), "p50 {{instance}}"),
                        target(series("instance:mks_http_request_duration_seconds:p95_5m"), "p95 {{instance}}"),
                        target(series("instance:mks_http_request_duration_seconds:p99_5m"), "p99 {{instance}}"),
                    ],
                    unit="s",
                    alert=LATENCY,
                ),
            ],
            [
                timeseries_panel(
                    "認証試行数",
                    "ログインの結果別（success / failure / rate_limited）の毎秒件数",
                    [target(f"sum by (status) ({rate('mks_auth_attempts_total')})", "{{status}}")],
                    unit="reqps",
                ),
                timeseries_panel(
                    "エラー発生数（タイプ別）",
                    "エラー応答の種類別の毎秒件数（validation, auth, not_found, rate_limited, db_error など）",
                    [target(f"sum by (type) ({rate('mks_errors_total')})", "{{type}}")],
                    unit="reqps",
                    stack=True,
                ),
            ],
        ],
    )


def api_performance() -> dashboard_model.Dashboard:
    """APIパフォーマンス: traffic and latency per endpoint, method, status; database; rate limiting."""
    p95_by_endpoint = f"max by (endpoint) ({series('endpoint:mks_http_request_duration_seconds:p95_5m')})"
    slow_queries = watching("db_query_p95_seconds", "MKSSlowDatabaseQueries")
    database_errors = watching("db_errors_per_second", "MKSDatabaseErrors")
    refusals = watching("rate_limit_hits_per_second", "MKSRateLimitSpike")
    login_failures = watching("login_failures_per_second", "MKSLoginFailureSpike")
    return build_dashboard(
        "mks-api-performance",
        "APIパフォーマンス",
        "エンドポイント・メソッド・ステータス別のトラフィックと応答時間、データベース、レート制限",
        [
            [
                timeseries_panel(
                    "エンドポイント別リクエスト数",
                    "ルート（テンプレート）ごとの毎秒リクエスト数（直近 5 分平均、全インスタンス合計）",
                    [target(f"sum by (endpoint) ({series('endpoint:mks_http_requests:rate5m')})", "{{endpoint}}")],
                    unit="reqps",
                    height=9,
                ),
                timeseries_panel(
                    "エンドポイント別レスポンスタイム（p95）",
                    "ルートごとの応答時間 p95（直近 5 分、最も遅いインスタンス）。"
                    f"破線はインスタンス全体の p95 のアラート閾値: {LATENCY.prose()}",
                    [target(p95_by_endpoint, "{{endpoint}}")],
                    unit="s",
                    alert=LATENCY,
                    height=9,
                ),
            ],
            [
                timeseries_panel(
                    "HTTPメソッド別リクエスト数",
                    "HTTP メソッド別の毎秒リクエスト数（全インスタンス合計）",
                    [target(f"sum by (method) ({rate('mks_http_requests_total')})", "{{method}}")],
                    unit="reqps",
                    width=8,
                ),
                piechart_panel(
                    "HTTPステータスコード分布",
                    "表示期間中の応答のステータスコード別の割合",
                    [target(f"sum by (status) ({rate('mks_http_requests_total')})", "{{status}}")],
                    unit="reqps",
                ),
                bargauge_panel(
                    "遅いエンドポイント（p95 上位 10）",
                    "応答時間 p95 が長いルート上位 10 件（直近 5 分）。"
                    f"色はインスタンス全体の p95 の閾値: {LATENCY.prose()}",
                    [target(f"topk(10, {p95_by_endpoint})", "{{endpoint}}", instant=True)],
                    unit="s",
                    alert=LATENCY,
                ),
            ],
            [
                timeseries_panel(
                    "データベースクエリ時間",
                    "SQL 文の実行時間 p95: 全体（直近 5 分、インスタンスごと）と操作別（select / insert / update / "
                    f"delete / other）。破線は全体 p95 のアラート閾値: {slow_queries.prose()}",
                    [
                        target(series("instance:mks_database_query_duration_seconds:p95_5m"), "全体 p95 {{instance}}"),
                        target(
                            quantile_by(0.95, "mks_database_query_duration_seconds", "operation"), "{{operation}} p95"
                        ),
                    ],
                    unit="s",
                    alert=slow_queries,
                ),
                timeseries_panel(
                    "DB 接続数",
                    "プールから貸し出し中のデータベース接続数（インスタンスごと、全ワーカー合計）",
                    [target(series("mks_database_connections"), "{{instance}}")],
                    unit="short",
                    width=6,
                ),
                timeseries_panel(
                    "DB エラー数",
                    f"データベース障害による 503 応答の毎秒件数（直近 5 分）。{database_errors.prose()}",
                    [target(series("instance:mks_db_errors:rate5m"), "{{instance}}")],
                    unit="reqps",
                    alert=database_errors,
                    area=True,
                    width=6,
                ),
            ],
            [
                timeseries_panel(
                    "レート制限ヒット数",
                    "レート制限で拒否（429）した毎秒件数: エンドポイント別と合計（直近 5 分、インスタンスごと）。"
                    f"破線は合計のアラート閾値: {refusals.prose()}",
                    [
                        target(f"sum by (endpoint) ({rate('mks_rate_limit_hits_total')})", "{{endpoint}}"),
                        target(series("instance:mks_rate_limit_hits:rate5m"), "合計（5分平均） {{instance}}"),
                    ],
                    unit="reqps",
                    alert=refusals,
                ),
                timeseries_panel(
                    "ログイン失敗数",
                    f"誤った認証情報によるログイン失敗の毎秒件数（直近 5 分）。{login_failures.prose()}",
                    [target(series("instance:mks_auth_failures:rate5m"), "{{instance}}")],
                    unit="reqps",
                    alert=login_failures,
                ),
            ],
        ],
    )


def system_resources() -> dashboard_model.Dashboard:
    """システムリソース: host CPU, memory and disk against the alert levels, and application gauges."""
    resources = [
        (
            "CPU",
            "mks_system_cpu_usage_percent",
            watching("cpu_percent", "HighCPUUsage", "CriticalCPUUsage"),
            "ホストの CPU 使用率",
        ),
        (
            "メモリ",
            "mks_system_memory_usage_percent",
            watching("memory_percent", "HighMemoryUsage", "CriticalMemoryUsage"),
            "ホストのメモリ使用率",
        ),
        (
            "ディスク",
            "mks_system_disk_usage_percent",
            watching("disk_percent", "HighDiskUsage", "CriticalDiskUsage"),
            "データディレクトリのあるファイルシステムの使用率",
        ),
    ]
    gauges: list[AnyPanel] = [
        gauge_panel(
            f"{name}使用率",
            f"{meaning}（インスタンスごとの最新値）。{alert.prose()}",
            [target(series(metric), "{{instance}}")],
            alert=alert,
        )
        for name, metric, alert, meaning in resources
    ]
    graphs: list[AnyPanel] = [
        timeseries_panel(
            f"{name}使用率の推移",
            f"{meaning}の推移。破線はアラートの閾値: {alert.prose()}",
            [target(series(metric), "{{instance}}")],
            unit="percent",
            alert=alert,
            max_value=100,
            width=8,
        )
        for name, metric, alert, meaning in resources
    ]
    return build_dashboard(
        "mks-system-resources",
        "システムリソース",
        "ホストの CPU・メモリ・ディスク使用率（アラート閾値つき）とアプリケーションの主要な値",
        [
            gauges,
            graphs,
            [
                timeseries_panel(
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
                stat_panel(
                    "メモリ総量",
                    "ホストのメモリ総量",
                    [target(series("mks_system_memory_total_bytes"), "{{instance}}")],
                    unit="bytes",
                    width=6,
                ),
                stat_panel(
                    "ディスク容量",
                    "データディレクトリのあるファイルシステムの容量",
                    [target(series("mks_system_disk_total_bytes"), "{{instance}}")],
                    unit="bytes",
                    width=6,
                ),
                table_panel(
                    "ビルド情報",
                    "稼働中のバージョンと実行環境（インスタンスごと）",
                    [target(series("mks_build_info"), "", instant=True, table_format=True)],
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


def slo_series(metric: str, slo_name: str | None = None) -> str:
    """A selector of an SLO series: per job (the service, all instances), of one SLO or of all."""
    matchers = 'job="$job"' + (f', slo="{slo_name}"' if slo_name else "")
    return f"{metric}{{{matchers}}}"


# Budget left: red when spent, yellow below a quarter.
BUDGET_STEPS = [
    dashboard_model.Threshold(value=None, color="red"),
    dashboard_model.Threshold(value=0, color="yellow"),
    dashboard_model.Threshold(value=0.25, color="green"),
]


def error_budget() -> dashboard_model.Dashboard:
    """エラーバジェット: the SLOs of slo.py, how much of their budget is left, and how fast it burns."""
    page, ticket = slo.BURN_ALERTS[0], slo.BURN_ALERTS[2]
    # Every panel here is what the page alert is about; its runbook section covers the ticket too.
    budget_alert = Alert(None, (page.alert,))
    burn_alert = Alert(thresholds.Threshold(ticket.factor, page.factor, "倍"), (page.alert,))
    budget_left: list[AnyPanel] = []
    time_left: list[AnyPanel] = []
    for objective in slo.OBJECTIVES:
        remaining = slo_series("slo:mks_error_budget:remaining_ratio", objective.slo)
        burn = slo_series("slo:mks_error_budget:burn_rate1h", objective.slo)
        window = objective.window_seconds
        budget_left.append(
            stat_panel(
                f"残りのエラーバジェット（{objective.title}）",
                f"{objective.sli}の目標 {objective.objective:.1%}（{objective.window}）で許される目標外の応答のうち、"
                "まだ使っていない割合。0 未満は目標割れ。",
                [target(remaining, objective.slo)],
                unit="percentunit",
                alert=budget_alert,
                colours=dashboard.ThresholdsConfig().mode(dashboard_model.ThresholdsMode.ABSOLUTE).steps(BUDGET_STEPS),
                decimals=1,
                width=6,
            )
        )
        time_left.append(
            stat_panel(
                f"使い切るまで（{objective.title}）",
                "直近 1 時間の消費速度が続いたとき、残りのバジェットを使い切るまでの時間"
                f"（上限は窓の {objective.window}）。",
                # Not burning divides by 0: +Inf, shown as the whole window.
                [target(f"clamp_min(clamp_max({remaining} * {window} / {burn}, {window}), 0)", objective.slo)],
                unit="s",
                alert=budget_alert,
                width=6,
            )
        )
    return build_dashboard(
        "mks-error-budget",
        "エラーバジェット",
        "SLO（backend/monitoring/slo.py）ごとのエラーバジェットの残り、消費速度、使い切るまでの時間。"
        f"消費速度の破線はチケット（{ticket.factor:g} 倍）とページ（{page.factor:g} 倍）の閾値。",
        [
            budget_left + time_left,
            [
                timeseries_panel(
                    "消費速度（直近 1 時間）",
                    "エラーバジェットを消費する速さ（1 = 窓の終わりにちょうど使い切る）。"
                    f"アラート {page.alert} は 1 時間と 5 分の両方が {page.factor:g} 倍を超えるとページ。",
                    [target(slo_series("slo:mks_error_budget:burn_rate1h"), "{{slo}}")],
                    unit="short",
                    alert=burn_alert,
                ),
                timeseries_panel(
                    "目標外の割合",
                    "5xx（可用性）または 1 秒超（応答時間）の応答の割合。窓ごと。",
                    [
                        target(slo_series("slo:mks_sli_errors:ratio_rate5m"), "{{slo}} 5 分"),
                        target(slo_series("slo:mks_sli_errors:ratio_rate1h"), "{{slo}} 1 時間"),
                        target(slo_series("slo:mks_sli_errors:ratio_rate6h"), "{{slo}} 6 時間"),
                    ],
                    unit="percentunit",
                    alert=budget_alert,
                ),
            ],
            [
                alert_list_panel(
                    "エラーバジェットのアラート",
                    f"名前に {page.alert} を含むアラート（ページとチケット）のうち発火中と発火待ちのもの",
                    alert_name=page.alert,
                ),
                timeseries_panel(
                    "エラーバジェットの残り（推移）",
                    "SLO ごとのバジェットの残り。下がり続けるなら、アラートにならない小さな劣化が続いている。",
                    [target(slo_series("slo:mks_error_budget:remaining_ratio"), "{{slo}}")],
                    unit="percentunit",
                    alert=budget_alert,
                ),
            ],
        ],
        per_instance=False,
    )


def dependency(metric: str, job: str, matchers: str = "") -> str:
    """A selector of an exporter's metric: its scrape job is fixed (prometheus.yml), not a template variable."""
    return f'{metric}{{job="{job}"{", " + matchers if matchers else ""}}}'


# The exporters' own `up` and the probe's result: 0 is a failure, 1 a success.
PROBE_MAPPINGS: list[dashboard_model.ValueMapping] = [
    dashboard_model.ValueMap(
        options={
            "0": dashboard_model.ValueMappingResult(color="red", index=0, text="失敗"),
            "1": dashboard_model.ValueMappingResult(color="green", index=1, text="成功"),
        }
    )
]


def running_out(key: str, base: str = "red", after: str = "green") -> dashboard.ThresholdsConfig:
    """Colours of a level that fires below (thresholds.RUNNING_OUT): red under it, green from it."""
    level = thresholds.THRESHOLDS[key].warning
    values = [dashboard_model.Threshold(value=None, color=base), dashboard_model.Threshold(value=level, color=after)]
    return dashboard.ThresholdsConfig().mode(dashboard_model.ThresholdsMode.ABSOLUTE).steps(values)


def status_panel(
    title: str,
    description: str,
    expr: str,
    alert: str,
    mappings: list[dashboard_model.ValueMapping] = UP_MAPPINGS,
    *,
    legend: str = "{{instance}}",
    width: int = 4,
) -> stat.Panel:
    """A 0/1 value shown in words (停止・稼働中, or 失敗・成功), linking the runbook section of its alert."""
    return stat_panel(
        title,
        description,
        [target(expr, legend)],
        unit="short",
        alert=Alert(None, (alert,)),
        mappings=mappings,
        width=width,
    )


def dependencies() -> dashboard_model.Dashboard:
    """依存サービス: PostgreSQL, Redis, the host, nginx and the public URL, from their exporters."""
    jobs = "|".join(rules.DEPENDENCY_JOBS)
    filesystems = 'fstype!~"tmpfs|ramfs"'
    connections = watching("postgres_connections_percent", "PostgreSQLTooManyConnections")
    transactions = watching("postgres_transaction_seconds", "PostgreSQLLongTransaction")
    deadlocks = watching("postgres_deadlocks", "PostgreSQLDeadlocks")
    growth = watching("postgres_growth_gb_per_day", "PostgreSQLDatabaseGrowing")
    redis_memory = watching("redis_memory_percent", "RedisMemoryNearLimit")
    host_memory = watching("host_memory_percent", "HostMemoryLow")
    nginx_errors = watching("nginx_error_ratio", "NginxHighErrorRate")
    days_left = thresholds.THRESHOLDS["tls_certificate_days"].warning
    full_within = thresholds.THRESHOLDS["host_disk_full_hours"].warning
    nginx_requests = f"rate({dependency('nginx_log_requests_total', 'nginx-log')}[5m])"
    return build_dashboard(
        "mks-dependencies",
        "依存サービス",
        "MKS が依存するサービス（PostgreSQL・Redis・ホスト・nginx・公開 URL）を各エクスポーターから。"
        f"ジョブは prometheus.yml の {' / '.join(rules.DEPENDENCY_JOBS)}。",
        [
            [
                status_panel(
                    "PostgreSQL の稼働状態",
                    "postgres-exporter が PostgreSQL に接続できているか（pg_up）。"
                    "1 分以上「停止」ならアラート PostgreSQLDown",
                    dependency("pg_up", "postgres"),
                    "PostgreSQLDown",
                ),
                status_panel(
                    "Redis の稼働状態",
                    "redis-exporter が Redis に接続できているか（redis_up）。1 分以上「停止」ならアラート RedisDown",
                    dependency("redis_up", "redis"),
                    "RedisDown",
                ),
                status_panel(
                    "公開 URL",
                    "blackbox-exporter が公開 URL を nginx 経由で取得できたか（probe_success）。"
                    "2 分以上「失敗」ならアラート ProbeFailed",
                    dependency("probe_success", "blackbox"),
                    "ProbeFailed",
                    PROBE_MAPPINGS,
                ),
                stat_panel(
                    "TLS 証明書の残り日数",
                    "公開 URL の証明書（中間証明書を含む最も早い期限）までの日数。"
                    f"赤: {days_left:g} 日未満でアラート TLSCertificateExpiring",
                    [
                        target(
                            f"({dependency('probe_ssl_earliest_cert_expiry', 'blackbox')} - time()) / 86400",
                            "{{instance}}",
                        )
                    ],
                    unit="none",
                    alert=Alert(None, ("TLSCertificateExpiring",)),
                    colours=running_out("tls_certificate_days"),
                    decimals=1,
                ),
                status_panel(
                    "エクスポーター",
                    "Prometheus が各エクスポーターを取得できているか（ジョブごとの up）。"
                    "5 分以上「停止」ならアラート ExporterDown（そのジョブのアラートは発火できない）",
                    f'up{{job=~"{jobs}"}}',
                    "ExporterDown",
                    legend="{{job}}",
                    width=8,
                ),
            ],
            [
                timeseries_panel(
                    "PostgreSQL の接続数（上限に対する割合）",
                    f"全データベースのクライアント接続数 ÷ max_connections。{connections.prose()}",
                    [
                        target(
                            f"sum by (instance) ({dependency('pg_stat_activity_count', 'postgres')})\n"
                            "/ on (instance) "
                            f"max by (instance) ({dependency('pg_settings_max_connections', 'postgres')}) * 100",
                            "{{instance}}",
                        )
                    ],
                    unit="percent",
                    alert=connections,
                    max_value=100,
                    width=8,
                ),
                timeseries_panel(
                    "PostgreSQL の接続数（状態別）",
                    "active・idle・idle in transaction などの状態ごとの接続数（全データベース）",
                    [target(f"sum by (state) ({dependency('pg_stat_activity_count', 'postgres')})", "{{state}}")],
                    unit="short",
                    stack=True,
                    width=8,
                ),
                timeseries_panel(
                    "最も長いトランザクション",
                    f"データベースごとの、開いているトランザクションの最長の経過時間。{transactions.prose()}",
                    [
                        target(
                            f"max by (datname) ({dependency('pg_stat_activity_max_tx_duration', 'postgres')})",
                            "{{datname}}",
                        )
                    ],
                    unit="s",
                    alert=transactions,
                    width=8,
                ),
            ],
            [
                timeseries_panel(
                    "デッドロック（直近 5 分）",
                    f"データベースごとのデッドロックの件数（直近 5 分）。{deadlocks.prose()}",
                    [
                        target(
                            f"sum by (datname) (increase({dependency('pg_stat_database_deadlocks', 'postgres')}[5m]))",
                            "{{datname}}",
                        )
                    ],
                    unit="short",
                    alert=deadlocks,
                    area=True,
                    width=8,
                ),
                timeseries_panel(
                    "データベースの大きさ",
                    "データベースごとの大きさ（テンプレートを除く）",
                    [target(dependency("pg_database_size_bytes", "postgres", 'datname!~"template.*"'), "{{datname}}")],
                    unit="bytes",
                    width=8,
                ),
                timeseries_panel(
                    "データベースの 1 日の増加",
                    f"1 日前と比べて増えた大きさ（GB、1 日分の履歴が要る）。{growth.prose()}",
                    [
                        target(
                            f"({dependency('pg_database_size_bytes', 'postgres')}"
                            f" - {dependency('pg_database_size_bytes', 'postgres')} offset 1d) / 1e9",
                            "{{datname}}",
                        )
                    ],
                    unit="none",
                    alert=growth,
                    width=8,
                ),
            ],
            [
                timeseries_panel(
                    "Redis のメモリ（上限に対する割合）",
                    f"使用メモリ ÷ maxmemory（maxmemory を設定した Redis のみ）。{redis_memory.prose()}",
                    [
                        target(
                            f"{dependency('redis_memory_used_bytes', 'redis')}\n"
                            f"/ on (instance) ({dependency('redis_memory_max_bytes', 'redis')} > 0) * 100",
                            "{{instance}}",
                        )
                    ],
                    unit="percent",
                    alert=redis_memory,
                    max_value=100,
                    width=8,
                ),
                timeseries_panel(
                    "Redis の使用メモリ",
                    "Redis の使用メモリと maxmemory（0 は上限なし）",
                    [
                        target(dependency("redis_memory_used_bytes", "redis"), "使用 {{instance}}"),
                        target(dependency("redis_memory_max_bytes", "redis"), "上限 {{instance}}"),
                    ],
                    unit="bytes",
                    width=8,
                ),
                timeseries_panel(
                    "Redis の接続クライアント数",
                    "Redis に接続しているクライアントの数（MKS の各ワーカーと redis-exporter）",
                    [target(dependency("redis_connected_clients", "redis"), "{{instance}}")],
                    unit="short",
                    width=8,
                ),
            ],
            [
                timeseries_panel(
                    "ディスクの空き",
                    "ファイルシステムごとの空き容量（tmpfs を除く）",
                    [
                        target(
                            dependency("node_filesystem_avail_bytes", "node", filesystems),
                            "{{instance}} {{mountpoint}}",
                        )
                    ],
                    unit="bytes",
                    width=8,
                ),
                timeseries_panel(
                    f"{full_within:g} 時間後の空きの予測",
                    f"直近 6 時間の傾向が続いたときの {full_within:g} 時間後の空き容量（predict_linear）。"
                    "書き込み可能なファイルシステムで 0 を下回る状態が 1 時間続くとアラート HostDiskWillFill",
                    [
                        target(
                            f"predict_linear({dependency('node_filesystem_avail_bytes', 'node', filesystems)}[6h], "
                            f"{full_within:g} * 3600)",
                            "{{instance}} {{mountpoint}}",
                        )
                    ],
                    unit="bytes",
                    alert=Alert(None, ("HostDiskWillFill",)),
                    width=8,
                ),
                timeseries_panel(
                    "ホストのメモリ使用率",
                    f"node-exporter の (1 − MemAvailable ÷ MemTotal)。{host_memory.prose()}",
                    [
                        target(
                            f"(1 - {dependency('node_memory_MemAvailable_bytes', 'node')}"
                            f" / {dependency('node_memory_MemTotal_bytes', 'node')}) * 100",
                            "{{instance}}",
                        )
                    ],
                    unit="percent",
                    alert=host_memory,
                    max_value=100,
                    width=8,
                ),
            ],
            [
                timeseries_panel(
                    "nginx の応答（ステータス別）",
                    "nginx のアクセスログ（mtail）から数えたステータスコードごとの毎秒件数",
                    [
                        target(
                            "sum by (status) "
                            f"(rate({dependency('nginx_log_responses_total', 'nginx-log')}[$__rate_interval]))",
                            "{{status}}",
                        )
                    ],
                    unit="reqps",
                    stack=True,
                    width=8,
                ),
                timeseries_panel(
                    "nginx の 5xx の割合",
                    "nginx が返した応答のうち 5xx の割合（直近 5 分、アクセスログから）。"
                    f"{nginx_errors.prose()}（要求が毎秒 {thresholds.MINIMUM_REQUESTS_PER_SECOND:g} 件以上のとき）",
                    [
                        target(
                            f"rate({dependency('nginx_log_responses_5xx_total', 'nginx-log')}[5m])"
                            f" / ({nginx_requests} > 0)",
                            "{{instance}}",
                        )
                    ],
                    unit="percentunit",
                    alert=nginx_errors,
                    width=8,
                ),
                timeseries_panel(
                    "nginx の接続数",
                    "nginx の接続数（stub_status、prometheus-nginx-exporter）: 処理中と待機中",
                    [
                        target(dependency("nginx_connections_active", "nginx"), "処理中 {{instance}}"),
                        target(dependency("nginx_connections_waiting", "nginx"), "待機中 {{instance}}"),
                    ],
                    unit="short",
                    width=8,
                ),
            ],
            [
                timeseries_panel(
                    "公開 URL の応答時間",
                    "blackbox-exporter の外形監視にかかった時間（名前解決・接続・TLS・応答の合計）",
                    [target(dependency("probe_duration_seconds", "blackbox"), "{{instance}}")],
                    unit="s",
                ),
                timeseries_panel(
                    "nginx の要求数",
                    "nginx が受け付けた要求の毎秒件数（stub_status、全 server の合計）",
                    [
                        target(
                            f"rate({dependency('nginx_http_requests_total', 'nginx')}[$__rate_interval])",
                            "{{instance}}",
                        )
                    ],
                    unit="reqps",
                ),
            ],
        ],
        variables=False,
    )


DASHBOARDS = {
    "app-overview.json": app_overview,
    "api-performance.json": api_performance,
    "system-resources.json": system_resources,
    "error-budget.json": error_budget,
    "dependencies.json": dependencies,
}


def render(board: dashboard_model.Dashboard) -> str:
    """The file content: the SDK's JSON with sorted keys, two-space indent, Japanese kept readable, trailing newline."""
    return json.dumps(board, cls=JSONEncoder, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


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
