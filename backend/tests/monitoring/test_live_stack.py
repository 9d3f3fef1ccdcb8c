"""The shipped monitoring stack, run for real: gunicorn backend + Prometheus started by setup-monitoring.sh --native.

After traffic with errors, failed and rate-limited logins and a database error, Prometheus must
report the target up, every rule group healthy, and a non-empty result for every query of every
panel of the backend's four Grafana dashboards (template variables substituted; the dependencies' dashboard is
test_exporters.py's). Grafana itself cannot run
on these machines; its dashboards are checked here through the queries they would send.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import requests

from mks.doctor.prometheus import EXPECTED_RULE_GROUPS

from ..servers import GUNICORN, backend_env, serve
from .generators import generator
from .stack import (
    MONITORING,
    api,
    bare_prometheus,
    native_prometheus,
    run_script,
    run_script_file,
    script_env,
    wait_for,
    wait_for_target,
    write_targets,
)

DASHBOARD_FILES = sorted((MONITORING / "grafana" / "dashboards").glob("*.json"))
# The backend's dashboards: the dependencies' one reads exporters this stack has not, and test_exporters.py runs it.
DASHBOARDS = [path for path in DASHBOARD_FILES if path.name != "dependencies.json"]
VARIABLES = {"$__rate_interval": "1m", "$job": "mks-backend", "$instance": ".*"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("live")


@pytest.fixture(scope="module")
def backend(workdir: Path) -> Iterator[str]:
    """The backend under gunicorn (2 workers, multiprocess metrics) with the demo data on SQLite."""
    env = backend_env(
        workdir / "instance",
        workers="2",
        env="development",
        database_lock_timeout_seconds="1",
        ratelimit_storage_uri="redis://127.0.0.1:6379/0",
        ratelimit_key_prefix=f"mks-live-{uuid.uuid4().hex}",
        ratelimit_login_per_username="3 per minute",
    )
    yield from serve(GUNICORN, env)


# Where this operator publishes the runbook: the rules Prometheus loads must link there.
RUNBOOK_BASE_URL = "https://ops.example.jp/mks/runbook/"


@pytest.fixture(scope="module")
def env(backend: str, workdir: Path) -> dict[str, str]:
    return script_env(backend, workdir / "prometheus") | {"MKS_RUNBOOK_BASE_URL": RUNBOOK_BASE_URL}


@pytest.fixture(scope="module")
def prometheus(env: dict[str, str]) -> Iterator[str]:
    yield from native_prometheus(env)


def drive_traffic(base: str, database: Path) -> None:
    """Successes, 404s, a validation error, failed and rate-limited logins, and a database error."""
    session = requests.Session()
    login = session.post(f"{base}/api/v1/auth/login", json={"username": "admin", "password": "admin123"}, timeout=10)
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    for _ in range(5):  # the 4th and 5th attempts for this username are refused by the rate limiter
        session.post(f"{base}/api/v1/auth/login", json={"username": "intruder", "password": "guess"}, timeout=10)
    for query in ("養生", "スランプ", "杭"):
        session.get(f"{base}/api/v1/knowledge/search", params={"q": query}, headers=headers, timeout=10)
    session.get(f"{base}/api/v1/knowledge", params={"category": "品質"}, headers=headers, timeout=10)
    session.get(f"{base}/api/v1/knowledge/1", headers=headers, timeout=10)
    session.get(f"{base}/api/v1/knowledge/99999", headers=headers, timeout=10)
    session.get(f"{base}/no/such/page", timeout=10)
    session.post(f"{base}/api/v1/knowledge", json={"category": "安全"}, headers=headers, timeout=10)
    lock = sqlite3.connect(database, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        failed = session.post(f"{base}/api/v1/knowledge", json={"title": "x", "category": "安全"}, headers=headers)
        assert failed.status_code == 503
    finally:
        lock.execute("ROLLBACK")
        lock.close()


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, expression) for every target of every panel, variables substituted."""
    queries = []
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        panels = [nested for panel in dashboard["panels"] for nested in [panel, *panel.get("panels", [])]]
        for panel in panels:
            for target in panel.get("targets", []):
                expr = target["expr"]
                for variable, value in VARIABLES.items():
                    expr = expr.replace(variable, value)
                queries.append((path.name, panel["title"], expr))
    return queries


@pytest.fixture(scope="module")
def scraped(backend: str, prometheus: str, workdir: Path) -> str:
    """Prometheus after it has scraped the traffic a few times and evaluated the rules on it."""
    wait_for_target(prometheus, "up")
    drive_traffic(backend, workdir / "instance" / "mks.sqlite3")
    time.sleep(3)
    drive_traffic(backend, workdir / "instance" / "mks.sqlite3")  # a second round so every rate() sees growth
    time.sleep(5)
    return prometheus


def test_dashboards_are_present() -> None:
    assert [path.name for path in DASHBOARD_FILES] == [
        "api-performance.json",
        "app-overview.json",
        "dependencies.json",
        "error-budget.json",
        "system-resources.json",
    ]


def test_backend_target_is_up(scraped: str) -> None:
    targets = [t for t in api(scraped, "targets")["activeTargets"] if t["labels"]["job"] == "mks-backend"]
    assert [(t["health"], t["lastError"]) for t in targets] == [("up", "")]


def test_by_default_no_dependency_job_has_a_target_nor_an_alert(scraped: str, env: dict[str, str]) -> None:
    """A fresh install (no MKS_EXPORTERS) scrapes no exporter: no `up` of those jobs, so nothing to alert on."""
    assert sorted({t["labels"]["job"] for t in api(scraped, "targets")["activeTargets"]}) == [
        "alertmanager",
        "mks-backend",
        "prometheus",
    ]
    assert api(scraped, "targets", state="dropped")["droppedTargets"] == []
    dependencies = "|".join(generator("rules").DEPENDENCY_JOBS)
    assert api(scraped, "query", query=f'up{{job=~"{dependencies}"}}')["result"] == []
    alerts = [alert["labels"]["alertname"] for alert in api(scraped, "alerts")["alerts"]]  # pending and firing
    assert [name for name in alerts if name in ("ExporterDown", "ProbeFailed")] == []
    rules = [rule for group in api(scraped, "rules")["groups"] for rule in group["rules"]]
    states = {
        rule["name"]: (rule["health"], rule["state"])
        for rule in rules
        if rule["name"] in ("ExporterDown", "ProbeFailed")
    }
    assert states == {"ExporterDown": ("ok", "inactive"), "ProbeFailed": ("ok", "inactive")}
    # Only the backend's instances (MKS_TARGET) have a targets file.
    assert sorted(path.name for path in (Path(env["MKS_MONITORING_DATA"]) / "targets").iterdir()) == ["mks-backend.yml"]


def test_a_job_enabled_later_is_scraped_without_a_restart(scraped: str, env: dict[str, str]) -> None:
    """`up` again with MKS_EXPORTERS writes the targets file, which Prometheus follows at once: here the node job
    pointed at Prometheus's own /metrics (something that answers), then none again."""
    pid = (Path(env["MKS_MONITORING_DATA"]) / "prometheus.pid").read_text()
    started = api(scraped, "query", query='process_start_time_seconds{job="prometheus"}')["result"]

    def node_targets() -> list[tuple[str, str]]:
        targets = api(scraped, "targets")["activeTargets"]
        return [(t["scrapeUrl"], t["health"]) for t in targets if t["labels"]["job"] == "node"]

    enabled = write_targets(env | {"MKS_EXPORTERS": "node", "NODE_EXPORTER_PORT": env["PROMETHEUS_PORT"]}, "--native")
    assert enabled.returncode == 0, enabled.stdout + enabled.stderr
    url = f"http://localhost:{env['PROMETHEUS_PORT']}/metrics"
    wait_for("the node job never scraped", lambda: node_targets() == [(url, "up")])
    assert [float(s["value"][1]) for s in api(scraped, "query", query='up{job="node"}')["result"]] == [1.0]

    disabled = write_targets(env | {"MKS_EXPORTERS": "none"}, "--native")
    assert disabled.returncode == 0, disabled.stdout + disabled.stderr
    wait_for("the node job kept its target", lambda: node_targets() == [])
    # Marked stale once the scrape that would have come next is missed (about two intervals).
    wait_for("up of the node job never went stale", lambda: not api(scraped, "query", query='up{job="node"}')["result"])
    assert (Path(env["MKS_MONITORING_DATA"]) / "prometheus.pid").read_text() == pid
    assert (
        api(scraped, "query", query='process_start_time_seconds{job="prometheus"}')["result"][0]["value"][1]
        == (started[0]["value"][1])
    )


def test_every_rule_group_is_loaded_and_healthy(scraped: str) -> None:
    groups = api(scraped, "rules")["groups"]
    names = {group["name"] for group in groups}
    assert names >= EXPECTED_RULE_GROUPS  # the groups mks doctor checks for (test_rules.py pins the file's)
    unhealthy = [
        (rule["name"], rule.get("lastError")) for group in groups for rule in group["rules"] if rule["health"] != "ok"
    ]
    assert unhealthy == []


def test_every_alert_links_the_runbook_at_the_operators_address(scraped: str) -> None:
    rules = [rule for group in api(scraped, "rules")["groups"] for rule in group["rules"] if rule["type"] == "alerting"]
    links = {(rule["name"], rule["annotations"]["runbook_url"]) for rule in rules}
    assert len(rules) == 45  # the 39 of alert-rules.yml and the 6 window pairs of slo-rules.yml
    assert links == {(name, f"https://ops.example.jp/mks/runbook#{name.lower()}") for name, _ in links}
    assert len(links) == 41


def test_every_dashboard_query_returns_series(scraped: str) -> None:
    queries = panel_queries()
    assert len(queries) >= 25
    empty: list[tuple[str, str, str]] = []
    for _ in range(30):  # bounded: recording rules need a few evaluations after the traffic
        empty = [query for query in queries if not api(scraped, "query", query=query[2])["result"]]
        if not empty:
            break
        time.sleep(1)
    assert empty == []


def test_status_reports_the_target_up(scraped: str, env: dict[str, str]) -> None:
    status = run_script(env, "status", "--native")
    assert status.returncode == 0, status.stdout + status.stderr
    backend_line = next(line for line in status.stdout.splitlines() if "mks-backend" in line)
    assert backend_line.split()[-1] == "up"


def test_up_again_is_idempotent(scraped: str, env: dict[str, str]) -> None:
    again = run_script(env, "up", "--native")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "起動済みです" in again.stdout
    assert api(scraped, "targets")["activeTargets"]


def test_snapshot_restores_into_a_fresh_prometheus(scraped: str, env: dict[str, str], workdir: Path) -> None:
    """The restore drill of docs/operations.md: snapshot, unpack, start Prometheus on it, query the same data.

    Queried at the start of the backend's last completed scrape: a sample is stamped when its scrape starts and
    stored when it ends, so at "now" a scrape still running could add a sample the first query missed.
    """
    target = next(
        found for found in api(scraped, "targets")["activeTargets"] if found["labels"]["job"] == "mks-backend"
    )
    at = str(datetime.fromisoformat(target["lastScrape"]).timestamp())
    query = 'sum(mks_http_requests_total{job="mks-backend"})'
    original = api(scraped, "query", query=query, time=at)["result"]
    snapshot = run_script_file(env, "backup/prometheus-snapshot.sh", "--native", str(workdir / "backups"))
    assert snapshot.returncode == 0, snapshot.stdout + snapshot.stderr
    archive = next((workdir / "backups").glob("prometheus-snapshot-*.tar.gz"))
    restored_data = workdir / "restored"
    restored_data.mkdir()
    subprocess.run(["tar", "xzf", str(archive), "-C", str(restored_data)], check=True, timeout=60)
    with bare_prometheus(restored_data) as restored:
        assert api(restored, "query", query=query, time=at)["result"] == original
    assert float(original[0]["value"][1]) > 0
