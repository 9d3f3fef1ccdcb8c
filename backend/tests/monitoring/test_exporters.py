"""The dependencies' exporters, run for real: Debian's prometheus-postgres-exporter, -redis-exporter, -node-exporter,
-nginx-exporter and -blackbox-exporter, and mtail reading nginx's JSON access log, against a private PostgreSQL
cluster (max_connections 10), a private redis-server, the shipped nginx site in front of a real gunicorn backend,
and this machine.

Prometheus scrapes them with the configuration `setup-monitoring.sh --native` derives from the shipped
prometheus.yml and the targets files it writes for MKS_EXPORTERS=all and MKS_PUBLIC_URL (every port from its
variable), and evaluates the shipped rules with every `for` minute shortened
to a second. The tests run in order on one stack: the healthy values first, exact where the source can be read
too; then real conditions, each asserted to fire its alert: connections held up to 90 % of max_connections, a
deadlock, Redis filled to 95 % of a maxmemory set just above its use, Redis stopped, the backend stopped behind
nginx (502s: the probe fails and the 5xx share rises), PostgreSQL stopped.
"""

from __future__ import annotations

import calendar
import http.client
import json
import os
import re
import ssl
import subprocess
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any, NamedTuple

import psycopg
import pytest
import redis
import yaml
from bench.postgres import Cluster, private_cluster, server_bin

from ..nginx import require_nginx, running_nginx
from ..servers import GUNICORN, backend_env, free_port, serve
from ..tools import require_tools, unavailable
from .stack import ALERT_RULES, MONITORING, api, bare_prometheus, process, require_prometheus, shortened, wait_for

EXPORTERS = ("postgres", "redis", "node", "nginx", "blackbox")
MAX_CONNECTIONS = 10
# Small max_connections, deadlocks detected within 100 ms.
POSTGRES_SETTINGS = {"max_connections": str(MAX_CONNECTIONS), "fsync": "off", "deadlock_timeout": "100ms"}
REDIS_MAXMEMORY = 64 * 1024 * 1024
DASHBOARD = MONITORING / "grafana" / "dashboards" / "dependencies.json"
# A day of history: a fresh Prometheus has none, so this panel stays empty here (its alert is promtool-tested).
NEEDS_A_DAY = "データベースの 1 日の増加"
SECONDS = 20  # bound of every wait for a value or an alert


class Stack(NamedTuple):
    prometheus: str
    nginx: str  # https://127.0.0.1:port, the public URL
    folder: Path
    postgres: Cluster
    redis_port: int
    stop_backend: Callable[[], None]
    stop_redis: Callable[[], None]

    def get(self, path: str) -> int:
        """The status nginx answers a GET with, trusting the test's certificate (issued to mks.example.co.jp)."""
        tls = ssl.create_default_context(cafile=self.folder / "nginx" / "mks.crt")
        tls.check_hostname = False
        host, port = self.nginx.removeprefix("https://").split(":")
        connection = http.client.HTTPSConnection(host, int(port), context=tls, timeout=10)
        try:
            connection.request("GET", path)
            return connection.getresponse().status
        finally:
            connection.close()


def require_exporters() -> None:
    """Go on only when the exporters' Debian packages, mtail, nginx, prometheus and PostgreSQL are installed."""
    require_prometheus()
    require_nginx()
    require_tools(*(f"prometheus-{name}-exporter" for name in EXPORTERS), packages="prometheus-*-exporter")
    require_tools("mtail", "redis-server", packages="mtail, redis-server")
    if not server_bin():
        unavailable("PostgreSQL's initdb not found under /usr/lib/postgresql (Debian package postgresql)")


def native_config(folder: Path, ports: dict[str, str], backend: str) -> dict[str, Any]:
    """The Prometheus configuration setup-monitoring.sh --native writes (write_native_config), and the targets files
    `up` writes (write_backend_targets, write_targets) with every dependency job asked for, for these ports and
    public URL."""
    env = {
        **os.environ,
        **ports,
        "MKS_EXPORTERS": "all",
        "MKS_TARGET": backend.removeprefix("http://"),
        "MKS_MONITORING_DATA": str(folder),
        "MKS_SCRAPE_INTERVAL": "1s",
        "MKS_EVALUATION_INTERVAL": "1s",
    }
    script = MONITORING / "setup-monitoring.sh"
    command = [
        "bash",
        "-c",
        f'source "{script}" --native && write_native_config && write_backend_targets && write_targets',
    ]
    subprocess.run(command, env=env, check=True, timeout=60)
    return yaml.safe_load((folder / "prometheus.yml").read_text())  # type: ignore[no-any-return]


def probe_module(folder: Path) -> Path:
    """The shipped blackbox.yml, trusting the test's self-signed certificate for the name it was issued to."""
    config = yaml.safe_load((MONITORING / "blackbox" / "blackbox.yml").read_text())
    tls = config["modules"]["mks_http"]["http"]["tls_config"]
    tls.update({"ca_file": str(folder / "mks.crt"), "server_name": "mks.example.co.jp"})
    path = folder / "blackbox.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_exporters()
    folder = tmp_path_factory.mktemp("exporters")
    port = {name: free_port() for name in ("postgres", "redis", "node", "nginx", "mtail", "blackbox", "redis-server")}
    with ExitStack() as resources:
        cluster = resources.enter_context(private_cluster(POSTGRES_SETTINGS, prefix="mks-exporters-pg-"))
        redis_server = resources.enter_context(
            process(
                [
                    "redis-server",
                    "--port",
                    str(port["redis-server"]),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--maxmemory",
                    str(REDIS_MAXMEMORY),
                ]
            )
        )
        backend_server = serve(
            GUNICORN,
            backend_env(
                folder / "instance", workers="1", env="development", ratelimit_key_prefix=f"mks-{uuid.uuid4().hex}"
            ),
        )
        resources.enter_context(closing(backend_server))
        backend = next(backend_server)
        status_port = free_port()
        https_port = resources.enter_context(
            running_nginx(folder / "nginx", int(backend.rsplit(":", 1)[1]), status_port)
        )
        access_log = folder / "nginx" / "mks.access.log"
        listen = "127.0.0.1:{}".format
        exporters = [
            (
                ["prometheus-postgres-exporter", f"--web.listen-address={listen(port['postgres'])}"],
                {"DATA_SOURCE_NAME": f"postgresql://postgres@127.0.0.1:{cluster.port}/postgres?sslmode=disable"},
            ),
            (
                [
                    "prometheus-redis-exporter",
                    f"-redis.addr=redis://127.0.0.1:{port['redis-server']}",
                    f"-web.listen-address={listen(port['redis'])}",
                ],
                {},
            ),
            # Only what the dashboard and the alerts read: the machine is shared.
            (
                [
                    "prometheus-node-exporter",
                    f"--web.listen-address={listen(port['node'])}",
                    "--collector.disable-defaults",
                    "--collector.filesystem",
                    "--collector.meminfo",
                ],
                {},
            ),
            (
                [
                    "prometheus-nginx-exporter",
                    f"-nginx.scrape-uri=http://127.0.0.1:{status_port}/stub_status",
                    f"-web.listen-address={listen(port['nginx'])}",
                ],
                {},
            ),
            (
                [
                    "mtail",
                    "-progs",
                    str(MONITORING / "mtail"),
                    "-logs",
                    str(access_log),
                    "-address",
                    "127.0.0.1",
                    "-port",
                    str(port["mtail"]),
                    "-emit_prog_label=false",
                    "-logtostderr",
                ],
                {},
            ),
            (
                [
                    "prometheus-blackbox-exporter",
                    f"--config.file={probe_module(folder / 'nginx')}",
                    f"--web.listen-address={listen(port['blackbox'])}",
                ],
                {},
            ),
        ]
        for command, env in exporters:
            resources.enter_context(process(command, {**os.environ, **env}))
        config = native_config(
            folder / "prometheus",
            {
                "POSTGRES_EXPORTER_PORT": str(port["postgres"]),
                "REDIS_EXPORTER_PORT": str(port["redis"]),
                "NODE_EXPORTER_PORT": str(port["node"]),
                "NGINX_EXPORTER_PORT": str(port["nginx"]),
                "MTAIL_PORT": str(port["mtail"]),
                "BLACKBOX_EXPORTER_PORT": str(port["blackbox"]),
                "MKS_PUBLIC_URL": f"https://127.0.0.1:{https_port}",
                "ALERTMANAGER_PORT": str(free_port()),
            },
            backend,
        )
        config["rule_files"] = [str(shortened(ALERT_RULES, folder / "prometheus", 1))]
        # postgres-exporter takes a second to give up on a server that is down: with the 1 s timeout of the other
        # jobs, Prometheus would see the exporter down (no pg_up 0) where it sees the server down with the shipped 10 s.
        [postgres_job] = [job for job in config["scrape_configs"] if job["job_name"] == "postgres"]
        postgres_job.update({"scrape_interval": "3s", "scrape_timeout": "3s"})
        prometheus = resources.enter_context(
            bare_prometheus(folder / "prometheus" / "data", config_text=yaml.safe_dump(config))
        )

        def stop_redis() -> None:
            redis_server.terminate()
            redis_server.wait(timeout=30)

        yield Stack(
            prometheus,
            f"https://127.0.0.1:{https_port}",
            folder,
            cluster,
            port["redis-server"],
            backend_server.close,
            stop_redis,
        )


def value(prometheus: str, query: str, at: float | None = None) -> list[tuple[dict[str, str], float]]:
    """(labels, value) of each series of an instant query."""
    params = {"query": query, **({"time": f"{at:.3f}"} if at is not None else {})}
    return [(sample["metric"], float(sample["value"][1])) for sample in api(prometheus, "query", **params)["result"]]


def eventually(prometheus: str, query: str, expected: list[float]) -> None:
    """Wait (bounded) until the query's values, sorted, are `expected` (to floating-point rounding)."""
    found: list[float] = []

    def reached() -> bool:
        nonlocal found
        found = sorted(number for _, number in value(prometheus, query))
        return found == pytest.approx(expected, rel=1e-12)

    try:
        wait_for(query, reached, SECONDS)
    except AssertionError:
        raise AssertionError(f"{query}: {found}, not {expected}") from None


def firing(prometheus: str, alert: str, **labels: str) -> bool:
    """Whether the alert fires with these labels."""
    return any(
        entry["state"] == "firing"
        and entry["labels"]["alertname"] == alert
        and labels.items() <= entry["labels"].items()
        for entry in api(prometheus, "alerts")["alerts"]
    )


def wait_firing(prometheus: str, alert: str, **labels: str) -> None:
    """Wait (bounded) until the alert fires with these labels."""
    wait_for(f"{alert} {labels} never fired", lambda: firing(prometheus, alert, **labels), SECONDS)


def panels() -> dict[str, list[str]]:
    """Each panel's title → its queries ($__rate_interval as Grafana would give 1 s scrapes)."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return {
        panel["title"]: [target["expr"].replace("$__rate_interval", "1m") for target in panel.get("targets", [])]
        for panel in dashboard["panels"]
    }


def panel_value(stack: Stack, title: str, at: float | None = None) -> list[float]:
    [query] = panels()[title]
    return sorted(number for _, number in value(stack.prometheus, query, at))


def certificate_end(path: Path) -> float:
    """The certificate's notAfter, in seconds since the epoch (openssl's own reading)."""
    output = subprocess.run(
        ["openssl", "x509", "-noout", "-enddate", "-dateopt", "iso_8601", "-in", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    stamp = output.strip().removeprefix("notAfter=")
    return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%d %H:%M:%SZ")))


def statuses_logged(access_log: Path, status: int) -> int:
    """Lines of nginx's JSON access log with this status."""
    lines = access_log.read_text(encoding="utf-8").splitlines()
    return sum(1 for line in lines if json.loads(line)["status"] == status)


# --- healthy -----------------------------------------------------------------------------------------


def test_every_exporter_is_scraped_on_the_port_setup_monitoring_wrote(stack: Stack) -> None:
    jobs = ["blackbox", "nginx", "nginx-log", "node", "postgres", "redis"]
    eventually(stack.prometheus, f'up{{job=~"{"|".join(jobs)}"}}', [1.0] * len(jobs))
    targets = {
        target["labels"]["job"]: target["scrapeUrl"] for target in api(stack.prometheus, "targets")["activeTargets"]
    }
    assert all(re.match(r"http://localhost:\d+/", targets[job]) for job in jobs), targets
    public_url = urllib.parse.quote(f"{stack.nginx}/health", safe="")
    assert targets["blackbox"].endswith(f"/probe?module=mks_http&target={public_url}"), targets["blackbox"]


def test_the_status_panels_answer_exact_values(stack: Stack) -> None:
    eventually(stack.prometheus, panels()["PostgreSQL の稼働状態"][0], [1.0])
    eventually(stack.prometheus, panels()["Redis の稼働状態"][0], [1.0])
    eventually(stack.prometheus, panels()["公開 URL"][0], [1.0])
    eventually(stack.prometheus, panels()["エクスポーター"][0], [1.0] * 6)
    at = time.time()
    [days] = panel_value(stack, "TLS 証明書の残り日数", at)
    assert days == pytest.approx((certificate_end(stack.folder / "nginx" / "mks.crt") - round(at, 3)) / 86400, abs=1e-6)
    assert days < 1  # the test's certificate lasts a day: TLSCertificateExpiring's condition (10 s here)
    wait_firing(stack.prometheus, "TLSCertificateExpiring", instance=f"{stack.nginx}/health")


def test_the_sources_values_reach_prometheus_exactly(stack: Stack) -> None:
    eventually(stack.prometheus, 'pg_settings_max_connections{job="postgres"}', [float(MAX_CONNECTIONS)])
    eventually(stack.prometheus, 'redis_memory_max_bytes{job="redis"}', [float(REDIS_MAXMEMORY)])
    meminfo = Path("/proc/meminfo").read_text()
    [total_kib] = re.findall(r"^MemTotal:\s+(\d+) kB$", meminfo, flags=re.MULTILINE)
    eventually(stack.prometheus, 'node_memory_MemTotal_bytes{job="node"}', [float(int(total_kib) * 1024)])
    # Whichever file system the exporter keeps (a container's overlay root is left out): its size as statvfs reads it.
    [(labels, _), *_] = value(stack.prometheus, 'node_filesystem_size_bytes{job="node"}')
    mountpoint = labels["mountpoint"]
    disk = os.statvfs(mountpoint)
    query = f'node_filesystem_size_bytes{{job="node", mountpoint="{mountpoint}"}}'
    eventually(stack.prometheus, query, [float(disk.f_blocks * disk.f_frsize)])


def test_nginx_answers_are_counted_from_its_log(stack: Stack) -> None:
    """Every 404 sent through nginx is one in mtail's counters, and every answer of the log is counted."""
    assert [stack.get("/no/such/page") for _ in range(7)] == [404] * 7
    eventually(stack.prometheus, 'nginx_log_responses_total{job="nginx-log", status="404"}', [7.0])
    access_log = stack.folder / "nginx" / "mks.access.log"

    def counted_as_logged() -> bool:
        # The probes keep adding 200s: compare one reading of each side, a scrape (1 s) apart at most.
        [(_, counted)] = value(stack.prometheus, 'nginx_log_responses_total{job="nginx-log", status="200"}')
        return counted in {statuses_logged(access_log, 200) - lag for lag in (0, 1, 2)}

    wait_for("mtail's 200s are the log's", counted_as_logged, SECONDS)
    requests_counted = sum(number for _, number in value(stack.prometheus, 'nginx_log_requests_total{job="nginx-log"}'))
    assert requests_counted >= 7 + 1  # the 404s and at least one probe
    eventually(stack.prometheus, 'nginx_log_responses_5xx_total{job="nginx-log"}', [0.0])
    eventually(stack.prometheus, 'nginx_up{job="nginx"}', [1.0])


def test_every_panel_query_answers(stack: Stack) -> None:
    queries = [(title, query) for title, exprs in panels().items() if title != NEEDS_A_DAY for query in exprs]
    assert len(queries) == 23
    empty: list[tuple[str, str]] = []

    def all_answer() -> bool:
        nonlocal empty
        empty = [(title, query) for title, query in queries if not value(stack.prometheus, query)]
        return not empty

    try:
        wait_for("panels without data", all_answer, SECONDS)
    except AssertionError:
        raise AssertionError(f"no data: {empty}") from None
    assert value(stack.prometheus, panels()[NEEDS_A_DAY][0]) == []


# --- real conditions ---------------------------------------------------------------------------------


def test_connections_held_near_max_connections_fire_the_alert(stack: Stack) -> None:
    [(_, before)] = value(stack.prometheus, 'sum(pg_stat_activity_count{job="postgres"})')  # the exporter's own
    held = MAX_CONNECTIONS - 1 - int(before)  # 9 of 10: 90 %, over the 80 % level
    assert not firing(stack.prometheus, "PostgreSQLTooManyConnections")
    with ExitStack() as connections:
        for _ in range(held):
            connections.enter_context(stack.postgres.connect())
        eventually(stack.prometheus, 'sum(pg_stat_activity_count{job="postgres"})', [float(MAX_CONNECTIONS - 1)])
        eventually(stack.prometheus, panels()["PostgreSQL の接続数（上限に対する割合）"][0], [90.0])
        wait_firing(stack.prometheus, "PostgreSQLTooManyConnections", job="postgres")


def test_a_deadlock_fires_the_alert(stack: Stack) -> None:
    assert not firing(stack.prometheus, "PostgreSQLDeadlocks")
    with stack.postgres.connect() as setup:
        setup.execute("CREATE TABLE pair (id int PRIMARY KEY, n int)")
        setup.execute("INSERT INTO pair VALUES (1, 0), (2, 0)")
    errors: list[str] = []
    with stack.postgres.connect() as first, stack.postgres.connect() as second:
        first.execute("BEGIN")
        second.execute("BEGIN")
        first.execute("UPDATE pair SET n = 1 WHERE id = 1")
        second.execute("UPDATE pair SET n = 1 WHERE id = 2")

        def cross(connection: psycopg.Connection[Any], row: int) -> None:
            try:
                connection.execute("UPDATE pair SET n = 2 WHERE id = %s", (row,))
                connection.execute("COMMIT")
            except psycopg.errors.DeadlockDetected as error:
                errors.append(type(error).__name__)
                connection.execute("ROLLBACK")

        threads = [threading.Thread(target=cross, args=(first, 2)), threading.Thread(target=cross, args=(second, 1))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert errors == ["DeadlockDetected"]  # PostgreSQL cancelled exactly one of the two
    eventually(stack.prometheus, 'pg_stat_database_deadlocks{job="postgres", datname="postgres"}', [1.0])
    wait_firing(stack.prometheus, "PostgreSQLDeadlocks", datname="postgres")


def test_redis_near_its_maxmemory_fires_the_alert(stack: Stack) -> None:
    with closing(redis.Redis(port=stack.redis_port)) as client:
        assert not firing(stack.prometheus, "RedisMemoryNearLimit")
        used = int(client.info("memory")["used_memory"])
        limit = used * 100 // 95  # used is 95 % of it
        client.config_set("maxmemory", limit)
        eventually(stack.prometheus, 'redis_memory_max_bytes{job="redis"}', [float(limit)])
        wait_firing(stack.prometheus, "RedisMemoryNearLimit", job="redis")
        client.config_set("maxmemory", REDIS_MAXMEMORY)


def test_redis_stopped_fires_redis_down(stack: Stack) -> None:
    assert not firing(stack.prometheus, "RedisDown")
    stack.stop_redis()
    eventually(stack.prometheus, panels()["Redis の稼働状態"][0], [0.0])
    wait_firing(stack.prometheus, "RedisDown", job="redis")
    assert not firing(stack.prometheus, "ExporterDown")  # the exporter itself still answers


def test_the_backend_stopped_behind_nginx_fails_the_probe_and_raises_the_5xx_share(stack: Stack) -> None:
    assert not firing(stack.prometheus, "ProbeFailed") and not firing(stack.prometheus, "NginxHighErrorRate")
    stack.stop_backend()
    assert {stack.get("/api/v1/knowledge") for _ in range(60)} == {502}
    eventually(stack.prometheus, panels()["公開 URL"][0], [0.0])
    wait_firing(stack.prometheus, "ProbeFailed", instance=f"{stack.nginx}/health")
    wait_firing(stack.prometheus, "NginxHighErrorRate", job="nginx-log")
    [(_, errors)] = value(stack.prometheus, 'nginx_log_responses_5xx_total{job="nginx-log"}')
    assert errors >= 60


def test_postgres_stopped_fires_postgres_down(stack: Stack) -> None:
    assert not firing(stack.prometheus, "PostgreSQLDown")
    stack.postgres.stop()
    eventually(stack.prometheus, panels()["PostgreSQL の稼働状態"][0], [0.0])
    wait_firing(stack.prometheus, "PostgreSQLDown", job="postgres")
