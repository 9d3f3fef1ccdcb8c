"""The guide's entry points as real processes: `python app_v2.py` and gunicorn with the repo's config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import requests

from mks.config import Settings
from mks.http_security import MAX_HEADER_FIELD

from .servers import APP_V2, BACKEND, GUNICORN, backend_env, free_port, serve

MKS = str(Path(sys.executable).parent / "mks")


@pytest.fixture
def app_v2(tmp_path: Path) -> Iterator[str]:
    yield from serve(APP_V2, backend_env(tmp_path / "instance"))


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[str]:
    yield from serve(GUNICORN, backend_env(tmp_path / "instance", workers="3"))


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
    # requests asks to keep the connection alive; gunicorn.conf.py's workers keep none (worker_connections).
    assert requests.get(f"{gunicorn}/health", timeout=10).headers["Connection"] == "close"


def gunicorn_config(instance: Path, **settings: str) -> dict[str, Any]:
    """The settings gunicorn reads from gunicorn.conf.py under these MKS_* settings (MKS_HOST unset)."""
    env = backend_env(instance, **settings)
    del env["MKS_HOST"]
    names = [
        "bind",
        "forwarded_allow_ips",
        "control_socket",
        "limit_request_line",
        "limit_request_field_size",
        "workers",
        "threads",
        "worker_connections",
        "keepalive",
        "timeout",
        "multiproc_dir",
    ]
    script = (
        "import json, os, runpy; c = runpy.run_path('gunicorn.conf.py');"
        " c['multiproc_dir'] = os.environ['PROMETHEUS_MULTIPROC_DIR'];"
        f" print(json.dumps({{n: c[n] for n in {names}}}))"
    )
    config: dict[str, Any] = printed_json(script, env)
    return {**config, "port": int(env["MKS_PORT"])}


def printed_json(script: str, env: dict[str, str]) -> Any:
    """The JSON a Python script prints last, run in the backend folder as gunicorn reads gunicorn.conf.py there."""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=BACKEND, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize(
    ("env", "host"), [("production", "127.0.0.1"), ("development", "0.0.0.0"), ("testing", "0.0.0.0")]
)
def test_default_bind_is_loopback_in_production(tmp_path: Path, env: str, host: str) -> None:
    assert Settings(env=env, host=None, _env_file=None).bind_host == host  # type: ignore[arg-type, call-arg]
    config = gunicorn_config(tmp_path / "instance", env=env, jwt_secret_key="bind-test-secret-" + "x" * 32)
    assert config["bind"] == f"{host}:{config['port']}"


def test_gunicorn_follows_the_trusted_proxies_and_stays_above_the_app_limits(tmp_path: Path) -> None:
    config = gunicorn_config(tmp_path / "instance")
    assert config["forwarded_allow_ips"] == "127.0.0.1/32,::1/128"
    assert config["control_socket"] == str((tmp_path / "instance" / "gunicorn.ctl").resolve())
    assert (config["limit_request_line"], config["limit_request_field_size"]) == (8190, 2 * MAX_HEADER_FIELD)
    assert (
        gunicorn_config(tmp_path / "instance", forwarded_allow_ips="10.0.0.1")["forwarded_allow_ips"] == "10.0.0.1/32"
    )
    assert gunicorn_config(tmp_path / "instance", trusted_proxies="")["forwarded_allow_ips"] == ""


def test_a_worker_freezes_the_loaded_app_out_of_the_collectors_reach(tmp_path: Path) -> None:
    # As gunicorn runs a worker: the metrics folder made (on_starting), the app imported, then the hook.
    # A full collection then walks only what requests create, not the app's own objects.
    script = (
        "import gc, json, os, runpy; c = runpy.run_path('gunicorn.conf.py');"
        " os.makedirs(os.environ['PROMETHEUS_MULTIPROC_DIR']); import mks.wsgi;"
        " before = len(gc.get_objects()); c['post_worker_init'](None);"
        " print(json.dumps([before, gc.get_freeze_count(), len(gc.get_objects())]))"
    )
    tracked, frozen, left = printed_json(
        script, backend_env(tmp_path / "instance", jwt_secret_key="freeze-test-" + "x" * 32)
    )
    assert tracked > 50_000
    assert frozen >= tracked
    assert left < 100  # the script's own few


def _wait_for_socket(path: Path) -> bool:
    for _ in range(50):  # bounded: at most ~5 s after /health answers
        if path.is_socket():
            return True
        time.sleep(0.1)
    return False


def test_each_instance_keeps_its_own_control_socket(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    settings = {"workers": "1", "env": "testing", "jwt_secret_key": "ctl-test-secret-" + "x" * 32}
    with closing(serve(GUNICORN, backend_env(first, **settings))) as one:
        next(one)
        with closing(serve(GUNICORN, backend_env(second, **settings))) as two:
            next(two)
            assert _wait_for_socket(first / "gunicorn.ctl") and _wait_for_socket(second / "gunicorn.ctl")
        assert not (second / "gunicorn.ctl").exists()  # the stopped one removed its own
        assert (first / "gunicorn.ctl").is_socket()  # and left the other's in place


def test_gunicorn_takes_workers_threads_timeout_and_its_folders_from_the_settings(tmp_path: Path) -> None:
    defaults = gunicorn_config(tmp_path / "instance")
    assert (defaults["workers"], defaults["threads"], defaults["timeout"]) == (2 * (os.cpu_count() or 1) + 1, 2, 30)
    assert defaults["multiproc_dir"] == str((tmp_path / "instance" / "prometheus-multiproc").resolve())
    assert (defaults["worker_connections"], defaults["keepalive"]) == (2, 0)
    chosen = gunicorn_config(tmp_path / "instance", workers="3", threads="4", worker_timeout="45")
    assert (chosen["workers"], chosen["threads"], chosen["timeout"]) == (3, 4, 45)
    assert chosen["worker_connections"] == 4


def test_the_settings_module_leaves_prometheus_client_unimported() -> None:
    """gunicorn.conf.py reads the settings before it sets PROMETHEUS_MULTIPROC_DIR: they must not load the client."""
    script = "import sys, mks.config; print('prometheus_client' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", script], cwd=BACKEND, capture_output=True, text=True, timeout=60)
    assert result.stdout == "False\n", result.stderr


@pytest.mark.parametrize(
    "command",
    [APP_V2, [MKS, "serve", "--dev"], GUNICORN, [MKS, "prepare"], [MKS, "db", "upgrade"]],
    ids=["app_v2", "mks serve --dev", "gunicorn", "mks prepare", "mks db upgrade"],
)
def test_an_unreachable_database_stops_each_entry_point_with_one_line(tmp_path: Path, command: list[str]) -> None:
    port = free_port()  # nobody listens there
    url = f"postgresql+psycopg://mks:do-not-print@127.0.0.1:{port}/mks"
    env = backend_env(tmp_path / "instance", database_url=url, startup_wait_seconds="1", database_connect_timeout="1")
    result = subprocess.run(command, cwd=BACKEND, env=env, capture_output=True, text=True, timeout=120, check=False)
    output = result.stdout + result.stderr
    errors = [line for line in output.splitlines() if line.startswith("Error: ")]
    assert result.returncode == 1
    assert errors == [
        f"Error: データベースに 1 秒間接続できませんでした（postgresql+psycopg://mks:***@127.0.0.1:{port}/mks: "
        f'connection failed: connection to server at "127.0.0.1", port {port} failed: Connection refused '
        "Is the server running on that host and accepting TCP/IP connections?）。"
        " データベースの稼働と MKS_DATABASE_URL を確認してください。"
    ], output
    assert "Traceback" not in output and "do-not-print" not in output
