"""Review notifications end to end: a real SMTP server (aiosmtpd) and a real HTTP receiver on loopback.

The steps go through the API; delivery happens afterwards, in the dispatcher thread a serving process
runs (or, where a test steps through retries, one call of ``deliver_due`` at a time).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from mks.config import Settings
from mks.db import get_session
from mks.models import Notification, as_utc, utcnow
from mks.notifications.delivery import signature
from mks.notifications.dispatcher import deliver_due, start_dispatcher

from ..conftest import make_settings
from ..servers import free_port
from ..workflow import step

BASE = "/api/v1/knowledge"
SECRET = "webhook-secret-0123456789"
EMAILS = {"admin": "admin@example.jp", "kimura": "kimura@example.jp", "yamada": "yamada@example.jp"}


@dataclass
class Inbox:
    """What the local SMTP server received: each message with its envelope recipients."""

    messages: list[tuple[list[str], Message]] = field(default_factory=list)

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        self.messages.append((sorted(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=default_policy)))
        return "250 OK"


@dataclass
class Calls:
    """What the local webhook receiver received: headers and raw body of each POST."""

    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield handler, controller.port
    controller.stop()


@pytest.fixture
def receiver() -> Iterator[tuple[Calls, str]]:
    calls = Calls()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            calls.received.append(({name.lower(): value for name, value in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield calls, f"http://127.0.0.1:{server.server_port}/hooks/mks"
    server.shutdown()
    server.server_close()


def with_emails(client: FlaskClient, admin: dict[str, str]) -> None:
    """Give the users their addresses through the admin API (the viewer gets none)."""
    for user in client.get("/api/v1/users", headers=admin).json["items"]:
        if user["username"] in EMAILS:
            response = client.patch(
                f"/api/v1/users/{user['id']}", json={"email": EMAILS[user["username"]]}, headers=admin
            )
            assert (response.status_code, response.json["email"]) == (200, EMAILS[user["username"]])


def wait_for(condition: Any, what: str) -> None:
    """Poll (bounded) until the dispatcher thread has delivered."""
    for _ in range(200):
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(f"not delivered within 10 s: {what}")


class TestDelivered:
    @pytest.fixture
    def settings(
        self, database_url: str, tmp_path: Path, inbox: tuple[Inbox, int], receiver: tuple[Calls, str]
    ) -> Settings:
        return make_settings(
            database_url,
            tmp_path / "instance",
            smtp_host="127.0.0.1",
            smtp_port=inbox[1],
            smtp_from="mks@example.jp",
            webhook_url=receiver[1],
            webhook_secret=SECRET,
            notify_poll_seconds=0.2,
            public_url="https://mks.example.jp",
        )

    def test_a_submission_tells_the_approvers_and_a_decision_tells_the_authors(
        self,
        app: Flask,
        client: FlaskClient,
        admin: dict[str, str],
        approver: dict[str, str],
        editor: dict[str, str],
        inbox: tuple[Inbox, int],
        receiver: tuple[Calls, str],
    ) -> None:
        mails, calls = inbox[0].messages, receiver[0].received
        with_emails(client, admin)
        dispatcher = start_dispatcher(app)
        assert dispatcher is not None
        try:
            entry = client.post(BASE, json={"title": "足場の点検手順", "category": "安全"}, headers=editor).json
            entry = step(client, editor, entry, "submit", comment="確認をお願いします")
            wait_for(lambda: len(mails) == 1 and len(calls) == 1, "the submission")
            entry = step(client, approver, entry, "send-back", reason="点検表を添付してください")
            wait_for(lambda: len(mails) == 2 and len(calls) == 2, "the send-back")
        finally:
            dispatcher.stop()

        (to_approvers, submitted), (to_author, sent_back) = mails
        assert to_approvers == ["admin@example.jp", "kimura@example.jp"]  # never the actor, never a viewer
        assert (submitted["From"], submitted["Subject"]) == ("mks@example.jp", "[MKS] レビュー依頼: 足場の点検手順")
        assert submitted.get_content().splitlines() == [
            "yamada さんがレビューを依頼しました。",
            "",
            "ナレッジ: 足場の点検手順",
            "版: 2",
            "コメント: 確認をお願いします",
            "",
            f"https://mks.example.jp/knowledge/{entry['id']}",
        ]
        assert (to_author, sent_back["Subject"]) == (["yamada@example.jp"], "[MKS] 差し戻し: 足場の点検手順")
        assert "理由: 点検表を添付してください" in sent_back.get_content().splitlines()

        headers, body = calls[1]
        assert headers["x-mks-signature"] == signature(SECRET, body)  # the receiver can verify the sender
        assert headers["x-mks-event"] == "knowledge.sent_back"
        payload = json.loads(body)
        assert {name: payload[name] for name in ("event", "comment")} == {
            "event": "knowledge.sent_back",
            "comment": "点検表を添付してください",
        }
        assert payload["knowledge"] == {
            "id": entry["id"],
            "title": "足場の点検手順",
            "version": 3,
            "url": f"https://mks.example.jp/knowledge/{entry['id']}",
        }
        assert payload["actor"]["username"] == "kimura"

        scraped = client.get("/metrics").get_data(as_text=True)
        assert 'mks_notifications_total{channel="email",result="sent"} 2.0' in scraped
        assert 'mks_notifications_total{channel="webhook",result="sent"} 2.0' in scraped


class TestReceiversDown:
    @pytest.fixture
    def settings(self, database_url: str, tmp_path: Path) -> Settings:
        return make_settings(
            database_url,
            tmp_path / "instance",
            smtp_host="127.0.0.1",
            smtp_port=free_port(),
            webhook_url=f"http://127.0.0.1:{free_port()}/hooks/mks",
            webhook_secret=SECRET,
            notify_max_attempts=2,
            smtp_timeout_seconds=2,
            webhook_timeout_seconds=2,
        )

    def test_a_receiver_that_is_down_is_retried_then_given_up_and_the_step_still_succeeds(
        self, app: Flask, client: FlaskClient, admin: dict[str, str], editor: dict[str, str]
    ) -> None:
        with_emails(client, admin)
        entry = client.post(BASE, json={"title": "足場の点検手順", "category": "安全"}, headers=editor).json
        submitted = client.post(f"{BASE}/{entry['id']}/submit", json={"version": 1}, headers=editor)
        assert (submitted.status_code, submitted.json["status"]) == (200, "review")  # the user's step stands

        counted: list[tuple[str, str]] = []
        sessions = app.extensions["mks_db"].session.session_factory
        settings = app.extensions["mks_settings"]
        assert deliver_due(sessions, settings, lambda *outcome: counted.append(outcome)) == 2
        assert sorted(counted) == [("email", "retried"), ("webhook", "retried")]
        with app.app_context():
            messages = get_session().scalars(select(Notification).order_by(Notification.channel)).all()
            assert [(m.channel, m.state, m.attempts) for m in messages] == [
                ("email", "pending", 1),
                ("webhook", "pending", 1),
            ]
            assert all(as_utc(m.next_attempt_at) > utcnow() for m in messages)  # retried later, not at once
            assert "Connection refused" in (messages[1].last_error or "")
        assert deliver_due(sessions, settings, lambda *outcome: counted.append(outcome)) == 0  # nothing due yet

        with app.app_context():  # the retry falls due
            get_session().execute(update(Notification).values(next_attempt_at=utcnow()))
            get_session().commit()
        counted.clear()
        assert deliver_due(sessions, settings, lambda *outcome: counted.append(outcome)) == 2
        assert sorted(counted) == [("email", "failed"), ("webhook", "failed")]  # notify_max_attempts=2
        with app.app_context():
            states = get_session().execute(select(Notification.state, Notification.attempts)).all()
            assert sorted(tuple(row) for row in states) == [("failed", 2), ("failed", 2)]
        assert client.get(f"{BASE}/{entry['id']}", headers=admin).json["status"] == "review"
