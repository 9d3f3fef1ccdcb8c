"""Every metric holds its exact value after real requests, in one process, on SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry
from sqlalchemy import event

from mks.app import create_app
from mks.config import Settings
from mks.instrumentation import queue_seconds
from mks.metrics import (
    AUTH_STATUSES,
    ERROR_TYPES,
    LATENCY_BUCKETS,
    QUERY_BUCKETS,
    SERVER_ERROR_STATUSES,
    UNMATCHED_ENDPOINT,
    statement_operation,
)

from .conftest import PASSWORDS, database_outage, make_settings
from .metrics_script import (
    LOGIN_LIMIT,
    assert_script_metrics,
    knowledge_table_locked,
    parse,
    run_script,
)
from .workflow import created_in


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path / "instance", ratelimit_login_per_username=LOGIN_LIMIT)


def registry(app: Flask) -> CollectorRegistry:
    return app.extensions["mks_scrape_registry"]  # type: ignore[no-any-return]


def value(app: Flask, name: str, **labels: str) -> float | None:
    return registry(app).get_sample_value(name, labels)


def scrape(client: FlaskClient, **headers: str) -> str:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_scripted_sequence_gives_exact_values(app: Flask, client: FlaskClient, settings: Settings) -> None:
    def send(method: str, path: str, body: dict[str, Any] | None, headers: dict[str, str]) -> tuple[int, Any]:
        response = client.open(path, method=method, json=body, headers=headers)
        return response.status_code, response.json

    run_script(send, PASSWORDS["admin"], lambda: knowledge_table_locked(settings.effective_database_url))
    assert_script_metrics(scrape(client))


def test_statements_without_parameters_and_executemany_are_timed_once(app: Flask) -> None:
    engine = app.extensions["mks_db"].engine
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    before = {
        op: value(app, "mks_database_query_duration_seconds_count", operation=op) or 0 for op in ("select", "insert")
    }
    marker = "?" if engine.dialect.name == "sqlite" else "%s"
    with engine.begin() as connection:
        connection.execution_options(no_parameters=True).exec_driver_sql("SELECT 1")
        connection.exec_driver_sql(
            f"INSERT INTO categories (name, created_at) VALUES ({marker}, {marker})",
            [("計測分類A", "2026-01-01 00:00:00"), ("計測分類B", "2026-01-01 00:00:00")],
        )
    assert "SELECT 1" in statements
    for op in before:
        expected = before[op] + sum(1 for statement in statements if statement_operation(statement) == op)
        assert value(app, "mks_database_query_duration_seconds_count", operation=op) == expected


def test_database_query_histogram_counts_every_statement(
    app: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    statements: list[str] = []
    event.listen(app.extensions["mks_db"].engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    before = {
        op: value(app, "mks_database_query_duration_seconds_count", operation=op) or 0
        for op in ("select", "insert", "update", "delete", "other")
    }
    response = client.post(
        "/api/v1/knowledge", json={"title": "計測", "category": "安全", "tags": ["新規タグ"]}, headers=admin
    )
    assert response.status_code == 201
    inserts = [s for s in statements if statement_operation(s) == "insert"]
    assert any("INSERT INTO knowledge " in s for s in inserts)
    assert any("INSERT INTO knowledge_revisions" in s for s in inserts)
    assert any("INSERT INTO tags" in s for s in inserts)
    for op in before:
        expected = before[op] + sum(1 for s in statements if statement_operation(s) == op)
        assert (value(app, "mks_database_query_duration_seconds_count", operation=op) or 0) == expected


@pytest.mark.parametrize(
    ("statement", "operation"),
    [
        ("SELECT 1", "select"),
        ("  insert into x values (1)", "insert"),
        ("UPDATE users SET a=1", "update"),
        ("DELETE FROM t", "delete"),
        ("WITH a AS (SELECT 1) SELECT * FROM a", "select"),
        ("WITH a AS (SELECT 1) DELETE FROM t", "delete"),
        ("PRAGMA foreign_keys=ON", "other"),
        ("BEGIN", "other"),
        ("", "other"),
    ],
)
def test_statement_operations(statement: str, operation: str) -> None:
    assert statement_operation(statement) == operation


def test_the_alerts_counters_start_at_zero_for_every_route(app: Flask, client: FlaskClient) -> None:
    """One error after start-up is an increase from 0, which rate() sees: no series is born at 1."""
    samples = parse(scrape(client))
    templates = {rule.rule for rule in app.url_map.iter_rules()}
    endpoints = templates | {UNMATCHED_ENDPOINT}
    methods = {
        (method, rule.rule) for rule in app.url_map.iter_rules() for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    errors = samples["mks_errors_total"]
    assert len(errors) == len(ERROR_TYPES) * len(endpoints) == 9 * 67
    assert set(errors.values()) == {0}
    assert samples["mks_auth_attempts_total"] == {(("status", status),): 0 for status in AUTH_STATUSES}
    assert samples["mks_rate_limit_hits_total"] == {(("endpoint", endpoint),): 0 for endpoint in endpoints}
    server_errors = {
        labels: found
        for labels, found in samples["mks_http_requests_total"].items()
        if dict(labels)["status"] in SERVER_ERROR_STATUSES
    }
    assert len(server_errors) == len(methods) * 2 == 87 * 2
    assert set(server_errors.values()) == {0}


NOW = 1_733_200_000.0


@pytest.mark.parametrize(
    ("header", "waited"),
    [
        ("t=1733199999.750", 0.25),  # nginx: "t=${msec}", seconds
        ("1733199999750", 0.25),  # milliseconds
        ("t=1733199999750000", 0.25),  # microseconds
        ("t=1733200001.000", 0.0),  # the proxy's clock a little ahead: no negative wait
        ("t=1733199000.000", None),  # older than MAX_QUEUE_SECONDS: not a queue
        ("t=", None),
        ("t=soon", None),
        ("t=nan", None),
        ("-5", None),
    ],
)
def test_queue_seconds_reads_the_proxys_stamp(header: str, waited: float | None) -> None:
    assert queue_seconds(header, NOW) == waited


def test_queue_time_is_measured_from_a_trusted_proxys_stamp_only(app: Flask, client: FlaskClient) -> None:
    def counted(bound: str) -> float | None:
        return value(app, "mks_http_request_queue_seconds_bucket", le=bound)

    stamp = {"X-Request-Start": f"t={time.time() - 0.3:.3f}"}
    assert client.get("/health", headers=stamp).status_code == 200  # from 127.0.0.1: a trusted proxy
    assert (counted("0.25"), counted("0.5"), counted("+Inf")) == (0, 1, 1)
    assert client.get("/health", headers=stamp, environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code == 200
    assert client.get("/health").status_code == 200  # no stamp
    assert value(app, "mks_http_request_queue_seconds_count") == 1
    assert value(app, "mks_http_worker_threads") == 2  # MKS_THREADS of this one process


def test_unknown_paths_add_no_series(app: Flask, client: FlaskClient) -> None:
    client.get("/unknown/0")
    before = sum(
        len(f.samples)
        for f in registry(app).collect()
        if f.name.startswith("mks_http") or f.name.startswith("mks_errors")
    )
    for number in range(1, 10_001):
        assert client.get(f"/unknown/{number}?x={number}").status_code == 404
    after = sum(
        len(f.samples)
        for f in registry(app).collect()
        if f.name.startswith("mks_http") or f.name.startswith("mks_errors")
    )
    assert after == before
    assert value(app, "mks_http_requests_total", method="GET", endpoint="<unmatched>", status="404") == 10_001
    assert value(app, "mks_errors_total", type="not_found", endpoint="<unmatched>") == 10_001


def test_unusual_methods_share_one_label(app: Flask, client: FlaskClient) -> None:
    for method in ("FOO", "BAR", "PROPFIND"):
        client.open("/health", method=method)
    # A 405 matches no route (the method is part of routing), so it shares the unmatched endpoint too.
    assert value(app, "mks_http_requests_total", method="OTHER", endpoint="<unmatched>", status="405") == 3


def test_unexpected_errors_are_counted_and_leave_nothing_in_progress(app: Flask, client: FlaskClient) -> None:
    def explode(number: int) -> None:
        raise RuntimeError(f"boom {number}")

    app.add_url_rule("/api/v1/explode/<int:number>", view_func=explode)
    for number in range(3):
        assert client.get(f"/api/v1/explode/{number}").status_code == 500
    labels = {"method": "GET", "endpoint": "/api/v1/explode/<int:number>"}
    assert value(app, "mks_http_requests_total", status="500", **labels) == 3
    assert value(app, "mks_http_request_duration_seconds_count", **labels) == 3
    assert value(app, "mks_api_calls_total", **labels) == 3
    assert value(app, "mks_errors_total", type="internal", endpoint=labels["endpoint"]) == 3
    assert value(app, "mks_http_requests_in_progress") == 0


def test_no_identities_in_labels(app: Flask, client: FlaskClient, auth: Any) -> None:
    headers = auth.headers("yamada")
    client.get("/api/v1/auth/me", headers=headers)
    text = scrape(client)
    for secret in ("yamada", "admin-pass", headers["Authorization"][7:27]):
        assert secret not in text


def test_buckets_fit_the_alerts() -> None:
    assert 2.0 in LATENCY_BUCKETS and 5.0 in LATENCY_BUCKETS
    assert LATENCY_BUCKETS[0] <= 0.005
    assert 1.0 in QUERY_BUCKETS


def test_scrape_time_gauges(app: Flask, client: FlaskClient, admin: dict[str, str], settings: Settings) -> None:
    client.post("/api/v1/knowledge", json={"title": "一件目", "category": "安全"}, headers=admin)
    client.post("/api/v1/knowledge", json={"title": "二件目", "category": "安全"}, headers=admin)
    client.get("/api/v1/auth/me", headers={"Authorization": admin["Authorization"]})
    samples = parse(scrape(client))
    assert samples["mks_knowledge_total"][()] == 2
    assert samples["mks_active_users"][()] == 1
    assert samples["mks_system_memory_total_bytes"][()] == psutil.virtual_memory().total
    assert samples["mks_system_disk_total_bytes"][()] == psutil.disk_usage(str(settings.instance_path)).total
    assert 0 <= samples["mks_system_cpu_usage_percent"][()] <= 100
    assert 0 < samples["mks_system_memory_usage_percent"][()] < 100
    assert 0 < samples["mks_system_disk_usage_percent"][()] < 100
    build = dict(next(iter(samples["mks_build_info"])))
    assert build["version"] == "0.1.0"
    assert build["database"] == app.extensions["mks_db"].dialect
    assert "process_resident_memory_bytes" in samples


def test_review_due_gauge_counts_entries_due_today_or_earlier(client: FlaskClient, auth: Any) -> None:
    editor, approver = auth.headers("yamada"), auth.headers("kimura")
    today = datetime.now(UTC).date()
    assert parse(scrape(client))["mks_knowledge_review_due"][()] == 0
    for days, status in ((-30, "approved"), (0, "draft"), (1, "approved"), (-1, "archived"), (None, "approved")):
        review_due = (today + timedelta(days=days)).isoformat() if days is not None else None
        created_in(client, editor, approver, status, title=f"見直し {days}", review_due=review_due)
    # Overdue and due today; not tomorrow's, not the archived one, not one without a date.
    assert parse(scrape(client))["mks_knowledge_review_due"][()] == 2


def test_revoked_tokens_gauge_counts_the_revocation_list(app: Flask, client: FlaskClient, auth: Any) -> None:
    assert parse(scrape(client))["mks_revoked_tokens"][()] == 0
    tokens = auth.tokens("yamada")
    rotated = client.post("/api/v1/auth/refresh", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}).json
    assert parse(scrape(client))["mks_revoked_tokens"][()] == 1  # the spent refresh token
    client.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {rotated['access_token']}"})
    assert parse(scrape(client))["mks_revoked_tokens"][()] == 2  # and the login's family


def test_database_gauges_are_cached(database_url: str, tmp_path: Path) -> None:
    app = create_app(make_settings(database_url, tmp_path, metrics_cache_seconds=3600))
    client = app.test_client()
    statements: list[str] = []
    event.listen(app.extensions["mks_db"].engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    for _ in range(5):
        assert parse(scrape(client))["mks_knowledge_total"][()] == 0
    assert len([s for s in statements if "FROM knowledge" in s]) == 1
    app.extensions["mks_db"].engine.dispose()


def test_database_down_keeps_metrics_up(app: Flask, client: FlaskClient, admin: dict[str, str]) -> None:
    with database_outage(app):
        response = client.get("/api/v1/knowledge", headers=admin)
        assert (response.status_code, response.json["error"]["code"]) == (503, "database_unavailable")
        assert client.get("/ready").status_code == 503
        assert client.get("/health").status_code == 200
        samples = parse(scrape(client))
        assert "mks_knowledge_total" not in samples  # unknown, rather than a wrong number
    assert value(app, "mks_errors_total", type="db_error", endpoint="/api/v1/knowledge") == 1
    assert value(app, "mks_errors_total", type="db_error", endpoint="/ready") == 1
    assert client.get("/ready").status_code == 200
    assert client.get("/api/v1/knowledge", headers=admin).status_code == 200


def test_openmetrics_and_gzip(client: FlaskClient) -> None:
    openmetrics = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert openmetrics.content_type.startswith("application/openmetrics-text")
    assert openmetrics.get_data(as_text=True).endswith("# EOF\n")
    zipped = client.get("/metrics", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert b"mks_build_info" in gzip.decompress(zipped.get_data())
    plain = client.get("/metrics")
    assert plain.content_type == "text/plain; version=0.0.4; charset=utf-8"


@pytest.mark.parametrize(
    ("overrides", "good", "bad"),
    [
        (
            {"metrics_bearer_token": "s3cret-token"},
            {"Authorization": "Bearer s3cret-token"},
            {"Authorization": "Bearer nope"},
        ),
        (
            {"metrics_basic_auth_username": "prometheus", "metrics_basic_auth_password": "pw-123"},
            {"Authorization": "Basic cHJvbWV0aGV1czpwdy0xMjM="},
            {"Authorization": "Basic cHJvbWV0aGV1czp3cm9uZw=="},
        ),
    ],
)
def test_metrics_protection(
    database_url: str, tmp_path: Path, overrides: dict[str, str], good: dict[str, str], bad: dict[str, str]
) -> None:
    app = create_app(make_settings(database_url, tmp_path, **overrides))
    client = app.test_client()
    assert client.get("/metrics", headers=good).status_code == 200
    for headers in (bad, {}):
        refused = client.get("/metrics", headers=headers)
        assert (refused.status_code, refused.json["error"]["code"]) == (401, "metrics_auth_required")
        assert refused.headers["WWW-Authenticate"] == 'Basic realm="mks-metrics"'
    assert "s3cret" not in client.get("/metrics", headers=good).get_data(as_text=True)
    app.extensions["mks_db"].engine.dispose()


def test_metrics_can_be_switched_off(database_url: str, tmp_path: Path) -> None:
    app = create_app(make_settings(database_url, tmp_path, metrics_enabled=False))
    client = app.test_client()
    assert client.get("/metrics").status_code == 404
    assert "mks_metrics" not in app.extensions
    assert client.get("/health").status_code == 200
    app.extensions["mks_db"].engine.dispose()


def test_summary_matches_the_registry(
    app: Flask, client: FlaskClient, admin: dict[str, str], viewer: dict[str, str]
) -> None:
    client.post("/api/v1/knowledge", json={"title": "要約", "category": "安全"}, headers=admin)
    client.get("/api/v1/knowledge/999", headers=admin)
    client.post("/api/v1/auth/login", json={"username": "admin", "password": "bad"})
    assert client.get("/api/metrics/summary", headers=viewer).status_code == 403
    summary = client.get("/api/metrics/summary", headers=admin).json
    # Requests so far: 2 logins (fixtures), 1 create, 1 miss, 1 bad login, 1 refused summary = 6.
    assert summary["requests"]["total"] == 6
    assert summary["requests"]["by_status_class"] == {"2xx": 3, "3xx": 0, "4xx": 3, "5xx": 0}
    assert summary["requests"]["error_rate"] == 0.0
    assert summary["requests"]["in_progress"] == 1
    assert summary["application"]["knowledge_total"] == 1
    assert summary["application"]["active_users"] == 2  # admin and partner
    assert summary["application"]["version"] == "0.1.0"
    assert 0 <= summary["application"]["uptime_seconds"] < 600
    assert summary["auth_attempts"] == {"success": 2, "failure": 1, "locked": 0, "rate_limited": 0}
    assert summary["errors"] == dict.fromkeys(ERROR_TYPES, 0) | {"not_found": 1, "auth": 1, "forbidden": 1}
    assert summary["rate_limit_hits"] == {}
    assert summary["top_endpoints"]["by_calls"][0] == {"endpoint": "/api/v1/auth/login", "calls": 3}
    assert summary["database"]["connections"] == 1  # this request's own session
    assert summary["system"]["memory_total_bytes"] == psutil.virtual_memory().total
    latency = summary["latency_seconds"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= 10


def test_promtool_finds_nothing_but_the_documented_warning(
    app: Flask, client: FlaskClient, admin: dict[str, str], tmp_path: Path
) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is required (Debian package prometheus; .ci/run installs it)")
    client.post("/api/v1/knowledge", json={"title": "検査", "category": "安全"}, headers=admin)
    client.get("/no/such")
    result = subprocess.run(
        [promtool, "check", "metrics"], input=scrape(client), capture_output=True, text=True, timeout=60
    )
    problems = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert problems == ['mks_knowledge_total non-counter metrics should not have "_total" suffix']
