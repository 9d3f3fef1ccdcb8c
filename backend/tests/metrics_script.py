"""A scripted sequence of requests and the exact metric values it must produce.

Run in-process (Flask test client) and against real gunicorn workers; both must read the same
numbers from /metrics.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from mks.metrics import AUTH_STATUSES, DB_OPERATIONS, ERROR_TYPES

Send = Callable[[str, str, dict[str, Any] | None, dict[str, str]], tuple[int, Any]]

KNOWLEDGE = "/api/v1/knowledge"
DETAIL = "/api/v1/knowledge/<id:knowledge_id>"
LOGIN = "/api/v1/auth/login"
LOGIN_LIMIT = "3 per minute"  # per username: the fourth login attempt of the script is refused
ENTRY = {"title": "メトリクス確認用", "category": "安全"}


@contextmanager
def knowledge_table_locked(database_url: str) -> Iterator[None]:
    """Hold a real lock on the knowledge table so the next write times out (a database error)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        connection = sqlite3.connect(url.database or "", isolation_level=None)
        connection.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            connection.execute("ROLLBACK")
            connection.close()
        return
    with psycopg.connect(host=url.host, port=url.port or 5432, user=url.username, dbname=url.database) as connection:
        connection.execute("LOCK TABLE knowledge IN ACCESS EXCLUSIVE MODE")
        yield
        connection.rollback()


def run_script(send: Send, password: str, lock: Callable[[], AbstractContextManager[None]]) -> None:
    """Send the scripted requests, asserting each status on the way."""

    def expect(status: int, method: str, path: str, body: dict[str, Any] | None = None, token: str = "") -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        got, payload = send(method, path, body, headers)
        assert got == status, (method, path, got, payload)
        return payload

    expect(200, "GET", "/health")
    expect(401, "POST", LOGIN, {"username": "admin", "password": "wrong"})
    token = expect(200, "POST", LOGIN, {"username": "admin", "password": password})["access_token"]
    expect(401, "POST", LOGIN, {"username": "admin", "password": "wrong"})
    expect(429, "POST", LOGIN, {"username": "admin", "password": "wrong"})
    expect(404, "GET", f"{KNOWLEDGE}/999", token=token)
    expect(404, "GET", f"{KNOWLEDGE}/999", token=token)
    expect(404, "GET", "/no/such/page")
    expect(422, "POST", KNOWLEDGE, {"category": "安全"}, token=token)
    created = expect(201, "POST", KNOWLEDGE, ENTRY, token=token)
    expect(200, "GET", f"{KNOWLEDGE}/{created['id']}", token=token)
    with lock():
        expect(503, "POST", KNOWLEDGE, ENTRY, token=token)


EXPECTED_REQUESTS = {
    ("GET", "/health", "200"): 1,
    ("POST", LOGIN, "401"): 2,
    ("POST", LOGIN, "200"): 1,
    ("POST", LOGIN, "429"): 1,
    ("GET", DETAIL, "404"): 2,
    ("GET", "<unmatched>", "404"): 1,
    ("POST", KNOWLEDGE, "422"): 1,
    ("POST", KNOWLEDGE, "201"): 1,
    ("GET", DETAIL, "200"): 1,
    ("POST", KNOWLEDGE, "503"): 1,
}
EXPECTED_API_CALLS = {(LOGIN, "POST"): 4, (DETAIL, "GET"): 3, (KNOWLEDGE, "POST"): 3}
EXPECTED_DURATION_COUNTS = {
    ("GET", "/health"): 1,
    ("POST", LOGIN): 4,
    ("GET", DETAIL): 3,
    ("GET", "<unmatched>"): 1,
    ("POST", KNOWLEDGE): 3,
}
EXPECTED_ERRORS = {
    ("auth", LOGIN): 2,
    ("rate_limited", LOGIN): 1,
    ("not_found", DETAIL): 2,
    ("not_found", "<unmatched>"): 1,
    ("validation", KNOWLEDGE): 1,
    ("db_error", KNOWLEDGE): 1,
}
EXPECTED_AUTH = {"failure": 2, "success": 1, "rate_limited": 1}
EXPECTED_RATE_LIMIT_HITS = {LOGIN: 1}


def parse(exposition: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Samples of a text exposition: name → {sorted label pairs → value}."""
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def by(samples: dict[tuple[tuple[str, str], ...], float], *labels: str) -> dict[tuple[str, ...], float]:
    """Values keyed by the chosen labels (one label: the bare value)."""
    keyed = {}
    for pairs, value in samples.items():
        found = dict(pairs)
        key = tuple(found[label] for label in labels)
        keyed[key[0] if len(key) == 1 else key] = value
    return keyed  # type: ignore[return-value]


def counted(samples: dict[tuple[tuple[str, str], ...], float]) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples above 0: what the requests counted, without the series exported at 0 from the start."""
    return {labels: value for labels, value in samples.items() if value}


def assert_script_metrics(exposition: str, health_probes: int = 0) -> None:
    """Every counter, histogram count and gauge the script touched holds its exact value.

    ``health_probes`` counts the successful GET /health a server's start-up wait made beforehand.
    """
    samples = parse(exposition)
    expected_requests = {**EXPECTED_REQUESTS, ("GET", "/health", "200"): 1 + health_probes}
    expected_durations = {**EXPECTED_DURATION_COUNTS, ("GET", "/health"): 1 + health_probes}
    assert by(counted(samples["mks_http_requests_total"]), "method", "endpoint", "status") == expected_requests
    assert by(samples["mks_api_calls_total"], "endpoint", "method") == EXPECTED_API_CALLS
    assert by(samples["mks_http_request_duration_seconds_count"], "method", "endpoint") == expected_durations
    assert by(counted(samples["mks_errors_total"]), "type", "endpoint") == EXPECTED_ERRORS
    assert by(counted(samples["mks_auth_attempts_total"]), "status") == EXPECTED_AUTH
    assert by(counted(samples["mks_rate_limit_hits_total"]), "endpoint") == EXPECTED_RATE_LIMIT_HITS
    # The alerts' series are exported at 0 before their first increment (Metrics.start_known_series).
    assert by(samples["mks_auth_attempts_total"], "status") == dict.fromkeys(AUTH_STATUSES, 0) | EXPECTED_AUTH
    errors = by(samples["mks_errors_total"], "type", "endpoint")
    assert {error_type: errors[error_type, KNOWLEDGE] for error_type in ERROR_TYPES} == dict.fromkeys(
        ERROR_TYPES, 0
    ) | {"validation": 1, "db_error": 1}
    assert by(samples["mks_http_requests_total"], "method", "endpoint", "status")["POST", KNOWLEDGE, "500"] == 0
    assert by(samples["mks_rate_limit_hits_total"], "endpoint")[KNOWLEDGE] == 0
    assert samples["mks_knowledge_total"][()] == 1  # the timed-out write left nothing behind
    assert samples["mks_active_users"][()] == 1  # admin only
    assert samples["mks_database_connections"][()] == 0  # every connection is back in its pool
    assert samples["mks_http_requests_in_progress"][()] == 1  # the scrape itself
    # The write that waited on the lock failed: counted, and timed at the lock timeout (1 s) or more.
    assert by(samples["mks_database_query_errors_total"], "operation") == dict.fromkeys(DB_OPERATIONS, 0) | {
        "insert": 1
    }
    inserts = by(samples["mks_database_query_duration_seconds_bucket"], "operation", "le")
    assert inserts["insert", "+Inf"] - inserts["insert", "1.0"] == 1
    queries = by(samples["mks_database_query_duration_seconds_count"], "operation")
    assert set(queries) <= {"select", "insert", "update", "delete", "other"}
    assert queries["select"] > 0 and queries["insert"] > 0
