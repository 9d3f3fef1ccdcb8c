"""Real server processes for tests: the backend under `python app_v2.py` or gunicorn, on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import IO

import requests

BACKEND = Path(__file__).resolve().parent.parent
GUNICORN = [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "mks.wsgi:app"]
APP_V2 = [sys.executable, "app_v2.py"]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def backend_env(instance_path: Path, **settings: str) -> dict[str, str]:
    """This process's environment without MKS/Prometheus/Flask variables, plus the given MKS_* settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MKS_", "PROMETHEUS_", "FLASK_"))}
    env.update({"MKS_HOST": "127.0.0.1", "MKS_PORT": str(free_port()), "MKS_INSTANCE_PATH": str(instance_path)})
    env.update({f"MKS_{name.upper()}": value for name, value in settings.items()})
    return env


def _wait_until_up(base: str, process: subprocess.Popen[bytes], log: IO[bytes]) -> None:
    for _ in range(120):  # bounded: at most ~60 s
        if process.poll() is not None:
            log.seek(0)
            raise AssertionError(f"server exited with {process.returncode}: {log.read().decode(errors='replace')}")
        try:
            if requests.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    raise AssertionError("server did not come up")


def serve_process(command: list[str], env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run the server until the generator is closed; yields its base URL and process once /health answers."""
    # Output goes to a file, not a pipe: an unread pipe fills up and blocks the server's access log.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=BACKEND, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{env['MKS_PORT']}"
        try:
            _wait_until_up(base, process, log)
            yield base, process
        finally:
            process.terminate()
            process.wait(timeout=30)


def serve(command: list[str], env: dict[str, str]) -> Iterator[str]:
    """Like serve_process, yielding the base URL only."""
    with closing(serve_process(command, env)) as running:
        for base, _process in running:
            yield base
