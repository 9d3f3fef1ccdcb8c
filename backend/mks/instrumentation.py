"""Hooks that feed the metrics: the request pipeline, the database engine and the rate limiter."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from flask import Flask, Request, current_app, request
from flask_limiter import RequestLimit
from prometheus_client import Counter, Histogram
from sqlalchemy import Engine, event

from .config import Settings
from .metrics import (
    DB_OPERATIONS,
    Metrics,
    ScrapeCollector,
    build_registries,
    database_counter,
    endpoint_label,
    method_label,
    statement_operation,
)
from .proxies import from_trusted_proxy

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

EXTENSION = "mks_metrics"
# The API's and the sign-in page's login: a refused attempt at either is a rate-limited login.
LOGIN_ENDPOINTS = frozenset({"auth.login", "pages.login"})


def current_metrics() -> Metrics | None:
    """The app's metrics, or None when instrumentation is switched off."""
    metrics: Metrics | None = current_app.extensions.get(EXTENSION)
    return metrics


def start_known_series(app: Flask) -> None:
    """Export the alerts' counters at 0 for every route (Metrics.start_known_series): call once all are added."""
    metrics: Metrics | None = app.extensions.get(EXTENSION)
    if metrics is not None:
        metrics.start_known_series(app.url_map.iter_rules())


def count_error(error_type: str) -> None:
    """Count one error response of the current request."""
    if (metrics := current_metrics()) is not None:
        metrics.errors.labels(type=error_type, endpoint=endpoint_label(request)).inc()


def count_auth_attempt(status: str) -> None:
    """Count one login outcome."""
    if (metrics := current_metrics()) is not None:
        metrics.auth_attempts.labels(status=status).inc()


def count_rate_limit_hit(_limit: RequestLimit) -> None:
    """flask-limiter's breach callback: count the refused request (and a refused login attempt)."""
    if (metrics := current_metrics()) is not None:
        metrics.rate_limit_hits.labels(endpoint=endpoint_label(request)).inc()
        if request.endpoint in LOGIN_ENDPOINTS:
            metrics.auth_attempts.labels(status="rate_limited").inc()


def count_rate_limit_storage_error() -> None:
    """Count one request let through because the rate-limit storage failed."""
    if (metrics := current_metrics()) is not None:
        metrics.rate_limit_storage_errors.inc()


class _RequestSeries(NamedTuple):
    """The series one answered request adds to (api_calls only for /api/ paths)."""

    responses: Counter
    duration: Histogram
    api_calls: Counter | None


# A proxy's X-Request-Start older than this is a wrong clock or a forged header, not a queue.
MAX_QUEUE_SECONDS = 600.0


def queue_seconds(header: str, now: float) -> float | None:
    """How long ago a proxy stamped the request, from X-Request-Start: ``t=<seconds>`` (nginx's $msec), or
    milliseconds or microseconds since the epoch (other proxies); None when it is not a time."""
    try:
        stamp = float(header.removeprefix("t="))
    except ValueError:
        return None
    for scale in (1.0, 1e3, 1e6):  # seconds, milliseconds, microseconds: told apart by their size
        if stamp / scale < 1e11:
            waited = now - stamp / scale
            return max(waited, 0.0) if waited < MAX_QUEUE_SECONDS else None
    return None


class RequestMetrics:
    """WSGI middleware around the Flask app: times, counts and tracks every request in one place.

    It sits outside Flask's request pipeline, so refused (429), failed (500) and unrouted (404)
    requests are measured like any other, and no Flask hook or context-local lookup is added to
    the request's way through the app.
    """

    def __init__(self, wsgi_app: WSGIApplication, metrics: Metrics) -> None:
        self._wsgi_app = wsgi_app
        self._in_progress = metrics.http_requests_in_progress
        self._queue = metrics.http_request_queue

        # Each label set's children are looked up once: the sets are closed (route templates,
        # folded methods, statuses), and labels() costs more than the increment itself.
        @functools.cache
        def series(method: str, endpoint: str, status: str, api: bool) -> _RequestSeries:
            return _RequestSeries(
                metrics.http_requests.labels(method=method, endpoint=endpoint, status=status),
                metrics.http_request_duration.labels(method=method, endpoint=endpoint),
                metrics.api_calls.labels(endpoint=endpoint, method=method) if api else None,
            )

        self._series = series

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        answered: list[_RequestSeries] = []

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answered.append(self._series_of(environ, status))
            return start_response(status, headers, exc_info)

        self._in_progress.inc()
        started = time.perf_counter()
        # Only a trusted proxy's stamp counts (TrustedProxyFix is outside this middleware).
        stamp = environ.get("HTTP_X_REQUEST_START")
        if stamp is not None and from_trusted_proxy(environ):
            waited = queue_seconds(stamp, time.time())
            if waited is not None:
                self._queue.observe(waited)
        try:
            return self._wsgi_app(environ, start)
        finally:
            elapsed = time.perf_counter() - started
            self._in_progress.dec()
            if answered:  # not when the server stopped the worker mid-request
                responses, duration, api_calls = answered[-1]
                responses.inc()
                duration.observe(elapsed)
                if api_calls is not None:
                    api_calls.inc()

    def _series_of(self, environ: WSGIEnvironment, status: str) -> _RequestSeries:
        # Flask starts the response while its request context is still pushed, so its request
        # object (which werkzeug keeps in the environ) still holds the matched route.
        request: Request | None = environ.get("werkzeug.request")
        return self._series(
            method_label(request.method if request is not None else ""),
            endpoint_label(request),
            status.split(" ", 1)[0],
            request is not None and request.path.startswith("/api/"),
        )


def _instrument_engine(engine: Engine, metrics: Metrics) -> None:
    # Every operation's series exists from the start (zero until used).
    by_operation = {name: metrics.database_query_duration.labels(operation=name) for name in DB_OPERATIONS}
    failures = {name: metrics.database_query_errors.labels(operation=name) for name in DB_OPERATIONS}
    dialect = engine.dialect

    # SQLAlchemy hands over the same compiled strings again and again: classify each one once.
    operation_of = functools.lru_cache(maxsize=1024)(statement_operation)

    # Each hook runs the dialect's own execute and times it (returning True tells SQLAlchemy the
    # statement ran): one event per statement instead of a before/after pair. A failed statement is
    # timed too, and counted: a write that waited 5 s on a lock and failed took 5 s (before, the p95
    # stayed at 0.5 ms while every write failed).
    def timed(execute: Callable[..., object]) -> Callable[..., bool]:
        def run(cursor: Any, statement: str, *arguments: Any) -> bool:
            operation = operation_of(statement)
            started = time.perf_counter()
            try:
                execute(cursor, statement, *arguments)
            except Exception:
                failures[operation].inc()
                raise
            finally:
                by_operation[operation].observe(time.perf_counter() - started)
            return True

        return run

    event.listen(engine, "do_execute", timed(dialect.do_execute))
    event.listen(engine, "do_execute_no_params", timed(dialect.do_execute_no_params))
    event.listen(engine, "do_executemany", timed(dialect.do_executemany))

    @event.listens_for(engine.pool, "checkout")
    def connection_out(*_args: Any) -> None:
        metrics.database_connections.inc()

    @event.listens_for(engine.pool, "checkin")
    def connection_in(*_args: Any) -> None:
        metrics.database_connections.dec()


def init_app(app: Flask, settings: Settings, engine: Engine) -> None:
    """Create the metrics, hook them into the request pipeline and the engine, keep the scrape registry."""
    if not settings.metrics_enabled:
        return
    scrape_collector = ScrapeCollector(
        data_path=settings.instance_path,
        count_database=database_counter(engine, settings.active_user_window),
        database_name=engine.dialect.name,
        cache_seconds=settings.metrics_cache_seconds,
    )
    definitions, scrape = build_registries(scrape_collector)
    metrics = Metrics(definitions)
    metrics.http_worker_threads.set(settings.threads)  # each worker's; summed over the live workers
    app.extensions[EXTENSION] = metrics
    app.extensions["mks_scrape_registry"] = scrape
    app.wsgi_app = RequestMetrics(app.wsgi_app, metrics)  # type: ignore[method-assign]
    _instrument_engine(engine, metrics)
    app.config["RATELIMIT_ON_BREACH_CALLBACK"] = count_rate_limit_hit
