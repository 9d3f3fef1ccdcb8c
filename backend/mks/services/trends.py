"""The last hour of four figures, read from Prometheus, for the small charts of the admin's monitoring page."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .alerts import READ_ERRORS, api_data, unreadable

WINDOW_SECONDS = 3600
STEP_SECONDS = 60

# The job and the expression of each figure as the Grafana dashboard "アプリケーション概要" states it
# (monitoring/grafana/build_dashboards.py, app_overview: its stat panels), with $job at its default and
# $instance at All. The recorded series come from monitoring/prometheus/recording-rules.yml.
JOB = "mks-backend"
QUERIES: dict[str, str] = {
    "requests_per_second": f'sum(instance:mks_http_requests:rate5m{{job="{JOB}"}})',
    "error_ratio": f'max(instance:mks_http_errors:ratio_rate5m{{job="{JOB}"}})',
    "latency_p95_seconds": f'max(instance:mks_http_request_duration_seconds:p95_5m{{job="{JOB}"}})',
    "active_users": f'max(mks_active_users{{job="{JOB}"}})',
}

Point = tuple[float, float]  # (Unix time in seconds, value); the value may be NaN or infinite


@dataclass(frozen=True)
class Trends:
    """The points of each figure of QUERIES over [start, end], one every step at most; or why none were read.

    A figure Prometheus has no data for has no points.
    """

    start: float
    end: float
    step: float
    series: dict[str, list[Point]] = field(default_factory=dict)
    error: str | None = None


def last_hour(prometheus_url: str, now: float | None = None) -> Trends:
    """The figures of the past hour from the Prometheus at the URL (range queries of its HTTP API)."""
    end = time.time() if now is None else now
    start = end - WINDOW_SECONDS
    window = {"start": f"{start:.3f}", "end": f"{end:.3f}", "step": str(STEP_SECONDS)}
    series: dict[str, list[Point]] = {}
    for name, expr in QUERIES.items():
        # The first failure ends the reading: an unreachable Prometheus costs one timeout, not one per figure.
        try:
            found = api_data(prometheus_url, "query_range", query=expr, **window)["result"]
            # Each expression aggregates to at most one series.
            series[name] = [(float(at), float(value)) for at, value in found[0]["values"]] if found else []
        except READ_ERRORS as exc:
            return Trends(start, end, STEP_SECONDS, error=unreadable(prometheus_url, exc))
    return Trends(start, end, STEP_SECONDS, series)
