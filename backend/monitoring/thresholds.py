"""The one table of MKS's alert thresholds and runbook links, as kubernetes-mixin keeps its ``_config``.

rules.py writes the alerting rules from it, grafana/build_dashboards.py the dashboards' threshold
colours and lines, and the tests read it instead of repeating the numbers. Standard library only:
setup-monitoring.sh runs the generators with the system's python3.

Change a threshold here, then run ``python3 backend/monitoring/rules.py`` and
``python backend/monitoring/grafana/build_dashboards.py`` (CI checks both with ``--check``) and review
the promtool tests (prometheus/tests/*.test.yml), which feed values around the thresholds.
"""

from __future__ import annotations

import os
from typing import NamedTuple


class Threshold(NamedTuple):
    """The level of an alert pair: its warning and its critical alert (None: no alert of that severity).

    An alert fires above its level (``>``), never at it; the levels of what runs out (RUNNING_OUT: hours
    until a disk is full, days left on a certificate) fire below it (``<``).
    """

    warning: float | None
    critical: float | None
    unit: str  # as people read the level: "%", "秒", "件/秒", "" for a ratio


# The guide's levels (monitoring setup guide, アラートルール) and those added since; the alert names are in rules.py.
THRESHOLDS: dict[str, Threshold] = {
    "cpu_percent": Threshold(80, 95, "%"),  # HighCPUUsage / CriticalCPUUsage
    "memory_percent": Threshold(85, 95, "%"),  # HighMemoryUsage / CriticalMemoryUsage
    "disk_percent": Threshold(90, 98, "%"),  # HighDiskUsage / CriticalDiskUsage
    "latency_p95_seconds": Threshold(2, 5, "秒"),  # SlowAPIResponse / CriticalAPIResponse
    "error_ratio": Threshold(0.05, 0.15, ""),  # HighErrorRate / CriticalErrorRate
    "db_query_p95_seconds": Threshold(1, None, "秒"),  # MKSSlowDatabaseQueries
    "db_errors_per_second": Threshold(None, 0, "件/秒"),  # MKSDatabaseErrors: any
    "login_failures_per_second": Threshold(0.5, None, "件/秒"),  # MKSLoginFailureSpike: 30 a minute
    "rate_limit_hits_per_second": Threshold(1, None, "件/秒"),  # MKSRateLimitSpike
    "workers_busy_ratio": Threshold(0.8, None, ""),  # MKSWorkersSaturated
    # The dependencies, as their exporters see them (rules.py's group mks-dependencies).
    "postgres_connections_percent": Threshold(80, None, "%"),  # PostgreSQLTooManyConnections: of max_connections
    "postgres_transaction_seconds": Threshold(300, None, "秒"),  # PostgreSQLLongTransaction
    "postgres_deadlocks": Threshold(0, None, "件"),  # PostgreSQLDeadlocks: any in 5 minutes
    "postgres_growth_gb_per_day": Threshold(1, None, "GB/日"),  # PostgreSQLDatabaseGrowing
    "redis_memory_percent": Threshold(90, None, "%"),  # RedisMemoryNearLimit: of maxmemory
    "host_disk_full_hours": Threshold(24, None, "時間"),  # HostDiskWillFill: full within, at the 6h trend
    "host_memory_percent": Threshold(90, None, "%"),  # HostMemoryLow: used, as node-exporter sees it
    "tls_certificate_days": Threshold(14, None, "日"),  # TLSCertificateExpiring: days left
    "nginx_error_ratio": Threshold(0.05, None, ""),  # NginxHighErrorRate: 5xx of nginx's answers
}

# The levels that fire below (<): what is left of something that runs out.
RUNNING_OUT = {"host_disk_full_hours", "tls_certificate_days"}

# Requests per second besides scrapes and probes (over 5m) that the latency, error-rate and SLO alerts
# need: on a quiet instance, two slow or failed requests would be over 5 % on their own.
MINIMUM_REQUESTS_PER_SECOND = 0.1

# Where the runbook (docs/runbook.md) is read: every alert's runbook_url and every dashboard's link is
# this URL with the alert's anchor. The default is the runbook page of the backend itself (admins,
# /admin/runbook); an operator who publishes it elsewhere sets MKS_RUNBOOK_BASE_URL for setup-monitoring.sh.
DEFAULT_RUNBOOK_BASE_URL = "http://localhost:5100/admin/runbook"


def runbook_base_url() -> str:
    return os.environ.get("MKS_RUNBOOK_BASE_URL") or DEFAULT_RUNBOOK_BASE_URL


def runbook_url(anchor: str, base: str = DEFAULT_RUNBOOK_BASE_URL) -> str:
    """The absolute link to a section of the runbook: its anchor is the heading lowercased (an alert's name)."""
    return f"{base.rstrip('/')}#{anchor.lower()}"
