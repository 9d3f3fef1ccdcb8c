"""`setup-monitoring.sh install --native`: the systemd units of Prometheus, Alertmanager and the six exporters.

No systemd runs here as init, so `install` writes the units and says how to start them. The tests check what can
be checked without it: every unit passes `systemd-analyze verify` silently, confines its program (dedicated user,
127.0.0.1 only, hardening), and its ExecStart, run directly with the installed configuration (as the test's user:
the test's folders are not the prometheus user's to read), serves: Prometheus scrapes all six exporters and sends
to the Alertmanager of its unit. `status` right after the start waits for the first scrape, and says so when
none has happened.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import NamedTuple

import pytest
import requests

from ..nginx import require_nginx, running_nginx
from ..servers import free_port
from ..test_systemd import directives
from ..tools import require_tools
from .stack import MONITORING, api, bare_prometheus, process, require_prometheus, run_script, script_env, wait_for

UNITS = [
    "mks-prometheus",
    "mks-alertmanager",
    "mks-postgres-exporter",
    "mks-redis-exporter",
    "mks-node-exporter",
    "mks-nginx-exporter",
    "mks-mtail",
    "mks-blackbox-exporter",
]
PORTS = {  # the unit's port variable of setup-monitoring.sh
    "mks-prometheus": "PROMETHEUS_PORT",
    "mks-alertmanager": "ALERTMANAGER_PORT",
    "mks-postgres-exporter": "POSTGRES_EXPORTER_PORT",
    "mks-redis-exporter": "REDIS_EXPORTER_PORT",
    "mks-node-exporter": "NODE_EXPORTER_PORT",
    "mks-nginx-exporter": "NGINX_EXPORTER_PORT",
    "mks-mtail": "MTAIL_PORT",
    "mks-blackbox-exporter": "BLACKBOX_EXPORTER_PORT",
}
SECONDS = 60  # bound of every wait


class Installed(NamedTuple):
    units: Path
    data: Path
    env: dict[str, str]
    output: str


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    require_prometheus()
    folder = tmp_path_factory.mktemp("install")
    env = script_env("127.0.0.1:1", folder / "data")  # no backend: its target is down, the exporters' are not
    env.update({variable: str(free_port()) for variable in PORTS.values() if variable != "PROMETHEUS_PORT"})
    env.update(
        {
            "MKS_SYSTEMD_DIR": str(folder / "units"),
            "MKS_EXPORTERS": "all",
            "MKS_PUBLIC_URL": f"http://127.0.0.1:{free_port()}",  # nothing answers: the probe fails, its scrape works
            "MKS_REDIS_EXPORTER_ADDRESS": "redis://127.0.0.1:6379",
            "MKS_NGINX_STATUS_URL": f"http://127.0.0.1:{free_port()}/stub_status",
            "MKS_NGINX_ACCESS_LOG": str(folder / "nginx" / "mks.access.log"),  # where running_nginx's site logs
            "MKS_SCRAPE_INTERVAL": "2s",
        }
    )
    (folder / "nginx").mkdir()
    (folder / "nginx" / "mks.access.log").touch()
    result = run_script(env, "install", "--native")
    assert result.returncode == 0, result.stdout + result.stderr
    return Installed(folder / "units", folder / "data", env, result.stdout)


def unit(installed: Installed, name: str) -> dict[str, list[str]]:
    return directives((installed.units / f"{name}.service").read_text(encoding="utf-8"))


def test_install_writes_units_that_verify_and_confine(installed: Installed) -> None:
    require_tools("systemd-analyze", packages="systemd")
    assert sorted(path.stem for path in installed.units.iterdir()) == sorted(UNITS)
    # Without systemd as init, install starts nothing and prints the commands that would.
    assert f"sudo systemctl daemon-reload && sudo systemctl enable --now {' '.join(UNITS)}" in installed.output
    for name in UNITS:
        verified = subprocess.run(
            ["systemd-analyze", "verify", str(installed.units / f"{name}.service")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (name, verified.returncode, verified.stderr) == (name, 0, "")
        found = unit(installed, name)
        port = installed.env[PORTS[name]]
        arguments = set(found["ExecStart"][0].split())
        # mtail takes the address and the port apart; the others, one host:port.
        listens = {"-address=127.0.0.1", f"-port={port}"} <= arguments or any(
            argument.endswith(f"listen-address=127.0.0.1:{port}") for argument in arguments
        )
        assert listens, name
        hardening = ("NoNewPrivileges", "ProtectSystem", "PrivateTmp", "CapabilityBoundingSet")
        assert [found[key] for key in hardening] == [["true"], ["strict"], ["true"], [""]], name
    users = {name: unit(installed, name)["User"] for name in UNITS}
    assert users == {name: ["mtail" if name == "mks-mtail" else "prometheus"] for name in UNITS}
    assert unit(installed, "mks-prometheus")["ReadWritePaths"] == [str(installed.data / "data")]
    assert unit(installed, "mks-alertmanager")["ReadWritePaths"] == [str(installed.data / "alertmanager-data")]
    assert unit(installed, "mks-node-exporter")["ProtectHome"] == ["read-only"]  # it reports /home's filesystem
    assert unit(installed, "mks-redis-exporter")["Conflicts"] == ["prometheus-redis-exporter.service"]


def write_units(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """What `install --native` does to the units (write_units), for the jobs of env's MKS_EXPORTERS."""
    command = ["bash", "-c", 'source "$1" --native && write_units', "bash", str(MONITORING / "setup-monitoring.sh")]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=True)


def test_install_again_with_fewer_jobs_removes_their_units(installed: Installed, tmp_path: Path) -> None:
    units = tmp_path / "units"
    units.mkdir()
    (units / "mks-operator.service").write_text("[Service]\nExecStart=/bin/true\n", encoding="utf-8")
    env = {**installed.env, "MKS_SYSTEMD_DIR": str(units)}
    assert write_units(env).stdout.split() == UNITS
    fewer = write_units({**env, "MKS_EXPORTERS": "redis"})
    assert fewer.stdout.split() == ["mks-prometheus", "mks-alertmanager", "mks-redis-exporter"]
    # The operator's own unit stays: only what install wrote is removed, and said.
    remaining = ["mks-alertmanager", "mks-operator", "mks-prometheus", "mks-redis-exporter"]
    assert sorted(path.stem for path in units.iterdir()) == remaining
    assert fewer.stderr.count("を削除しました（MKS_EXPORTERS にないジョブ）") == 5
    assert "を書きました" not in fewer.stderr  # the three units kept are unchanged


@pytest.fixture(scope="module")
def running(installed: Installed) -> Iterator[str]:
    """Every unit's ExecStart, run directly, and the example nginx site whose stub_status and log two of them
    read; yields Prometheus's URL."""
    require_nginx()
    require_tools(
        "prometheus-alertmanager",
        "prometheus-postgres-exporter",
        "prometheus-redis-exporter",
        "prometheus-node-exporter",
        "prometheus-nginx-exporter",
        "mtail",
        "prometheus-blackbox-exporter",
        packages="prometheus-alertmanager prometheus-*-exporter mtail",
    )
    # The postgres exporter's secret comes from /etc/default/prometheus-postgres-exporter; here, from the test.
    env = {**os.environ, "DATA_SOURCE_NAME": "postgresql://postgres@127.0.0.1:5432/postgres?sslmode=disable"}
    status_port = int(installed.env["MKS_NGINX_STATUS_URL"].split(":")[2].split("/")[0])
    with ExitStack() as stack:
        stack.enter_context(running_nginx(installed.data.parent / "nginx", free_port(), status_port))
        for name in UNITS:
            stack.enter_context(process(unit(installed, name)["ExecStart"][0].split(), env))
        yield f"http://127.0.0.1:{installed.env['PROMETHEUS_PORT']}"


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def test_status_waits_for_the_first_scrape_of_the_installed_stack(installed: Installed, running: str) -> None:
    wait_for("Prometheus ready", lambda: answers(f"{running}/-/ready"), SECONDS)
    status = run_script({**installed.env, "MKS_STATUS_WAIT": str(SECONDS)}, "status", "--native")
    assert status.returncode == 1, status.stdout + status.stderr  # the backend's target is down
    health = {line.split()[0]: line.split()[2] for line in status.stdout.splitlines() if line.startswith("  ")}
    jobs = ["mks-backend", "postgres", "redis", "node", "nginx", "nginx-log", "blackbox"]
    assert {job: health.get(job) for job in jobs} == {"mks-backend": "down"} | {job: "up" for job in jobs[1:]}
    assert api(running, "query", query="pg_up")["result"][0]["value"][1] == "1"
    assert api(running, "query", query="redis_up")["result"][0]["value"][1] == "1"
    alertmanagers = api(running, "alertmanagers")["activeAlertmanagers"]
    assert [entry["url"] for entry in alertmanagers] == [
        f"http://localhost:{installed.env['ALERTMANAGER_PORT']}/api/v2/alerts"
    ]


def test_status_says_when_no_scrape_has_happened(tmp_path: Path) -> None:
    require_prometheus()
    # A day between scrapes: the first one, at a random offset within it, comes after the status command.
    config = "global: {scrape_interval: 1d, scrape_timeout: 10s}\nscrape_configs:\n"
    config += "  - {job_name: mks-backend, static_configs: [{targets: ['127.0.0.1:1']}]}\n"
    with bare_prometheus(tmp_path / "prometheus", config_text=config) as url:
        env = {**os.environ, "PROMETHEUS_PORT": url.rsplit(":", 1)[1], "MKS_STATUS_WAIT": "10"}
        status = run_script(env, "status", "--native")
    # Discovery hands Prometheus the target within 5 s; its first scrape falls somewhere in the next day.
    assert status.returncode == 1
    line = status.stdout.splitlines()[2].split(maxsplit=3)
    assert line == [
        "mks-backend",
        "http://127.0.0.1:1/metrics",
        "unknown",
        "（まだ一度も収集していません。10 秒待ちました）",
    ]
