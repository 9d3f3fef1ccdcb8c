"""Running every check in the order of the guide, and the report for machines."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict

from ..config import Settings
from .alertmanager import check_alertmanager
from .backend import check_backend_dependencies, check_backend_metrics
from .base import CheckStatus, Endpoints, HttpError, Result
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

PROMETHEUS_CHECKS: list[Callable[[Endpoints], Result]] = [
    check_prometheus_config,
    check_backend_target,
    check_rules,
    check_alerts,
    check_intervals,
    check_retention,
]


def _guarded(name: str, check: Callable[[Endpoints], Result], endpoints: Endpoints) -> Result:
    try:
        return check(endpoints)
    except (HttpError, KeyError, ValueError) as exc:
        return Result(
            name, CheckStatus.NG, f"確認できませんでした（{exc}）", "Prometheus の稼働と URL を確認してください。"
        )


def run_checks(endpoints: Endpoints, settings: Settings) -> Iterator[Result]:
    """Every check, in the order of the guide's troubleshooting section; the search index with the backend's."""
    yield check_backend_metrics(endpoints)
    yield check_backend_dependencies(endpoints)
    yield check_search_index(settings)
    prometheus = check_prometheus_ready(endpoints)
    yield prometheus
    if prometheus.status is CheckStatus.OK:
        for check in PROMETHEUS_CHECKS:
            yield _guarded(check.__name__, check, endpoints)
        if endpoints.alertmanager:
            yield _guarded("Alertmanager", check_alertmanager, endpoints)
    if endpoints.grafana:
        yield from check_grafana(endpoints)


def as_json(results: list[Result]) -> str:
    """The results for machines."""
    return json.dumps(
        {"ok": all(r.status is not CheckStatus.NG for r in results), "checks": [asdict(r) for r in results]},
        ensure_ascii=False,
        indent=2,
    )
