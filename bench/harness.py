"""The backend as a process on a loopback port: the one harness of the benchmarks and of the tests.

``backend/tests/servers.py`` builds on it too, so a free port, a clean environment and the
wait for ``/health`` are written once.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import requests

BACKEND = Path(__file__).resolve().parent.parent / "backend"
# The backend under gunicorn with its production configuration (multiprocess metrics), run in BACKEND.
GUNICORN = [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "mks.wsgi:app"]
# The caller's own settings must not leak into a server that is configured only by what it is given.
SCRUBBED_PREFIXES = ("MKS_", "PROMETHEUS_", "FLASK_")
# How much of the server's output a start-up failure quotes (a reused log holds earlier runs too).
LOG_TAIL_CHARS = 8000
START_SECONDS = 60  # how long a server may take to answer its first /health


class ServerError(RuntimeError):
    """The server exited, or did not answer /health in time."""


# free_port searches below the kernel's ephemeral range (32768-60999), which client connections and
# port-0 binds draw from, and each pytest-xdist worker searches a block of its own: a port handed out
# is bound only when its server starts, and meanwhile no other process is offered it (port 0's answer
# once went to two workers' servers, and nginx once got a redis exporter's).
FIRST_PORT = 10_000
PORT_BLOCK = 1_000
_handed_out: set[int] = set()


def free_port() -> int:
    """A TCP port nobody listens on right now, and not handed out before by this process or another
    xdist worker."""
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
    start = FIRST_PORT + PORT_BLOCK * worker
    for port in range(start, start + PORT_BLOCK):
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no loopback port left in {start}-{start + PORT_BLOCK - 1} not handed out by this process")


def command_env(instance: Path, **settings: str) -> dict[str, str]:
    """This process's environment without MKS/Prometheus/Flask variables, with ``instance`` as the
    instance folder, plus the given settings (``database_url="…"`` becomes MKS_DATABASE_URL)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(SCRUBBED_PREFIXES)}
    env["MKS_INSTANCE_PATH"] = str(instance)
    env.update({f"MKS_{name.upper()}": value for name, value in settings.items()})
    return env


def backend_env(instance: Path, port: int, **settings: str) -> dict[str, str]:
    """command_env for a server of ``instance`` on 127.0.0.1:``port`` (the given settings still win)."""
    return command_env(instance, **{"host": "127.0.0.1", "port": str(port), **settings})


def _tail(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")[-LOG_TAIL_CHARS:]


def wait_until_up(base_url: str, process: subprocess.Popen[bytes], log: IO[bytes]) -> None:
    """Return once GET /health answers 200; ServerError, quoting the server's output, when it exits or stays down."""
    deadline = time.monotonic() + START_SECONDS
    while (remaining := deadline - time.monotonic()) > 0:
        if process.poll() is not None:
            raise ServerError(f"server exited with {process.returncode}: {_tail(log)}")
        try:
            # Wait for the answer rather than give up and ask again: tests count the start-up probes
            # the server records, and a probe abandoned while a worker boots is still answered later.
            if requests.get(f"{base_url}/health", timeout=remaining).status_code == 200:
                return
        except requests.ConnectionError:  # not listening yet
            pass
        except requests.Timeout:
            break
        time.sleep(0.1)
    raise ServerError(f"server did not come up: {_tail(log)}")


@contextmanager
def serving(
    command: list[str], env: dict[str, str], log: IO[bytes], cwd: Path = BACKEND
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run ``command`` in ``cwd`` until the block ends; yields its base URL (from MKS_PORT) and its
    process once /health answers. Its output goes to ``log``, a file opened for reading too."""
    # A file, not a pipe: an unread pipe fills up and blocks the server's access log.
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{env['MKS_PORT']}"
    try:
        wait_until_up(base_url, process, log)
        yield base_url, process
    finally:
        process.terminate()
        process.wait(timeout=60)
