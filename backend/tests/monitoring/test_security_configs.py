"""The shipped reverse-proxy and Prometheus basic-auth examples, validated by the real tools."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from ..nginx import self_signed_certificate, write_config
from ..tools import require_tools
from .stack import MONITORING, bare_prometheus


def require(*tools: str) -> None:
    """Go on only when the tools of these checks are installed."""
    require_tools(*tools, packages="nginx-light, apache2-utils, openssl, prometheus")


def bcrypt_hash(password: str) -> str:
    output = subprocess.run(["htpasswd", "-nbBC", "10", "", password], capture_output=True, text=True, check=True)
    return output.stdout.strip().lstrip(":")


def test_nginx_example_passes_nginx_t(tmp_path: Path) -> None:
    require("nginx", "openssl", "htpasswd")
    self_signed_certificate(tmp_path)
    (tmp_path / "prometheus.htpasswd").write_text(f"prometheus:{bcrypt_hash('secret')}\n")
    result = subprocess.run(
        ["nginx", "-t", "-c", str(write_config(tmp_path)), "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr and "test is successful" in result.stderr


def test_prometheus_web_config_example_enforces_basic_auth(tmp_path: Path) -> None:
    require("prometheus", "promtool", "htpasswd")
    web = tmp_path / "web.yml"
    web.write_text(
        (MONITORING / "prometheus" / "web.yml.example").read_text().replace("${BCRYPT_HASH}", bcrypt_hash("s3cret"))
    )
    check = subprocess.run(["promtool", "check", "web-config", str(web)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    url = "/api/v1/status/buildinfo"
    with bare_prometheus(tmp_path / "data", f"--web.config.file={web}", auth=("prometheus", "s3cret")) as base:
        assert requests.get(base + url, timeout=5).status_code == 401
        assert requests.get(base + url, auth=("prometheus", "wrong"), timeout=5).status_code == 401
        assert requests.get(base + url, auth=("prometheus", "s3cret"), timeout=5).status_code == 200


def _ensure_password(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run setup-monitoring.sh's password step alone, in a copy of the script so its .env lands in tmp_path, under
    umask 022; the umask it leaves is the last line of the output."""
    script = tmp_path / "setup-monitoring.sh"
    shutil.copy(MONITORING / "setup-monitoring.sh", script)
    environment = {key: value for key, value in os.environ.items() if key not in ("MKS_ENV", "GRAFANA_ADMIN_PASSWORD")}
    return subprocess.run(
        ["bash", "-c", f"umask 022 && source {script} && ensure_grafana_password && umask"],
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_setup_generates_a_strong_grafana_password_in_a_private_env_file(tmp_path: Path) -> None:
    result = _ensure_password(tmp_path)
    assert result.returncode == 0, result.stderr
    env_file = tmp_path / ".env"
    assert f"Grafana の管理者パスワードを生成しました: {env_file}" in result.stdout
    assert env_file.stat().st_mode & 0o777 == 0o600
    # The files written after it (the linked rules, read by compose's Prometheus as another user) keep the umask.
    assert result.stdout.splitlines()[-1] == "0022"
    (line,) = env_file.read_text().splitlines()
    assert line.startswith("GRAFANA_ADMIN_PASSWORD=") and len(line.split("=", 1)[1]) >= 32
    again = _ensure_password(tmp_path)
    assert again.returncode == 0 and env_file.read_text().splitlines() == [line]  # idempotent


@pytest.mark.parametrize(
    ("mks_env", "password", "refused"),
    [
        ("production", "admin123", True),
        ("production", "short-pw", True),
        ("development", "admin123", False),
        ("production", "a-long-and-unguessable-password", False),
    ],
)
def test_setup_refuses_weak_grafana_passwords_in_production(
    tmp_path: Path, mks_env: str, password: str, refused: bool
) -> None:
    result = _ensure_password(tmp_path, MKS_ENV=mks_env, GRAFANA_ADMIN_PASSWORD=password)
    assert result.returncode == (1 if refused else 0)
    weak = password != "a-long-and-unguessable-password"
    assert ("Grafana の管理者パスワードが弱" in result.stdout + result.stderr) == weak
