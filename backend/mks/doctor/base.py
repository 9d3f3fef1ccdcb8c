"""What every check shares: its result, where the components listen, and the HTTP client."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

TIMEOUT_SECONDS = 5


class CheckStatus(StrEnum):
    """The verdict of one check (not a knowledge entry's workflow status, `models.Status`): a stable id for
    machines, and its label for people."""

    OK = "ok"
    WARNING = "warning"
    ERROR = "error"

    @property
    def label(self) -> str:
        return {"ok": "OK", "warning": "警告", "error": "NG"}[self.value]


class Check(StrEnum):
    """What a result is about: a stable id for machines (scripts match on it), and its label for people."""

    BACKEND_METRICS = "backend_metrics"
    BACKEND_DEPENDENCIES = "backend_dependencies"
    SEARCH_INDEX = "search_index"
    PROMETHEUS = "prometheus"
    PROMETHEUS_CONFIG = "prometheus_config"
    BACKEND_TARGET = "backend_target"
    RULES = "rules"
    ALERTS = "alerts"
    INTERVALS = "intervals"
    RETENTION = "retention"
    ALERTMANAGER = "alertmanager"
    ALERT_DELIVERY = "alert_delivery"
    GRAFANA = "grafana"
    GRAFANA_DATASOURCE = "grafana_datasource"
    GRAFANA_API = "grafana_api"
    GRAFANA_DASHBOARDS = "grafana_dashboards"

    @property
    def label(self) -> str:
        return CHECK_LABELS[self]


CHECK_LABELS = {
    Check.BACKEND_METRICS: "バックエンド /metrics",
    Check.BACKEND_DEPENDENCIES: "バックエンドの依存先",
    Check.SEARCH_INDEX: "検索索引",
    Check.PROMETHEUS: "Prometheus",
    Check.PROMETHEUS_CONFIG: "Prometheus の設定",
    Check.BACKEND_TARGET: "ターゲット mks-backend",
    Check.RULES: "ルール",
    Check.ALERTS: "発火中のアラート",
    Check.INTERVALS: "収集・評価間隔",
    Check.RETENTION: "データ保持",
    Check.ALERTMANAGER: "Alertmanager",
    Check.ALERT_DELIVERY: "アラートの送信",
    Check.GRAFANA: "Grafana",
    Check.GRAFANA_DATASOURCE: "Grafana データソース",
    Check.GRAFANA_API: "Grafana API",
    Check.GRAFANA_DASHBOARDS: "Grafana ダッシュボード",
}


@dataclass(frozen=True)
class Result:
    """The outcome of one check: what was looked at, what was found, and the fix when not OK."""

    check: Check
    status: CheckStatus
    message: str
    fix: str = ""

    def line(self) -> str:
        """One line for people."""
        text = f"[{self.status.label}] {self.check.label}: {self.message}"
        return f"{text}\n       → 対処: {self.fix}" if self.fix else text

    def as_dict(self) -> dict[str, str]:
        """One entry of the JSON report: stable ids (`check`, `status`) beside the words people read."""
        return {
            "check": self.check.value,
            "name": self.check.label,
            "status": self.status.value,
            "status_label": self.status.label,
            "message": self.message,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class Endpoints:
    """Where the components listen, and the credentials to use."""

    backend: str = "http://localhost:5100"
    prometheus: str = "http://localhost:9090"
    alertmanager: str = "http://localhost:9093"
    grafana: str | None = None
    grafana_user: str = "admin"
    grafana_password: str | None = None
    metrics_headers: dict[str, str] = field(default_factory=dict)


class HttpError(Exception):
    """A component did not answer, or answered with an error status."""


def get(url: str, headers: dict[str, str] | None = None) -> bytes:
    """The body of a GET; HttpError when the component does not answer or answers with an error status."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            body: bytes = response.read()
            return body
    except urllib.error.HTTPError as exc:
        raise HttpError(f"HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise HttpError(str(getattr(exc, "reason", exc))) from None


def get_json(url: str, headers: dict[str, str] | None = None) -> Any:
    """The decoded JSON body of a GET."""
    return json.loads(get(url, headers))


def metric_samples(url: str) -> Iterator[Sample]:
    """Every sample of a component's /metrics (Prometheus, Alertmanager), in the text format."""
    text = get(url).decode()
    return (sample for family in text_string_to_metric_families(text) for sample in family.samples)


def prometheus_data(endpoints: Endpoints, path: str) -> Any:
    """The `data` of a Prometheus HTTP API answer (`/api/v1/<path>`)."""
    return get_json(f"{endpoints.prometheus}/api/v1/{path}")["data"]
