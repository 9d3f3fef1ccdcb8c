"""The guide's entry points as real processes: `python app_v2.py` and gunicorn with the repo's config."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

BACKEND = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(120):  # bounded: at most ~60 s
        if process.poll() is not None:
            raise AssertionError(
                f"server exited with {process.returncode}: {process.stdout.read().decode() if process.stdout else ''}"
            )
        try:
            if requests.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    raise AssertionError("server did not come up")


@pytest.fixture
def server_env(tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MKS_", "PROMETHEUS_", "FLASK_"))}
    env.update({"MKS_HOST": "127.0.0.1", "MKS_PORT": str(free_port()), "MKS_INSTANCE_PATH": str(tmp_path / "instance")})
    return env


def serve(command: list[str], env: dict[str, str]) -> Iterator[str]:
    process = subprocess.Popen(command, cwd=BACKEND, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{env['MKS_PORT']}"
    try:
        wait_until_up(base, process)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stdout:
            process.stdout.close()


@pytest.fixture
def app_v2(server_env: dict[str, str]) -> Iterator[str]:
    yield from serve([sys.executable, "app_v2.py"], server_env)


@pytest.fixture
def gunicorn(server_env: dict[str, str]) -> Iterator[str]:
    server_env["MKS_WORKERS"] = "3"
    yield from serve([sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "mks.wsgi:app"], server_env)


def check_demo(base: str) -> None:
    login = requests.post(f"{base}/api/v1/auth/login", json={"username": "admin", "password": "admin123"}, timeout=10)
    assert login.status_code == 200
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    result = requests.get(f"{base}/api/v1/knowledge/search", params={"q": "養生"}, headers=headers, timeout=10).json()
    assert result["total"] >= 4
    scores = [item["score"] for item in result["items"]]
    assert scores == sorted(scores, reverse=True)
    assert all("<mark>養生</mark>" in item["snippet"] for item in result["items"])
    assert any("加熱養生" in item["title"] for item in result["items"])


def test_python_app_v2_serves_the_demo(app_v2: str) -> None:
    check_demo(app_v2)


def test_gunicorn_serves_the_demo_from_three_workers(gunicorn: str) -> None:
    check_demo(gunicorn)
    # Tokens are checked against the shared database, so every worker honours a logout.
    login = requests.post(
        f"{gunicorn}/api/v1/auth/login", json={"username": "yamada", "password": "yamada123"}, timeout=10
    )
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert requests.post(f"{gunicorn}/api/v1/auth/logout", headers=headers, timeout=10).status_code == 204
    codes = {
        requests.get(f"{gunicorn}/api/v1/auth/me", headers=headers, timeout=10).json()["error"]["code"]
        for _ in range(12)
    }
    assert codes == {"token_revoked"}
