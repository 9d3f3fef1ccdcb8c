"""Hooks that feed the metrics: the request pipeline, the database engine and the rate limiter."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, g, request
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

EXTENSION = "mks_metrics"
LOGIN_ENDPOINT = "auth.login"


def current_metrics() -> Metrics | None:
    """The app's metrics, or None when instrumentation is switched off."""
    metrics: Metrics | None = current_app.extensions.get(EXTENSION)
    return metrics


def count_error(error_type: str) -> None:
    """Count one error response of the current request."""
    if (metrics := current_metrics()) is not None:
        metrics.errors.labels(type=error_type, endpoint=endpoint_label()).inc()


def count_auth_attempt(status: str) -> None:
    """Count one login outcome."""
    if (metrics := current_metrics()) is not None:
        metrics.auth_attempts.labels(status=status).inc()


def count_rate_limit_hit(_limit: RequestLimit) -> None:
    """flask-limiter's breach callback: count the refused request (and a refused login attempt)."""
    if (metrics := current_metrics()) is not None:
        metrics.rate_limit_hits.labels(endpoint=endpoint_label()).inc()
        if request.endpoint == LOGIN_ENDPOINT:
            metrics.auth_attempts.labels(status="rate_limited").inc()


def _instrument_requests(app: Flask, metrics: Metrics) -> None:
    # Each label set's child is looked up once: the sets are closed (route templates, folded
    # methods, statuses), and labels() costs more than the increment itself.
    @functools.cache
    def responses(method: str, endpoint: str, status: int) -> Counter:
        return metrics.http_requests.labels(method=method, endpoint=endpoint, status=str(status))

    @functools.cache
    def durations(method: str, endpoint: str) -> Histogram:
        return metrics.http_request_duration.labels(method=method, endpoint=endpoint)

    @functools.cache
    def api_calls(method: str, endpoint: str) -> Counter:
        return metrics.api_calls.labels(endpoint=endpoint, method=method)

    # Registered before the rate limiter's hook, so refused requests are timed and counted too.
    @app.before_request
    def start_request() -> None:
        g.mks_request_started = time.perf_counter()
        metrics.http_requests_in_progress.inc()

    @app.after_request
    def record_request(response: Response) -> Response:
        started = g.get("mks_request_started")
        endpoint, method = endpoint_label(), method_label()
        responses(method, endpoint, response.status_code).inc()
        if started is not None:
            durations(method, endpoint).observe(time.perf_counter() - started)
        if request.path.startswith("/api/"):
            api_calls(method, endpoint).inc()
        return response

    @app.teardown_request
    def finish_request(_exc: BaseException | None) -> None:
        if g.pop("mks_request_started", None) is not None:
            metrics.http_requests_in_progress.dec()


def _instrument_engine(engine: Engine, metrics: Metrics) -> None:
    # Every operation's series exists from the start (zero until used).
    by_operation = {name: metrics.database_query_duration.labels(operation=name) for name in DB_OPERATIONS}
    dialect = engine.dialect

    # SQLAlchemy hands over the same compiled strings again and again: classify each one once.
    @functools.lru_cache(maxsize=1024)
    def durations(statement: str) -> Histogram:
        return by_operation[statement_operation(statement)]

    def timed(statement: str, run: Callable[[], object]) -> bool:
        started = time.perf_counter()
        run()
        durations(statement).observe(time.perf_counter() - started)
        return True

    # Each hook runs the dialect's own execute and times it (returning True tells SQLAlchemy the
    # statement ran): one event per statement instead of a before/after pair, and nothing to
    # clean up when it fails (a failed statement is not timed).
    @event.listens_for(engine, "do_execute")
    def execute(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
        return timed(statement, lambda: dialect.do_execute(cursor, statement, parameters, context))

    @event.listens_for(engine, "do_execute_no_params")
    def execute_no_params(cursor: Any, statement: str, context: Any) -> bool:
        return timed(statement, lambda: dialect.do_execute_no_params(cursor, statement, context))

    @event.listens_for(engine, "do_executemany")
    def execute_many(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
        return timed(statement, lambda: dialect.do_executemany(cursor, statement, parameters, context))

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
    app.extensions[EXTENSION] = metrics
    app.extensions["mks_scrape_registry"] = scrape
    _instrument_requests(app, metrics)
    _instrument_engine(engine, metrics)
    app.config["RATELIMIT_ON_BREACH_CALLBACK"] = count_rate_limit_hit
