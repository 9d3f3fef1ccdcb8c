"""Entries through the API's review workflow, for tests whose subject is something else (search, lists…)."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

BASE = "/api/v1/knowledge"


def step(client: FlaskClient, headers: dict[str, str], entry: dict[str, Any], name: str, **body: Any) -> dict[str, Any]:
    """Take one workflow step (submit, approve, send-back, archive, unarchive) from the entry's version."""
    response = client.post(f"{BASE}/{entry['id']}/{name}", json={"version": entry["version"], **body}, headers=headers)
    assert response.status_code == 200, response.json
    return response.json  # type: ignore[no-any-return]


def publish(client: FlaskClient, author: dict[str, str], approver: dict[str, str], **fields: Any) -> dict[str, Any]:
    """An entry written by ``author``, submitted, and approved by ``approver``: what viewers read."""
    response = client.post(BASE, json={"category": "安全", **fields}, headers=author)
    assert response.status_code == 201, response.json
    return step(client, approver, step(client, author, response.json, "submit"), "approve")


def created_in(
    client: FlaskClient, author: dict[str, str], approver: dict[str, str], status: str, **fields: Any
) -> dict[str, Any]:
    """An entry by ``author`` brought to ``status`` through the workflow (``approver`` approves or archives)."""
    if status == "approved":
        return publish(client, author, approver, **fields)
    response = client.post(BASE, json={"category": "安全", **fields}, headers=author)
    assert response.status_code == 201, response.json
    entry: dict[str, Any] = response.json
    if status == "review":
        return step(client, author, entry, "submit")
    if status == "archived":
        return step(client, approver, entry, "archive")
    assert status == "draft", status
    return entry
