"""The backend as benchmarks run it: real gunicorn (or the single-process server) on a loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests

BACKEND = Path(__file__).resolve().parent.parent / "backend"
JWT_SECRET = "bench-secret-" + "x" * 40
BENCH_USER = "bench-admin"
BENCH_PASSWORD = "bench-admin-password-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(command: list[str], cpus: str | None) -> list[str]:
    """The command confined to ``cpus`` (with every process it forks), or unchanged for None."""
    return command if cpus is None else ["taskset", "--cpu-list", cpus, *command]


@dataclass
class Server:
    """A running backend: its URL, its master process, and a session logged in as the bench admin."""

    base_url: str
    process: subprocess.Popen[bytes]
    multiprocess_dir: Path | None
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
                self.wait_until_up()
                return fresh.pop()
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not replace worker {pid}")

    def wait_until_up(self) -> None:
        for _ in range(600):  # bounded: at most ~60 s
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                if requests.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not come up")


def backend_env(instance: Path, database_url: str, port: int, **settings: str) -> dict[str, str]:
    """A production-mode environment for the backend; rate limits are raised so they never answer 429."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MKS_", "PROMETHEUS_", "FLASK_"))}
    env.update(
        {
            "MKS_ENV": "production",
            "MKS_HOST": "127.0.0.1",
            "MKS_PORT": str(port),
            "MKS_INSTANCE_PATH": str(instance),
            "MKS_DATABASE_URL": database_url,
            "MKS_JWT_SECRET_KEY": JWT_SECRET,
            "MKS_DEMO_DATA": "false",
            "MKS_RATELIMIT_DEFAULT": "100000000 per minute",
            "MKS_RATELIMIT_LOGIN_PER_CLIENT": "100000 per minute",
            "MKS_RATELIMIT_LOGIN_PER_USERNAME": "100000 per minute",
            "MKS_RATELIMIT_SEARCH": "100000000 per minute",
        }
    )
    env.update({f"MKS_{name.upper()}": value for name, value in settings.items()})
    return env


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
    env = backend_env(instance, database_url, port, WORKERS=str(workers), **settings)
    if multiprocess:
        command = [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "mks.wsgi:app"]
        multiprocess_dir: Path | None = instance / "prometheus-multiproc"
    else:
        command = [sys.executable, "-m", "gunicorn", "--workers", "1", "--bind", f"127.0.0.1:{port}", "mks.wsgi:app"]
        multiprocess_dir = None
    with (instance / "server.log").open("ab") as log:
        process = subprocess.Popen(pinned(command, cpus), cwd=backend, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", process, multiprocess_dir)
    try:
        server.wait_until_up()
        server.login()
        yield server
    finally:
        server.session.close()
        process.terminate()
        process.wait(timeout=60)
