"""The shipped reverse-proxy and Prometheus basic-auth examples, validated by the real tools."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from .stack import MONITORING, bare_prometheus


def require(*tools: str) -> None:
    """Fail under CI, skip elsewhere, when a tool the check needs is missing."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if not missing:
        return
    message = f"missing {', '.join(missing)} (Debian packages nginx, apache2-utils, openssl, prometheus)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def bcrypt_hash(password: str) -> str:
    output = subprocess.run(["htpasswd", "-nbBC", "10", "", password], capture_output=True, text=True, check=True)
    return output.stdout.strip().lstrip(":")


def test_nginx_example_passes_nginx_t(tmp_path: Path) -> None:
    require("nginx", "openssl", "htpasswd")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=mks.example.co.jp",
            "-keyout",
            str(tmp_path / "mks.key"),
            "-out",
            str(tmp_path / "mks.crt"),
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )
    (tmp_path / "prometheus.htpasswd").write_text(f"prometheus:{bcrypt_hash('secret')}\n")
    site = (MONITORING / "nginx" / "mks.conf").read_text()
    site = site.replace("/etc/nginx/tls/", f"{tmp_path}/").replace(
        "/etc/nginx/prometheus.htpasswd", f"{tmp_path}/prometheus.htpasswd"
    )
    (tmp_path / "mks.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  include {tmp_path}/mks.conf;\n}}\n"
    )
    result = subprocess.run(
        ["nginx", "-t", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
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
