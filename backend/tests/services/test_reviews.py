"""Why an entry went back to its author: told while it waits for them, and only for a send-back."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from mks.context import service_context
from mks.services.knowledge import reviews

from ..workflow import created_in, publish, step


def test_the_reason_of_a_send_back_is_told_until_the_entry_is_submitted_again(
    app: Flask, client: FlaskClient, editor: dict[str, str], approver: dict[str, str], admin: dict[str, str]
) -> None:
    waiting = step(
        client, approver, created_in(client, editor, approver, "review", title="杭"), "send-back", reason="写真"
    )
    again = step(
        client,
        editor,
        step(
            client, approver, created_in(client, editor, approver, "review", title="型枠"), "send-back", reason="寸法"
        ),
        "submit",
    )
    archived = created_in(client, editor, approver, "archived", title="旧手順")
    step(client, admin, archived, "unarchive", comment="再利用する")  # also back to draft, but not sent back
    approved = publish(client, editor, approver, title="足場", summary="点検", content="手すり")
    changed = client.put(
        f"/api/v1/knowledge/{approved['id']}", json={"version": approved["version"], "content": "布板"}, headers=editor
    ).json
    step(client, approver, step(client, editor, changed, "submit"), "send-back", reason="布板の写真がない")
    never = created_in(client, editor, approver, "draft", title="下書き")

    ids = [entry["id"] for entry in (waiting, again, archived, approved, never)]
    with app.app_context():
        assert reviews.send_back_reasons(service_context(), ids) == {
            waiting["id"]: "写真",
            approved["id"]: "布板の写真がない",
        }
        assert reviews.send_back_reasons(service_context(), []) == {}
