"""The audit log: record an action in the current transaction, and query the log."""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request
from sqlalchemy import Select, select

from ..db import get_session, paginate
from ..models import Actor, AuditAction, AuditEntry
from ..schemas.audit import AuditQuery

CLI_ADDRESS = "cli"


def _client_address() -> str:
    # Behind the reverse proxy, gunicorn's forwarded_allow_ips makes remote_addr the real client.
    return (request.remote_addr or "") if has_request_context() else CLI_ADDRESS


def record(
    action: AuditAction,
    actor: Actor | None,
    *,
    target_type: str | None = None,
    target_id: int | None = None,
    actor_username: str | None = None,
    **details: Any,
) -> None:
    """Add an audit entry to the session; it is committed (or rolled back) with the change it describes."""
    get_session().add(
        AuditEntry(
            actor_id=actor.id if actor is not None else None,
            actor_username=actor.username if actor is not None else actor_username,
            action=action,
            target_type=target_type,
            target_id=target_id,
            client_address=_client_address(),
            details=details,
        )
    )


def search(query: AuditQuery) -> tuple[list[AuditEntry], int]:
    """Entries matching the filters, newest first, with the total."""
    statement: Select[Any] = select(AuditEntry)
    if query.action is not None:
        statement = statement.where(AuditEntry.action == query.action)
    if query.actor is not None:
        statement = statement.where(AuditEntry.actor_username == query.actor)
    if query.target_id is not None:
        statement = statement.where(AuditEntry.target_id == query.target_id)
    if query.since is not None:
        # QueryTimestamp has already converted it to UTC.
        statement = statement.where(AuditEntry.at >= query.since)
    return paginate(statement, [AuditEntry.id.desc()], query.limit, query.offset)
