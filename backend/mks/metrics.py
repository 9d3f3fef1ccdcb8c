"""Every Prometheus metric of the service, in the monitoring guide's names, types and labels.

Counters and histograms are written by request, database and rate-limit hooks (see
``instrumentation``). Host and database-derived gauges are computed when scraped by
``ScrapeCollector``, with a short cache so a scrape storm cannot hammer the database.

Under gunicorn, ``PROMETHEUS_MULTIPROC_DIR`` makes every worker write its values to files that
``MultiProcessCollector`` sums at scrape time; each gauge below states how workers combine.
"""

from __future__ import annotations

import logging
import os
import platform
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import psutil
from flask import Request
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select, union
from werkzeug.routing import Rule

from . import __version__
from .models import Attachment, Knowledge, RevokedToken, Status, User, utcnow
from .multiprocess import LockedMultiProcessCollector

# The guide alerts on p95 > 2 s and > 5 s: both are bucket bounds, with resolution below for a fast API.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0)
QUERY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

# Closed label sets: nothing a client sends can add a series.
UNMATCHED_ENDPOINT = "<unmatched>"
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "OTHER"
# mks_errors_total{type}: the error response's status decides its type.
ERROR_TYPE_BY_STATUS = {
    400: "validation",  # malformed JSON
    413: "validation",
    414: "validation",  # request line or header field over the limits of mks.http_security
    431: "validation",
    415: "validation",
    422: "validation",
    401: "auth",  # missing, invalid, expired or revoked token; wrong credentials
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",  # version conflict, invalid status transition, duplicates
    429: "rate_limited",
    500: "internal",  # unexpected exception
    503: "db_error",  # database unreachable or failing
}
ERROR_TYPES = tuple(dict.fromkeys(ERROR_TYPE_BY_STATUS.values()))
AUTH_STATUSES = ("success", "failure", "locked", "rate_limited")
# The 5xx statuses the app answers (ERROR_TYPE_BY_STATUS), which the error-rate alerts count.
SERVER_ERROR_STATUSES = ("500", "503")
DB_OPERATIONS = ("select", "insert", "update", "delete", "other")


def endpoint_label(request: Request | None) -> str:
    """The route template a request matched (never the raw path)."""
    rule = request.url_rule if request is not None else None
    return rule.rule if rule is not None else UNMATCHED_ENDPOINT


def method_label(method: str) -> str:
    """The request method, with non-standard methods folded into one value."""
    return method if method in HTTP_METHODS else OTHER_METHOD


def statement_operation(statement: str) -> str:
    """select/insert/update/delete from a SQL statement's first word; everything else is other."""
    word = statement.lstrip().split(None, 1)[0].lower() if statement.strip() else ""
    if word == "with":  # a CTE: the verb comes later; treat as a read unless it writes
        lowered = statement.lower()
        word = next((verb for verb in ("insert", "update", "delete") if verb in lowered), "select")
    return word if word in DB_OPERATIONS else "other"


class Metrics:
    """The metric objects of one app; in multiprocess mode their values live in the shared directory."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.http_requests = Counter(
            "mks_http_requests_total",
            "HTTP リクエスト数（全応答）",
            ["method", "endpoint", "status"],
            registry=registry,
        )
        self.http_request_duration = Histogram(
            "mks_http_request_duration_seconds",
            "HTTP リクエストのアプリ内処理時間（秒）",
            ["method", "endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.http_requests_in_progress = Gauge(
            "mks_http_requests_in_progress",
            "処理中の HTTP リクエスト数",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.http_request_queue = Histogram(
            "mks_http_request_queue_seconds",
            "リバースプロキシが受けてからワーカーが処理を始めるまでの待ち時間（秒、X-Request-Start から）",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.http_worker_threads = Gauge(
            "mks_http_worker_threads",
            "要求を同時に処理できるスレッド数（全ワーカー合計。mks_http_requests_in_progress と比べる）",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.api_calls = Counter(
            "mks_api_calls_total", "/api/ への呼び出し数", ["endpoint", "method"], registry=registry
        )
        self.errors = Counter("mks_errors_total", "エラー応答数（種類別）", ["type", "endpoint"], registry=registry)
        self.database_query_duration = Histogram(
            "mks_database_query_duration_seconds",
            "SQL 文の実行時間（秒）",
            ["operation"],
            buckets=QUERY_BUCKETS,
            registry=registry,
        )
        self.database_query_errors = Counter(
            "mks_database_query_errors_total",
            "失敗した SQL 文の数（ロック待ちの打ち切り・接続断など。時間は実行時間のヒストグラムにも入る）",
            ["operation"],
            registry=registry,
        )
        self.database_connections = Gauge(
            "mks_database_connections",
            "プールから貸し出し中の DB 接続数（全ワーカー合計）",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.start_time = Gauge(
            "mks_start_time_seconds",
            "アプリの起動時刻（UNIX 秒、最も古い稼働中ワーカー）",
            registry=registry,
            multiprocess_mode="livemin",
        )
        self.start_time.set_to_current_time()
        self.auth_attempts = Counter(
            "mks_auth_attempts_total", "ログイン試行数（結果別）", ["status"], registry=registry
        )
        self.notifications = Counter(
            "mks_notifications_total",
            "レビュー通知の配信（channel: email / webhook、result: sent 配信済み / retried 再試行待ち / failed 断念）",
            ["channel", "result"],
            registry=registry,
        )
        self.rate_limit_hits = Counter(
            "mks_rate_limit_hits_total", "レート制限で拒否したリクエスト数", ["endpoint"], registry=registry
        )
        self.rate_limit_storage_errors = Counter(
            "mks_rate_limit_storage_errors_total",
            "レート制限のストレージ（Redis）に届かず、制限なしで通したリクエスト数",
            registry=registry,
        )

    def start_known_series(self, routes: Iterable[Rule]) -> None:
        """Export at 0, from the start, every label set of a counter an alert reads.

        A series born at its first increment starts at 1, and rate() and increase() see no change:
        one database error would never fire MKSDatabaseErrors, nor five failed logins count. The
        sets are closed and bounded by the routes (the README's metrics section counts them): errors by type ×
        route template, rate-limit refusals by route template, login outcomes, and the 5xx
        answers of each route's methods. Every worker writes its own zeros (multiprocess mode),
        so a scrape has them whichever workers have answered.
        """
        endpoints = {UNMATCHED_ENDPOINT: None}
        for rule in routes:
            endpoints[rule.rule] = None
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                for status in SERVER_ERROR_STATUSES:
                    self.http_requests.labels(method=method, endpoint=rule.rule, status=status)
        for endpoint in endpoints:
            for error_type in ERROR_TYPES:
                self.errors.labels(type=error_type, endpoint=endpoint)
            self.rate_limit_hits.labels(endpoint=endpoint)
        for status in AUTH_STATUSES:
            self.auth_attempts.labels(status=status)


@dataclass(frozen=True)
class DatabaseCounts:
    knowledge_total: int
    active_users: int
    revoked_tokens: int
    review_due: int
    attachment_bytes: int


class ScrapeCollector(Collector):
    """Gauges computed when scraped: host resources, database-derived counts, build info."""

    def __init__(
        self,
        data_path: Path,
        count_database: Callable[[], DatabaseCounts],
        database_name: str,
        cache_seconds: float,
    ) -> None:
        self._data_path = data_path
        self._count_database = count_database
        self._database_name = database_name
        self._cache_seconds = cache_seconds
        self._cached: tuple[float, DatabaseCounts] | None = None
        self._lock = threading.Lock()
        # cpu_percent(None) reports usage since the previous call: prime it so the first scrape is real.
        psutil.cpu_percent(interval=None)

    def _database_counts(self) -> DatabaseCounts | None:
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] >= self._cache_seconds:
                try:
                    self._cached = (now, self._count_database())
                except Exception:  # a scrape must succeed even when the database does not
                    logging.getLogger(__name__).warning("database gauges unavailable", exc_info=True)
                    return None
            return self._cached[1]

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "mks_system_cpu_usage_percent", "ホストの CPU 使用率（%）", value=psutil.cpu_percent(interval=None)
        )
        memory = psutil.virtual_memory()
        yield GaugeMetricFamily("mks_system_memory_usage_percent", "ホストのメモリ使用率（%）", value=memory.percent)
        yield GaugeMetricFamily("mks_system_memory_total_bytes", "ホストのメモリ総量（バイト）", value=memory.total)
        disk = psutil.disk_usage(str(self._data_path))
        yield GaugeMetricFamily(
            "mks_system_disk_usage_percent", "データディレクトリのあるファイルシステムの使用率（%）", value=disk.percent
        )
        yield GaugeMetricFamily(
            "mks_system_disk_total_bytes", "データディレクトリのあるファイルシステムの容量（バイト）", value=disk.total
        )
        counts = self._database_counts()
        if counts is not None:
            yield GaugeMetricFamily("mks_knowledge_total", "ナレッジ総数（全ステータス）", value=counts.knowledge_total)
            yield GaugeMetricFamily(
                "mks_knowledge_review_due",
                "見直し期限（review_due）が今日（UTC）以前のナレッジ数（アーカイブを除く）",
                value=counts.review_due,
            )
            yield GaugeMetricFamily(
                "mks_attachment_storage_bytes",
                "添付ファイル（写真・PDF とサムネイル）の保存容量（バイト。同じ内容は 1 回だけ数える）",
                value=counts.attachment_bytes,
            )
            yield GaugeMetricFamily(
                "mks_active_users", "直近の時間枠に認証済みの操作をしたユーザー数", value=counts.active_users
            )
            yield GaugeMetricFamily(
                "mks_revoked_tokens", "失効リストの行数（期限切れで未削除の行を含む）", value=counts.revoked_tokens
            )
        build = GaugeMetricFamily(
            "mks_build_info", "MKS のバージョンと実行環境", labels=["version", "python", "database"]
        )
        build.add_metric([__version__, platform.python_version(), self._database_name], 1)
        yield build


def multiprocess_directory() -> str | None:
    """The multiprocess directory when running under several processes, else None."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR")


def build_registries(scrape_collector: ScrapeCollector) -> tuple[CollectorRegistry | None, CollectorRegistry]:
    """The registry the metrics are defined in, and the registry a scrape reads.

    Single process: one registry for both, with the process, platform and GC collectors.
    Multiprocess: the metrics belong to no registry (they write files), and the scrape registry
    sums the files of all workers (and the archive of dead ones). Process collectors are left out
    there: they would describe only the worker that happens to answer the scrape.
    """
    directory = multiprocess_directory()
    scrape = CollectorRegistry()
    if directory:
        LockedMultiProcessCollector(scrape, path=directory)
        definitions = None
    else:
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            scrape.register(collector)
        definitions = scrape
    scrape.register(scrape_collector)
    return definitions, scrape


# Blobs are content-addressed: each distinct stored file (and thumbnail) counts once, however many refer to it.
_BLOBS = union(
    select(Attachment.blob.label("key"), Attachment.size.label("bytes")),
    select(Attachment.thumbnail_blob, Attachment.thumbnail_size).where(Attachment.thumbnail_blob.is_not(None)),
).subquery()
_STORED_BYTES = select(func.coalesce(func.sum(_BLOBS.c.bytes), 0))


def database_counter(engine: Engine, active_window: timedelta) -> Callable[[], DatabaseCounts]:
    """A function counting knowledge entries (all, and due for review), recently active users, revocations and
    stored attachment bytes, with its own connection."""

    def count() -> DatabaseCounts:
        since = utcnow() - active_window
        with engine.connect() as connection:
            due = (Knowledge.review_due <= utcnow().date()) & (Knowledge.status != Status.ARCHIVED)
            knowledge_total, review_due = connection.execute(
                select(func.count(), func.count().filter(due)).select_from(Knowledge)
            ).one()
            active_users = (
                connection.scalar(select(func.count()).select_from(User).where(User.last_seen_at >= since)) or 0
            )
            revoked_tokens = connection.scalar(select(func.count()).select_from(RevokedToken)) or 0
            attachment_bytes = connection.scalar(_STORED_BYTES) or 0
        return DatabaseCounts(
            knowledge_total=knowledge_total,
            active_users=active_users,
            revoked_tokens=revoked_tokens,
            review_due=review_due,
            attachment_bytes=attachment_bytes,
        )

    return count
