"""The guide's entry points as real processes: `python app_v2.py` and gunicorn with the repo's config."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from .servers import APP_V2, GUNICORN, backend_env, serve


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
