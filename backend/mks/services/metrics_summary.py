"""The human-readable metrics summary, computed from the same registry a Prometheus scrape reads."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Iterable

from prometheus_client import CollectorRegistry
from prometheus_client.samples import Sample

TOP_ENDPOINTS = 5
Buckets = dict[float, float]


def histogram_quantile(quantile: float, buckets: Buckets) -> float | None:
    """Estimate a quantile from cumulative buckets the way PromQL's histogram_quantile does.

    Linear interpolation inside the bucket holding the rank; a rank in the +Inf bucket answers the
    highest finite bound. None when there are no observations.
    """
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] == 0:
        return None
    rank = quantile * buckets[bounds[-1]]
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


class Samples:
    """Every sample of one scrape, indexed by sample name."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.by_name: dict[str, list[Sample]] = defaultdict(list)
        for family in registry.collect():
            for sample in family.samples:
                self.by_name[sample.name].append(sample)

    def value(self, name: str) -> float | None:
        """The value of an unlabelled sample, or None when absent."""
        found = self.by_name.get(name)
        return found[0].value if found else None

    def sum_by(self, name: str, label: str) -> dict[str, float]:
        """Sample values summed per value of one label."""
        totals: dict[str, float] = defaultdict(float)
        for sample in self.by_name.get(name, ()):
            totals[sample.labels[label]] += sample.value
        return dict(totals)

    def buckets_by(self, name: str, label: str | None) -> dict[str, Buckets]:
        """Cumulative histogram buckets summed per value of a label (or overall with None)."""
        grouped: dict[str, Buckets] = defaultdict(lambda: defaultdict(float))
        for sample in self.by_name.get(f"{name}_bucket", ()):
            key = sample.labels[label] if label else ""
            grouped[key][float(sample.labels["le"])] += sample.value
        return {key: dict(buckets) for key, buckets in grouped.items()}


def _rounded(value: float | None, digits: int = 6) -> float | None:
    return round(value, digits) if value is not None else None


def _status_classes(requests_by_status: dict[str, float]) -> dict[str, int]:
    classes = {"2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0}
    for status, count in requests_by_status.items():
        key = f"{status[0]}xx"
        if key in classes:
            classes[key] += int(count)
    return classes


def _top(items: Iterable[tuple[str, float]], limit: int = TOP_ENDPOINTS) -> list[tuple[str, float]]:
    return sorted(items, key=lambda item: (-item[1], item[0]))[:limit]


def summarize(registry: CollectorRegistry) -> dict[str, object]:
    """The summary document served at /api/metrics/summary."""
    samples = Samples(registry)
    by_status = samples.sum_by("mks_http_requests_total", "status")
    total = int(sum(by_status.values()))
    classes = _status_classes(by_status)
    overall = samples.buckets_by("mks_http_request_duration_seconds", None).get("", {})
    per_endpoint = samples.buckets_by("mks_http_request_duration_seconds", "endpoint")
    calls = samples.sum_by("mks_http_requests_total", "endpoint")
    p95_by_endpoint = {endpoint: histogram_quantile(0.95, buckets) for endpoint, buckets in per_endpoint.items()}
    started = samples.value("mks_start_time_seconds")
    build = samples.by_name.get("mks_build_info", [])
    queries = samples.buckets_by("mks_database_query_duration_seconds", None).get("", {})
    return {
        "system": {
            "cpu_percent": samples.value("mks_system_cpu_usage_percent"),
            "memory_percent": samples.value("mks_system_memory_usage_percent"),
            "memory_total_bytes": samples.value("mks_system_memory_total_bytes"),
            "disk_percent": samples.value("mks_system_disk_usage_percent"),
            "disk_total_bytes": samples.value("mks_system_disk_total_bytes"),
        },
        "application": {
            "version": build[0].labels["version"] if build else None,
            "database": build[0].labels["database"] if build else None,
            "knowledge_total": samples.value("mks_knowledge_total"),
            "active_users": samples.value("mks_active_users"),
            "uptime_seconds": _rounded(time.time() - started, 3) if started else None,
        },
        "requests": {
            "total": total,
            "by_status_class": classes,
            "error_rate": round(classes["5xx"] / total, 6) if total else 0.0,
            "in_progress": samples.value("mks_http_requests_in_progress"),
        },
        "latency_seconds": {f"p{int(q * 100)}": _rounded(histogram_quantile(q, overall)) for q in (0.5, 0.95, 0.99)},
        "top_endpoints": {
            "by_calls": [{"endpoint": endpoint, "calls": int(count)} for endpoint, count in _top(calls.items())],
            "by_p95": [
                {"endpoint": endpoint, "p95_seconds": _rounded(p95), "calls": int(calls.get(endpoint, 0))}
                for endpoint, p95 in _top((e, p) for e, p in p95_by_endpoint.items() if p is not None)
            ],
        },
        "errors": {key: int(value) for key, value in samples.sum_by("mks_errors_total", "type").items()},
        "auth_attempts": {
            key: int(value) for key, value in samples.sum_by("mks_auth_attempts_total", "status").items()
        },
        # Every route's series is exported from 0: only the endpoints that refused a request are listed.
        "rate_limit_hits": {
            key: int(value) for key, value in samples.sum_by("mks_rate_limit_hits_total", "endpoint").items() if value
        },
        "database": {
            "connections": samples.value("mks_database_connections"),
            "queries": int(queries.get(math.inf, 0)),
            "query_p95_seconds": _rounded(histogram_quantile(0.95, queries)),
        },
    }
