"""Several instances, run for real: two gunicorn backends on one PostgreSQL database and one Redis, the shipped nginx
site in front of both (its upstream lists the two), and Prometheus started by `setup-monitoring.sh up --native`
with MKS_TARGETS naming both, so that the job mks-backend discovers them from the targets file it writes.

The tests run in order on one stack: requests sent through nginx are counted exactly once, by one instance each
(Prometheus's sum over the instances, each instance's share and nginx's own access log agree); a token revoked on
one instance is refused by the other; searches sent to each instance in turn are counted against one limit in Redis
(the one past it is refused by either, and each refusal is counted once, by the instance that refused it); failed
logins split across the instances lock the account at the threshold; then one instance is stopped: MKSBackendDown
fires for it alone (its `for` shortened to 3 s a minute, as in test_alert_delivery.py) while nginx keeps answering
through the other.
"""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, NamedTuple

import psycopg
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from ..conftest import add_admin, postgres_database
from ..envelopes import RATE_LIMITED
from ..nginx import require_nginx, running_nginx
from ..servers import GUNICORN, serve_process, server_env, shared_limits
from .stack import api, require_prometheus, run_script, script_env, shortened, wait_for

PASSWORD = "instances-pass-1"
REQUESTS = 60
ROUTE = "/api/v1/knowledge"
LOCKOUT_THRESHOLD = 4
SEARCH = "/api/v1/knowledge/search"
# MKS_RATELIMIT_SEARCH of both instances. Per hour: the window starts at the first search and cannot end during the
# test. No other test of the module searches (the list sorted by date, ROUTE, is exempt from this budget).
SEARCH_LIMIT = 6
SECONDS_PER_MINUTE_OF_FOR = 3  # MKSBackendDown's 1m becomes 3 s: one slow scrape of a live instance cannot fire it
SECONDS = 30  # bound of every wait


class Instance(NamedTuple):
    base: str
    target: str  # host:port, Prometheus's instance label and nginx's $upstream_addr
    stop: Callable[[], None]


class Stack(NamedTuple):
    a: Instance
    b: Instance
    nginx_port: int
    folder: Path
    prometheus: str
    database_url: str
    setup_output: str

    def through_nginx(self, method: str, path: str, token: str) -> int:
        """The status nginx answers, trusting the test's certificate (issued to mks.example.co.jp)."""
        tls = ssl.create_default_context(cafile=self.folder / "nginx" / "mks.crt")
        tls.check_hostname = False
        connection = http.client.HTTPSConnection("127.0.0.1", self.nginx_port, context=tls, timeout=10)
        try:
            connection.request(method, path, headers={"Authorization": f"Bearer {token}"})
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    def nginx_lines(self) -> list[dict[str, Any]]:
        """nginx's access log of the MKS site, one JSON object a line (log_format mks_json)."""
        text = (self.folder / "nginx" / "mks.access.log").read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def login(base: str, password: str = PASSWORD) -> requests.Response:
    return requests.post(f"{base}/api/v1/auth/login", json={"username": "admin", "password": password}, timeout=10)


def token(base: str) -> str:
    response = login(base)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def samples(base: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The instance's own /metrics: labels → value of every sample of the metric."""
    text = requests.get(f"{base}/metrics", timeout=10).text
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def by_instance(prometheus: str, expr: str) -> dict[str, float]:
    """instance → value of the query's series."""
    return {row["metric"]["instance"]: float(row["value"][1]) for row in api(prometheus, "query", query=expr)["result"]}


def backend_down(prometheus: str) -> dict[str, str]:
    """instance → state (pending, firing) of every MKSBackendDown alert."""
    alerts = api(prometheus, "alerts")["alerts"]
    return {a["labels"]["instance"]: a["state"] for a in alerts if a["labels"]["alertname"] == "MKSBackendDown"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, postgres_template: str) -> Iterator[Stack]:
    require_prometheus()
    require_nginx()
    folder = tmp_path_factory.mktemp("instances")
    with ExitStack() as resources:
        database_url = resources.enter_context(postgres_database(postgres_template))
        add_admin(database_url, folder / "setup", PASSWORD)
        # One Redis prefix for both: the instances share their rate-limit counters, as in production.
        settings = {
            **shared_limits(),
            "workers": "1",
            "login_lockout_threshold": str(LOCKOUT_THRESHOLD),
            "ratelimit_default": "10000 per minute",
            "ratelimit_login_per_client": "1000 per minute",
            "ratelimit_login_per_username": "1000 per minute",
            "ratelimit_search": f"{SEARCH_LIMIT} per hour",
        }
        instances = []
        for name in ("a", "b"):
            env = server_env(folder / f"instance-{name}", database_url, **settings)
            running = serve_process(GUNICORN, env, folder / f"gunicorn-{name}.log")
            resources.callback(running.close)
            base, _process = next(running)
            instances.append(Instance(base, base.removeprefix("http://"), running.close))
        a, b = instances
        ports = tuple(int(instance.target.rsplit(":", 1)[1]) for instance in instances)
        nginx_port = resources.enter_context(running_nginx(folder / "nginx", ports))
        env = script_env(a.base, folder / "prometheus") | {"MKS_TARGETS": f"{a.target},{b.target}"}
        started = run_script(env, "up", "--native")
        resources.callback(run_script, env, "down", "--native")
        assert started.returncode == 0, started.stdout + started.stderr
        prometheus = f"http://127.0.0.1:{env['PROMETHEUS_PORT']}"
        # The rules this Prometheus loaded (setup-monitoring.sh's linked copies) with `for` shortened, then reloaded.
        rules = folder / "prometheus" / "linked" / "rules"
        shortened(rules / "alert-rules.yml", rules, SECONDS_PER_MINUTE_OF_FOR)
        requests.post(f"{prometheus}/-/reload", timeout=10).raise_for_status()
        yield Stack(a, b, nginx_port, folder, prometheus, database_url, started.stdout)


@pytest.fixture(scope="module")
def access(stack: Stack) -> str:
    """An access token of the admin, taken before the lockout test locks the account."""
    return token(stack.a.base)


def test_setup_writes_one_targets_file_listing_both_instances(stack: Stack) -> None:
    path = stack.folder / "prometheus" / "targets" / "mks-backend.yml"
    shown = f"{stack.a.target}, {stack.b.target}"
    assert f"  [OK] mks-backend: {shown} を収集します（{path} を作成）\n" in stack.setup_output
    assert path.read_text().splitlines()[1:] == [f'- targets: ["{stack.a.target}", "{stack.b.target}"]']

    def both_up() -> bool:
        targets = [t for t in api(stack.prometheus, "targets")["activeTargets"] if t["labels"]["job"] == "mks-backend"]
        return sorted((t["labels"]["instance"], t["health"]) for t in targets) == sorted(
            [(stack.a.target, "up"), (stack.b.target, "up")]
        )

    wait_for("both instances were never scraped as up", both_up, SECONDS)


def test_requests_through_nginx_are_counted_once_by_one_instance(stack: Stack, access: str) -> None:
    selector = f'mks_http_requests_total{{job="mks-backend",method="GET",endpoint="{ROUTE}"}}'
    # The counters start at 0 on each instance (the route's series exist from start-up), so the values reached
    # below are the increases, exactly.
    assert by_instance(stack.prometheus, f"sum by (instance) ({selector})") == {stack.a.target: 0, stack.b.target: 0}
    statuses = [stack.through_nginx("GET", ROUTE, access) for _ in range(REQUESTS)]
    assert statuses == [200] * REQUESTS

    def logged() -> list[dict[str, Any]]:
        return [line for line in stack.nginx_lines() if (line["method"], line["uri"]) == ("GET", ROUTE)]

    wait_for("nginx never logged every request", lambda: len(logged()) == REQUESTS, SECONDS)
    by_upstream = {each: sum(line["upstream"] == each.target for line in logged()) for each in (stack.a, stack.b)}
    assert [(line["status"], line["upstream"] in (stack.a.target, stack.b.target)) for line in logged()] == [
        (200, True)
    ] * REQUESTS

    def summed() -> float:
        return sum(by_instance(stack.prometheus, f"sum by (instance) ({selector})").values())

    wait_for(f"Prometheus's sum never reached {REQUESTS}", lambda: summed() == REQUESTS, SECONDS)
    counted = by_instance(stack.prometheus, f"sum by (instance) ({selector})")
    # Each instance's share is what nginx sent it, and neither was left out (round robin).
    assert counted == {instance.target: float(by_upstream[instance]) for instance in (stack.a, stack.b)}
    assert all(share > 0 for share in counted.values()), counted
    for instance in (stack.a, stack.b):
        own = samples(instance.base, "mks_http_requests_total")
        assert own[(("endpoint", ROUTE), ("method", "GET"), ("status", "200"))] == by_upstream[instance]


def test_a_token_revoked_on_one_instance_is_refused_by_the_other(stack: Stack) -> None:
    access = token(stack.a.base)
    headers = {"Authorization": f"Bearer {access}"}
    assert requests.get(f"{stack.b.base}/api/v1/auth/me", headers=headers, timeout=10).status_code == 200
    assert requests.post(f"{stack.a.base}/api/v1/auth/logout", headers=headers, timeout=10).status_code == 204
    refused = requests.get(f"{stack.b.base}/api/v1/auth/me", headers=headers, timeout=10)
    assert (refused.status_code, refused.json()["error"]["code"]) == (401, "token_revoked")


def test_a_rate_limit_is_counted_once_across_instances(stack: Stack, access: str) -> None:
    selector = f'mks_rate_limit_hits_total{{job="mks-backend",endpoint="{SEARCH}"}}'
    assert by_instance(stack.prometheus, f"sum by (instance) ({selector})") == {stack.a.target: 0, stack.b.target: 0}

    def search(instance: Instance) -> requests.Response:
        # Sent to the instance itself, not through nginx, so that which instance counted each search is known.
        headers = {"Authorization": f"Bearer {access}"}
        return requests.get(f"{instance.base}{SEARCH}", params={"q": "養生"}, headers=headers, timeout=10)

    alternating = [stack.a, stack.b] * (SEARCH_LIMIT // 2)
    assert [search(instance).status_code for instance in alternating] == [200] * SEARCH_LIMIT
    # Each instance has answered only half the limit: it refuses because the count is the one both share.
    refused = [search(instance) for instance in (stack.a, stack.b)]
    assert [(response.status_code, response.json()) for response in refused] == [(429, RATE_LIMITED)] * 2
    assert all(0 < int(response.headers["Retry-After"]) <= 3600 for response in refused), refused

    def summed() -> float:
        return sum(by_instance(stack.prometheus, f"sum by (instance) ({selector})").values())

    wait_for("Prometheus's sum of refusals never reached 2", lambda: summed() == 2, SECONDS)
    assert by_instance(stack.prometheus, f"sum by (instance) ({selector})") == {stack.a.target: 1, stack.b.target: 1}
    for instance in (stack.a, stack.b):
        assert samples(instance.base, "mks_rate_limit_hits_total")[(("endpoint", SEARCH),)] == 1


def failed_logins(database_url: str) -> tuple[int, bool]:
    """The admin's count of failed logins and whether the account is locked, read back from the database."""
    url = make_url(database_url)
    with psycopg.connect(
        host=url.host, port=url.port or 5432, user=url.username, dbname=url.database, autocommit=True
    ) as connection:
        row = connection.execute(
            "SELECT failed_logins, locked_until > now() FROM users WHERE username = 'admin'"
        ).fetchone()
    assert row is not None
    return int(row[0]), bool(row[1])


def logins(base: str) -> dict[str, float]:
    """The instance's own count of login attempts by status."""
    return {dict(labels)["status"]: value for labels, value in samples(base, "mks_auth_attempts_total").items()}


def test_failures_split_across_instances_lock_the_account_at_the_threshold(stack: Stack) -> None:
    before = [logins(instance.base) for instance in (stack.a, stack.b)]
    alternating = [stack.a, stack.b] * LOCKOUT_THRESHOLD
    for instance in alternating[: LOCKOUT_THRESHOLD - 1]:
        assert login(instance.base, "wrong-password").status_code == 401
    assert failed_logins(stack.database_url) == (LOCKOUT_THRESHOLD - 1, False)  # counted once, wherever it came
    assert login(alternating[LOCKOUT_THRESHOLD - 1].base, "wrong-password").status_code == 401
    assert failed_logins(stack.database_url) == (0, True)  # the threshold's failure locks and restarts the count
    # The right password is refused by both instances now.
    assert [login(instance.base).status_code for instance in (stack.a, stack.b)] == [401, 401]
    after = [logins(instance.base) for instance in (stack.a, stack.b)]
    added = {
        status: sum(now.get(status, 0) - then.get(status, 0) for then, now in zip(before, after, strict=True))
        for status in ("failure", "locked", "success")
    }
    assert added == {"failure": LOCKOUT_THRESHOLD, "locked": 2, "success": 0}


def test_stopping_one_instance_fires_backend_down_for_it_alone(stack: Stack, access: str) -> None:
    stack.b.stop()
    wait_for(
        "MKSBackendDown never fired for the stopped instance",
        lambda: backend_down(stack.prometheus).get(stack.b.target) == "firing",
        SECONDS,
    )
    assert backend_down(stack.prometheus) == {stack.b.target: "firing"}
    assert by_instance(stack.prometheus, 'up{job="mks-backend"}') == {stack.a.target: 1.0, stack.b.target: 0.0}
    # nginx passes each request refused by the stopped instance on to the other: no user sees the outage.
    assert [stack.through_nginx("GET", ROUTE, access) for _ in range(10)] == [200] * 10
