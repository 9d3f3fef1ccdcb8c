"""A real Alertmanager for tests: its configuration rendered by render-config.sh, the server on the loopback,
and a local webhook receiver that records what it delivers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from ..servers import free_port
from ..tools import unavailable

RENDERER = Path(__file__).resolve().parents[2] / "monitoring" / "alertmanager" / "render-config.sh"


def load(path: Path) -> Any:
    """Parse one YAML file."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def required_tool(*names: str) -> str:
    """Path of the first tool found; missing fails under CI=true and skips elsewhere."""
    for name in names:
        path = shutil.which(name)
        if path is not None:
            return path
    unavailable(f"{' / '.join(names)} not found on PATH: install 'prometheus-alertmanager' (Debian/Ubuntu)")


def alertmanager_binary_path() -> str:
    """Path of the Alertmanager server (Debian names it prometheus-alertmanager)."""
    return required_tool("prometheus-alertmanager", "alertmanager")


def render(
    output: Path, env: dict[str, str], config_dir: str | None = None, shell: str = "sh", path: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run render-config.sh with only PATH and the given variables in its environment."""
    args = [shell, str(RENDERER), str(output)] + ([config_dir] if config_dir else [])
    environment = {"PATH": path or os.environ["PATH"], **env}
    return subprocess.run(args, env=environment, capture_output=True, text=True, timeout=60, check=False)


def rendered(output: Path, env: dict[str, str]) -> dict[str, Any]:
    """Render successfully and return the parsed alertmanager.yml."""
    result = render(output, env)
    assert result.returncode == 0, result.stderr
    return load(output / "alertmanager.yml")  # type: ignore[no-any-return]


def http(url: str, payload: Any = None) -> Any:
    """GET (or POST JSON) and return the decoded JSON answer, or None for an empty body."""
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        body = response.read()
    return json.loads(body) if body.strip() else None


@contextmanager
def running_alertmanager(binary: str, folder: Path, env: dict[str, str], port: int | None = None) -> Iterator[str]:
    """A real Alertmanager on the loopback (on ``port``, or a free one) with the configuration rendered from
    ``env``, until the block ends; yields its URL."""
    rendered(folder / "config", env)
    port = port or free_port()
    log = (folder / "alertmanager.log").open("w")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={folder / 'config' / 'alertmanager.yml'}",
            f"--storage.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (folder / "alertmanager.log").read_text()
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert time.monotonic() < deadline, "Alertmanager not ready within 30 s"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


class WebhookReceiver(ThreadingHTTPServer):
    """A local webhook receiver: the notifications Alertmanager delivered, in order of arrival. It answers
    ``status``: a 4xx is a failure Alertmanager does not retry."""

    def __init__(self, status: int = 200) -> None:
        self.notifications: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                server.notifications.append(json.loads(body))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    def __enter__(self) -> WebhookReceiver:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.shutdown()
        self.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/alerts"

    def delivered(self) -> list[tuple[str, str]]:
        """(status, alertname) of every alert of every notification so far."""
        return [
            (alert["status"], alert["labels"]["alertname"]) for note in self.notifications for alert in note["alerts"]
        ]


def firing(name: str, severity: str) -> dict[str, Any]:
    """An alert as Prometheus sends it, firing on app:5100 for the next 30 minutes."""
    now = datetime.now(UTC)
    return {
        "labels": {"alertname": name, "severity": severity, "job": "mks-backend", "instance": "app:5100"},
        "annotations": {"summary": name},
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(minutes=30)).isoformat(),
    }
