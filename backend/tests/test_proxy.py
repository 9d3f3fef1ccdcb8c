"""Behind the documented nginx, each client is itself: its own rate limits and audit address, never a forged one.

A real nginx runs the shipped example (backend/monitoring/nginx/mks.conf) in front of a real gunicorn;
clients bind their sockets to different loopback addresses, as two machines would connect.
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from mks.errors import HTTP_ERRORS

from .conftest import add_admin
from .metrics_script import parse
from .nginx import require_nginx, running_nginx
from .servers import GUNICORN, serve_process, server_env, shared_limits

PASSWORD = "admin-pass-1"
CLIENT_A, CLIENT_B = "127.0.0.2", "127.0.0.3"
LOGIN = "/api/v1/auth/login"


@dataclass(frozen=True)
class Server:
    """One address of the service: nginx over TLS, or gunicorn directly."""

    port: int
    tls: ssl.SSLContext | None = None

    def send(
        self, source: str, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, str, bytes]:
        """Send one request from the source address; the status, Content-Type and body of the answer."""
        status, answer_headers, answer = self.exchange(source, method, path, body, headers)
        return status, answer_headers.get("Content-Type", ""), answer

    def exchange(
        self, source: str, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Message, bytes]:
        """Send one request from the source address; the status, headers and body of the answer."""
        options: dict[str, Any] = {"timeout": 30, "source_address": (source, 0)}
        connection = (
            http.client.HTTPSConnection("127.0.0.1", self.port, context=self.tls, **options)
            if self.tls
            else http.client.HTTPConnection("127.0.0.1", self.port, **options)
        )
        with closing(connection):
            all_headers = {"Host": "mks.example.co.jp", "Content-Type": "application/json", **(headers or {})}
            connection.request(method, path, body=body, headers=all_headers)
            response = connection.getresponse()
            return response.status, response.headers, response.read()

    def call(
        self, source: str, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """Send one request with a JSON body; the status and the decoded JSON answer."""
        payload = None if body is None else json.dumps(body).encode()
        status, _content_type, answer = self.send(source, method, path, payload, headers)
        return status, json.loads(answer or b"null")

    def login(self, source: str, username: str, password: str, headers: dict[str, str] | None = None) -> int:
        """The status of one login attempt."""
        return self.call(source, "POST", LOGIN, {"username": username, "password": password}, headers)[0]


@dataclass(frozen=True)
class Stack:
    nginx: Server
    gunicorn: Server
    app_log: Path  # gunicorn's output: the app's JSON log lines among gunicorn's own
    nginx_log: Path  # nginx's access log of the MKS site (log_format mks_json)

    def logged(self, path: Path, request_id: str) -> list[dict[str, Any]]:
        """The JSON lines of a log that carry the request id."""
        lines = path.read_text(encoding="utf-8").splitlines()
        entries = [json.loads(line) for line in lines if line.startswith("{")]
        return [entry for entry in entries if entry.get("request_id") == request_id]

    def audit_addresses(self, action: str) -> list[tuple[str, str]]:
        """(username, client address) of every audit entry of this action, newest first."""
        status, tokens = self.nginx.call(CLIENT_B, "POST", LOGIN, {"username": "admin", "password": PASSWORD})
        assert status == 200
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        status, page = self.nginx.call(CLIENT_B, "GET", f"/api/v1/audit?action={action}&limit=100", headers=headers)
        assert status == 200
        return [(item["actor_username"], item["client_address"]) for item in page["items"]]


@pytest.fixture
def stack(database_url: str, tmp_path: Path) -> Iterator[Stack]:
    require_nginx()
    add_admin(database_url, tmp_path / "setup", PASSWORD)
    # Limits shared by the workers, as in production; MKS_TRUSTED_PROXIES is left at its default.
    env = server_env(
        tmp_path / "instance",
        database_url,
        workers="2",
        **shared_limits(),
        ratelimit_login_per_client="3 per minute",
        ratelimit_login_per_username="100 per minute",
        log_format="json",
    )
    app_log = tmp_path / "gunicorn.log"
    with closing(serve_process(GUNICORN, env, app_log)) as running:
        for _base, _process in running:
            with running_nginx(tmp_path / "nginx", int(env["MKS_PORT"])) as https_port:
                tls = ssl.create_default_context(cafile=tmp_path / "nginx" / "mks.crt")
                tls.check_hostname = False  # the certificate names mks.example.co.jp; we connect to 127.0.0.1
                yield Stack(
                    Server(https_port, tls),
                    Server(int(env["MKS_PORT"])),
                    app_log,
                    tmp_path / "nginx" / "mks.access.log",
                )


def test_one_clients_failed_logins_do_not_rate_limit_another(stack: Stack) -> None:
    attempts = [stack.nginx.login(CLIENT_A, f"ghost{n}", "wrong") for n in range(4)]
    assert attempts == [401, 401, 401, 429]  # client A's own budget of 3 per minute
    assert stack.nginx.login(CLIENT_B, "admin", PASSWORD) == 200
    assert stack.audit_addresses("auth.login_failed") == [(f"ghost{n}", CLIENT_A) for n in (2, 1, 0)]
    # The login above and one by each audit reading.
    assert stack.audit_addresses("auth.login") == [("admin", CLIENT_B)] * 3


def test_a_client_cannot_forge_its_address(stack: Stack) -> None:
    forged = {"X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.9", "X-Forwarded-Proto": "https"}
    assert stack.gunicorn.login(CLIENT_A, "direct", "wrong", forged) == 401  # not through a trusted proxy
    assert stack.nginx.login(CLIENT_B, "proxied", "wrong", forged) == 401  # nginx replaces what the client sent
    assert stack.audit_addresses("auth.login_failed") == [("proxied", CLIENT_B), ("direct", CLIENT_A)]


def envelope(status: int) -> tuple[int, str, dict[str, Any]]:
    """The answer the catalogue of mks.errors gives for this status, whoever sends it."""
    code, message = HTTP_ERRORS[status]
    return status, "application/json", {"error": {"code": code, "message": message, "status": status}}


def answer(reply: tuple[int, str, bytes]) -> tuple[int, str, Any]:
    status, content_type, body = reply
    return status, content_type, json.loads(body) if content_type == "application/json" else body


def test_oversized_requests_get_the_envelope_from_gunicorn_and_nginx(stack: Stack) -> None:
    direct, proxied = stack.gunicorn, stack.nginx
    # Over the app's limits, under gunicorn's: the app answers, directly and through nginx.
    assert answer(direct.send(CLIENT_A, "GET", "/health?pad=" + "a" * 6000)) == envelope(414)
    assert answer(proxied.send(CLIENT_A, "GET", "/health?pad=" + "a" * 6000)) == envelope(414)
    assert answer(direct.send(CLIENT_A, "GET", "/health", headers={"X-Pad": "a" * 12_000})) == envelope(431)
    assert direct.send(CLIENT_A, "GET", "/health?pad=" + "a" * 4000)[0] == 200
    # Over nginx's own limits (8 KB buffers, client_max_body_size, malformed): nginx answers, in the envelope.
    assert answer(proxied.send(CLIENT_A, "GET", "/health?pad=" + "a" * 9000)) == envelope(414)
    assert answer(proxied.send(CLIENT_A, "GET", "/health", headers={"X-Pad": "a" * 9000})) == envelope(431)
    assert answer(proxied.send(CLIENT_A, "POST", LOGIN, b"{}", {"Content-Length": str(2 * 1024 * 1024)})) == envelope(
        413
    )
    assert answer(proxied.send(CLIENT_A, "GET", "/health", headers={"Host": "bad host"})) == envelope(400)
    # What remains HTML: over gunicorn's own maximum, reachable only without nginx (mks serve listens on loopback).
    status, content_type, _body = direct.send(CLIENT_A, "GET", "/health?pad=" + "a" * 9000)
    assert (status, content_type) == (414, "text/html")


def test_an_attachment_larger_than_the_api_body_limit_passes_nginx(stack: Stack) -> None:
    """Uploads have their own body limit at nginx (MKS_ATTACHMENT_MAX_BYTES); every other route keeps 1 MiB."""
    status, tokens = stack.nginx.call(CLIENT_B, "POST", LOGIN, {"username": "admin", "password": PASSWORD})
    assert status == 200
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    status, entry = stack.nginx.call(
        CLIENT_B, "POST", "/api/v1/knowledge", {"title": "図面", "category": "安全"}, headers
    )
    assert status == 201
    pdf = b"%PDF-1.4\n" + b"0" * (2 * 1024 * 1024)  # twice the API's body limit
    boundary = "mks-upload-boundary"
    form = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="plan.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + pdf
        + f"\r\n--{boundary}--\r\n".encode()
    )
    upload = {**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    path = f"/api/v1/knowledge/{entry['id']}/attachments"
    status, _content_type, body = stack.nginx.send(CLIENT_B, "POST", path, form, upload)
    assert (status, json.loads(body)["size"]) == (201, len(pdf))
    over = {**upload, "Content-Length": str(22 * 1024 * 1024)}
    assert answer(stack.nginx.send(CLIENT_B, "POST", path, b"", over)) == envelope(413)


def test_the_queue_before_a_worker_is_measured_from_nginxs_stamp_only(stack: Stack) -> None:
    """nginx stamps X-Request-Start (replacing a client's); a stamp sent straight to gunicorn is not believed."""
    forged = {"X-Request-Start": "t=1"}
    for _ in range(3):
        assert stack.nginx.send(CLIENT_A, "GET", "/health", headers=forged)[0] == 200
    assert (
        stack.gunicorn.send(CLIENT_A, "GET", "/health", headers={"X-Request-Start": f"t={time.time():.3f}"})[0] == 200
    )
    _status, _type, body = stack.gunicorn.send(CLIENT_A, "GET", "/metrics")
    samples = parse(body.decode())
    assert samples["mks_http_request_queue_seconds_count"][()] == 3
    assert samples["mks_http_request_queue_seconds_bucket"][(("le", "+Inf"),)] == 3
    assert samples["mks_http_worker_threads"][()] == 2 * 2  # two workers of MKS_THREADS=2


def test_one_request_id_joins_nginxs_log_the_apps_log_and_the_answer(stack: Stack) -> None:
    """nginx gives each request its id (a client's is replaced); MKS logs the request under it, with its route
    template, status, user and client, and returns it. Straight to gunicorn, a client's id is not believed."""
    status, tokens = stack.nginx.call(CLIENT_A, "POST", LOGIN, {"username": "admin", "password": PASSWORD})
    assert status == 200
    headers = {"Authorization": f"Bearer {tokens['access_token']}", "X-Request-ID": "forged-by-the-client"}
    status, me = stack.nginx.call(CLIENT_A, "GET", "/api/v1/auth/me", headers=headers)
    assert status == 200
    status, answer_headers, _body = stack.nginx.exchange(CLIENT_A, "GET", "/api/v1/knowledge/999999", headers=headers)
    request_id = answer_headers["X-Request-ID"]
    assert status == 404 and re.fullmatch(r"[0-9a-f]{32}", request_id), request_id  # nginx's $request_id
    [app_line] = stack.logged(stack.app_log, request_id)
    assert {key: app_line[key] for key in ("level", "logger", "message", "method", "route", "status")} == {
        "level": "INFO",
        "logger": "mks.request",
        "message": "GET /api/v1/knowledge/<id:knowledge_id> 404",
        "method": "GET",
        "route": "/api/v1/knowledge/<id:knowledge_id>",
        "status": 404,
    }
    assert (app_line["user_id"], app_line["client"]) == (me["id"], CLIENT_A)
    assert app_line["duration_ms"] >= 0
    for _ in range(50):  # bounded: nginx writes its log line after the answer is sent
        if nginx_lines := stack.logged(stack.nginx_log, request_id):
            break
        time.sleep(0.1)
    [nginx_line] = nginx_lines
    assert (nginx_line["status"], nginx_line["uri"], nginx_line["client"]) == (
        404,
        "/api/v1/knowledge/999999",
        CLIENT_A,
    )
    assert stack.logged(stack.app_log, "forged-by-the-client") == []
    status, direct_headers, _body = stack.gunicorn.exchange(CLIENT_A, "GET", "/health", headers={"X-Request-ID": "abc"})
    assert status == 200 and re.fullmatch(r"[0-9a-f]{32}", direct_headers["X-Request-ID"])
    [direct_line] = stack.logged(stack.app_log, direct_headers["X-Request-ID"])
    assert (direct_line["route"], direct_line["user_id"], direct_line["client"]) == ("/health", None, CLIENT_A)
