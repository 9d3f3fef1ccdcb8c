"""Running every check in the order of the guide, and the report for machines."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

from ..config import Settings
from .alertmanager import check_alertmanager
from .backend import check_backend_dependencies, check_backend_metrics
from .base import Check, CheckStatus, Endpoints, HttpError, Result
from .grafana import check_grafana
from .prometheus import (
    check_alerts,
    check_backend_target,
    check_intervals,
    check_prometheus_config,
    check_prometheus_ready,
    check_retention,
    check_rules,
)
from .search_index import check_search_index

# Each check after Prometheus answers, under the name of its first result.
PROMETHEUS_CHECKS: list[tuple[Check, Callable[[Endpoints], Result | list[Result]]]] = [
    (Check.PROMETHEUS_CONFIG, check_prometheus_config),
    (Check.BACKEND_TARGET, check_backend_target),
    (Check.RULES, check_rules),
    (Check.ALERTS, check_alerts),
    (Check.INTERVALS, check_intervals),
    (Check.RETENTION, check_retention),
    (Check.ALERTMANAGER, check_alertmanager),
]


def _guarded(check: Check, run: Callable[[Endpoints], Result | list[Result]], endpoints: Endpoints) -> list[Result]:
    try:
        results = run(endpoints)
    except (HttpError, KeyError, ValueError) as exc:
        return [
            Result(
                check,
                CheckStatus.ERROR,
                f"確認できませんでした（{exc}）",
                "Prometheus（と Alertmanager）の稼働と URL を確認してください。",
            )
        ]
    return results if isinstance(results, list) else [results]


def run_checks(endpoints: Endpoints, settings: Settings) -> Iterator[Result]:
    """Every check, in the order of the guide's troubleshooting section; the search index with the backend's."""
    yield check_backend_metrics(endpoints)
    yield check_backend_dependencies(endpoints)
    yield check_search_index(settings)
    prometheus = check_prometheus_ready(endpoints)
    yield prometheus
    if prometheus.status is CheckStatus.OK:
        for check, run in PROMETHEUS_CHECKS:
            yield from _guarded(check, run, endpoints)
    if endpoints.grafana:
        yield from check_grafana(endpoints)


def as_json(results: list[Result]) -> str:
    """The results for machines."""
    return json.dumps(
        {"ok": all(r.status is not CheckStatus.ERROR for r in results), "checks": [r.as_dict() for r in results]},
        ensure_ascii=False,
        indent=2,
    )
