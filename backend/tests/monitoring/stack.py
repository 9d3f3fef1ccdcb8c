"""The shipped Prometheus, started for tests through setup-monitoring.sh --native against a test backend, and the
backend failures it is to see."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from ..metrics_script import knowledge_table_locked
from ..servers import free_port
from ..tools import require_tools

MONITORING = Path(__file__).resolve().parents[2] / "monitoring"


def require_prometheus() -> None:
    """Go on only when Debian's prometheus package (prometheus, promtool) is installed."""
    require_tools("prometheus", "promtool", packages="prometheus")


def script_env(backend: str, data: Path) -> dict[str, str]:
    """Environment for setup-monitoring.sh --native: the test backend as target, 1 s intervals, a free port, and
    (as on a fresh install) no dependency job asked for."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("MKS_EXPORTERS", "MKS_PUBLIC_URL", "MKS_TARGETS", "MKS_REMOTE_WRITE_URL")
    }
    env.update(
        {
            "MKS_TARGET": backend.removeprefix("http://"),
            "PROMETHEUS_PORT": str(free_port()),
            "MKS_MONITORING_DATA": str(data),
            "MKS_SCRAPE_INTERVAL": "1s",
            "MKS_EVALUATION_INTERVAL": "1s",
        }
    )
    return env


def run_script_file(env: dict[str, str], script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a script of backend/monitoring with the arguments."""
    command = ["bash", str(MONITORING / script), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def run_script(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run setup-monitoring.sh with the arguments."""
    return run_script_file(env, "setup-monitoring.sh", *args)


def write_targets(
    env: dict[str, str], *mode: str, script: Path = MONITORING / "setup-monitoring.sh"
) -> subprocess.CompletedProcess[str]:
    """What `setup-monitoring.sh up` does to the dependency jobs' targets files (write_targets), in the mode
    ("--native", or none for compose), as MKS_EXPORTERS and MKS_PUBLIC_URL of env say."""
    # $0 is not the script: sourced under its own name, the script would run its verb (`up`).
    command = ["bash", "-c", 'script="$1"; shift; source "$script" "$@" && write_targets', "bash", str(script), *mode]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


def native_prometheus(env: dict[str, str]) -> Iterator[str]:
    """Start Prometheus with `up --native`, yield its URL, stop it with `down --native`."""
    require_prometheus()
    started = run_script(env, "up", "--native")
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield f"http://127.0.0.1:{env['PROMETHEUS_PORT']}"
    finally:
        stopped = run_script(env, "down", "--native")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr


RECORDING_RULES = MONITORING / "prometheus" / "recording-rules.yml"
ALERT_RULES = MONITORING / "prometheus" / "alert-rules.yml"
SLO_RULES = MONITORING / "prometheus" / "slo-rules.yml"


def shortened(rules: Path, folder: Path, seconds_per_minute: int) -> Path:
    """A copy of a shipped rule file in the folder with every `for: Nm` at N x seconds_per_minute seconds (the
    expressions and windows kept; a `for` in hours stays)."""
    text = re.sub(
        r"for: '?(\d+)m'?",
        lambda match: f"for: {int(match[1]) * seconds_per_minute}s",
        rules.read_text(encoding="utf-8"),
    )
    copy = folder / rules.name
    copy.write_text(text, encoding="utf-8")
    return copy


def backend_scrape_config(backend: str, *rule_files: Path) -> str:
    """A Prometheus configuration that scrapes the backend as job mks-backend and evaluates the rule files,
    both every second."""
    return (
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: [{', '.join(str(path) for path in rule_files)}]\n"
        "scrape_configs:\n"
        f"  - {{job_name: mks-backend, static_configs: [{{targets: ['{backend.removeprefix('http://')}']}}]}}\n"
    )


def api(prometheus: str, path: str, **params: str) -> Any:
    """The data of a Prometheus HTTP API answer."""
    response = requests.get(f"{prometheus}/api/v1/{path}", params=params, timeout=10)
    response.raise_for_status()
    return response.json()["data"]


def wait_for(what: str, check: Callable[[], object], seconds: float = 30) -> None:
    """Poll until check() is true; fail with `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.25)


def wait_for_target(prometheus: str, health: str) -> None:
    """Wait (bounded) until Prometheus reports the mks-backend target with this health."""

    def reported() -> bool:
        targets = api(prometheus, "targets")["activeTargets"]
        return any(t["labels"]["job"] == "mks-backend" and t["health"] == health for t in targets)

    wait_for(f"mks-backend never became {health}", reported)


def wait_for_evaluation(prometheus: str) -> None:
    """Wait (bounded) until Prometheus has evaluated every rule once."""

    def evaluated() -> bool:
        rules = [rule for group in api(prometheus, "rules")["groups"] for rule in group["rules"]]
        return bool(rules) and all(rule["health"] != "unknown" for rule in rules)

    wait_for("some rules were never evaluated", evaluated)


def login(backend: str, username: str = "admin", password: str = "admin123") -> requests.Response:
    return requests.post(f"{backend}/api/v1/auth/login", json={"username": username, "password": password}, timeout=10)


def locked_writes(backend: str, instance: Path, count: int, timeout: float = 10) -> list[int]:
    """The statuses of `count` entries written (8 at a time) while the SQLite database of the backend's instance
    folder is locked: each waits for the lock and answers 503, a database error."""
    headers = {"Authorization": f"Bearer {login(backend).json()['access_token']}"}

    def write(_: int) -> int:
        body = {"title": "x", "category": "安全"}
        return requests.post(f"{backend}/api/v1/knowledge", json=body, headers=headers, timeout=timeout).status_code

    with knowledge_table_locked(f"sqlite:///{instance / 'mks.sqlite3'}"), ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(write, range(count)))


@contextmanager
def process(command: list[str], env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server until the block ends."""
    started = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield started
    finally:
        started.terminate()
        started.wait(timeout=30)


@contextmanager
def bare_prometheus(
    storage: Path,
    *flags: str,
    auth: tuple[str, str] | None = None,
    config_text: str = "global:\n  scrape_interval: 1h\n",
    port: int | None = None,
) -> Iterator[str]:
    """A Prometheus with no scrape targets (or the given configuration) on the storage, listening on ``port``
    (or a free one) until the block ends; yields its URL."""
    storage.mkdir(parents=True, exist_ok=True)
    config = storage / "bare-prometheus.yml"
    config.write_text(config_text)
    port = port or free_port()
    command = [
        "prometheus",
        f"--config.file={config}",
        f"--storage.tsdb.path={storage}",
        f"--web.listen-address=127.0.0.1:{port}",
        *flags,
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(60):  # bounded wait until it answers
            try:
                if requests.get(f"{url}/-/ready", auth=auth, timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
