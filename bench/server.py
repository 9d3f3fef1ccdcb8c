"""The backend as benchmarks run it: real gunicorn (or the single-process server) on a loopback port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import psutil
import requests

from .harness import BACKEND, GUNICORN, ServerError, backend_env, free_port, serving, wait_until_up

JWT_SECRET = "bench-secret-" + "x" * 40
BENCH_USER = "bench-admin"
BENCH_PASSWORD = "bench-admin-password-1"
# Production mode, with rate limits raised so that they never answer 429.
PRODUCTION_SETTINGS = {
    "env": "production",
    "jwt_secret_key": JWT_SECRET,
    "demo_data": "false",
    "ratelimit_default": "100000000 per minute",
    "ratelimit_login_per_client": "100000 per minute",
    "ratelimit_login_per_username": "100000 per minute",
    "ratelimit_search": "100000000 per minute",
}


def pinned(command: list[str], cpus: str | None) -> list[str]:
    """The command confined to ``cpus`` (with every process it forks), or unchanged for None."""
    return command if cpus is None else ["taskset", "--cpu-list", cpus, *command]


@dataclass
class Server:
    """A running backend: its URL, its master process, and a session logged in as the bench admin."""

    base_url: str
    process: subprocess.Popen[bytes]
    multiprocess_dir: Path | None
    log: IO[bytes]
    session: requests.Session = field(default_factory=requests.Session)
    token: str = ""

    def worker_pids(self) -> list[int]:
        """The pids serving requests: gunicorn's workers (or the server itself when it has none)."""
        children = psutil.Process(self.process.pid).children()
        return sorted(child.pid for child in children) or [self.process.pid]

    def login(self) -> str:
        response = self.session.post(
            f"{self.base_url}/api/v1/auth/login",
            json={"username": BENCH_USER, "password": BENCH_PASSWORD},
            timeout=30,
        )
        response.raise_for_status()
        self.token = response.json()["access_token"]
        self.session.headers["Authorization"] = f"Bearer {self.token}"
        return self.token

    def restart_worker(self, pid: int) -> int:
        """Stop one worker gracefully; gunicorn forks a replacement, whose pid is returned once it serves."""
        before = set(self.worker_pids())
        os.kill(pid, signal.SIGTERM)
        for _ in range(600):  # bounded: at most ~60 s
            now = set(self.worker_pids())
            fresh = now - before
            if pid not in now and fresh:
                wait_until_up(self.base_url, self.process, self.log)
                return fresh.pop()
            time.sleep(0.1)
        raise ServerError(f"gunicorn did not replace worker {pid}")


@contextmanager
def running(
    instance: Path,
    database_url: str,
    *,
    workers: int,
    multiprocess: bool = True,
    backend: Path = BACKEND,
    cpus: str | None = None,
    **settings: str,
) -> Iterator[Server]:
    """gunicorn with our production config (multiprocess metrics), or, with ``multiprocess=False``,
    one gunicorn worker without a metrics directory: prometheus_client's single-process mode.

    ``backend`` is the backend folder served: another checkout's runs that revision's code
    (``python -m`` puts the working folder first on the import path). ``cpus`` (a taskset list)
    confines the master and its workers to those CPUs."""
    instance.mkdir(parents=True, exist_ok=True)
    port = free_port()
    all_settings = {**PRODUCTION_SETTINGS, "database_url": database_url, "workers": str(workers), **settings}
    env = backend_env(instance, port, **all_settings)
    if multiprocess:
        command = GUNICORN
        multiprocess_dir: Path | None = instance / "prometheus-multiproc"
    else:
        command = [sys.executable, "-m", "gunicorn", "--workers", "1", "--bind", f"127.0.0.1:{port}", "mks.wsgi:app"]
        multiprocess_dir = None
    with (
        (instance / "server.log").open("a+b") as log,
        serving(pinned(command, cpus), env, log, cwd=backend) as (base_url, process),
    ):
        server = Server(base_url, process, multiprocess_dir, log)
        try:
            server.login()
            yield server
        finally:
            server.session.close()
