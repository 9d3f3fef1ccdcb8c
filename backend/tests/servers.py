"""Real server processes for tests: the backend under `python app_v2.py` or gunicorn, on a free loopback port.

Built on `bench.harness`, the harness the benchmarks use, so both start and wait for the backend alike.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

from bench import harness
from bench.harness import BACKEND, GUNICORN, free_port

__all__ = ["APP_V2", "BACKEND", "GUNICORN", "backend_env", "free_port", "serve", "serve_process"]

APP_V2 = [sys.executable, "app_v2.py"]


def backend_env(instance_path: Path, **settings: str) -> dict[str, str]:
    """The clean environment of `bench.harness.backend_env` on a free port, plus the given MKS_* settings."""
    return harness.backend_env(instance_path, free_port(), **settings)


def serve_process(
    command: list[str], env: dict[str, str], log_path: Path | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run the server until the generator is closed; yields its base URL and process once /health answers.

    Its output goes to ``log_path`` when given (a test reads the log lines), else to a temporary file."""
    with (
        open(log_path, "w+b") if log_path else tempfile.TemporaryFile() as log,
        harness.serving(command, env, log) as running,
    ):
        yield running


def serve(command: list[str], env: dict[str, str]) -> Iterator[str]:
    """Like serve_process, yielding the base URL only."""
    with closing(serve_process(command, env)) as running:
        for base, _process in running:
            yield base


REDIS_URI = "redis://127.0.0.1:6379/0"


def server_env(instance_path: Path, database_url: str, **settings: str) -> dict[str, str]:
    """The environment of a real server in testing mode on the database: a fixed secret and cheap hashing."""
    defaults = {
        "env": "testing",
        "database_url": database_url,
        "jwt_secret_key": "test-secret-" + "x" * 40,
        "argon2_time_cost": "1",
        "argon2_memory_cost_kib": "64",
    }
    return backend_env(instance_path, **(defaults | settings))


def shared_limits() -> dict[str, str]:
    """Rate-limit settings shared by every worker, as in production: the real Redis, under a prefix of its own."""
    return {"ratelimit_storage_uri": REDIS_URI, "ratelimit_key_prefix": f"mks-test-{uuid.uuid4().hex}"}
