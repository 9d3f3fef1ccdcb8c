"""The shipped nginx example (backend/monitoring/nginx/mks.conf) rendered for a test, and run for real."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .servers import BACKEND, free_port
from .tools import require_tools

SITE = BACKEND / "monitoring" / "nginx" / "mks.conf"


def require_nginx() -> None:
    """Go on only when nginx and openssl are installed."""
    require_tools("nginx", "openssl", packages="nginx-light, openssl")


def self_signed_certificate(folder: Path) -> None:
    """mks.key and mks.crt for mks.example.co.jp in the folder, valid for a day (named in subjectAltName too, which
    Go's clients such as blackbox-exporter require)."""
    key, certificate = folder / "mks.key", folder / "mks.crt"
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
            "-addext",
            "subjectAltName=DNS:mks.example.co.jp",
            "-keyout",
            str(key),
            "-out",
            str(certificate),
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )


def write_config(
    folder: Path,
    *,
    upstream_port: int | tuple[int, ...] = 5100,
    https_port: int = 443,
    http_port: int = 80,
    status_port: int = 8081,
) -> Path:
    """The example site with its certificates, password file and ports moved into the folder, its upstream the
    backend instance(s) on loopback at upstream_port (one port, or one per instance); returns nginx.conf."""
    site = SITE.read_text().replace("/etc/nginx/tls/", f"{folder}/").replace("/etc/nginx/", f"{folder}/")
    site = site.replace("/var/log/nginx/", f"{folder}/")
    ports = upstream_port if isinstance(upstream_port, tuple) else (upstream_port,)
    # The upstream's one server becomes one line per instance, as docs/scaling.md tells an operator to write.
    servers = "".join(f"    server 127.0.0.1:{port};\n" for port in ports)
    site = site.replace("    server 127.0.0.1:5100;\n", servers)
    site = site.replace("listen 443 ", f"listen 127.0.0.1:{https_port} ").replace(
        "listen 80;", f"listen 127.0.0.1:{http_port};"
    )
    site = site.replace("listen 127.0.0.1:8081;", f"listen 127.0.0.1:{status_port};")
    (folder / "mks.conf").write_text(site)
    config = folder / "nginx.conf"
    # Under root, workers would run as nobody, who cannot enter the test's private folder.
    user = "user root;\n" if os.geteuid() == 0 else ""
    config.write_text(
        f"{user}pid {folder}/nginx.pid;\nerror_log {folder}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  include {folder}/mks.conf;\n}}\n"
    )
    return config


def _wait_for_port(port: int, process: subprocess.Popen[bytes], folder: Path) -> None:
    for _ in range(100):  # bounded: at most ~10 s
        if process.poll() is not None:
            raise AssertionError(f"nginx exited: {(folder / 'error.log').read_text(errors='replace')}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError("nginx did not come up")


@contextmanager
def running_nginx(folder: Path, upstream_port: int | tuple[int, ...], status_port: int | None = None) -> Iterator[int]:
    """The example site served by a real nginx in front of 127.0.0.1:upstream_port (or each of the ports), its
    stub_status on status_port (or a free port); yields its HTTPS port."""
    folder.mkdir(parents=True, exist_ok=True)
    self_signed_certificate(folder)
    https_port = free_port()
    config = write_config(
        folder,
        upstream_port=upstream_port,
        https_port=https_port,
        http_port=free_port(),
        status_port=status_port or free_port(),
    )
    (folder / "prometheus.htpasswd").write_text("")
    process = subprocess.Popen(
        ["nginx", "-c", str(config), "-p", str(folder), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(https_port, process, folder)
        yield https_port
    finally:
        process.terminate()
        process.wait(timeout=30)
