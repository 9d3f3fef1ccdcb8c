"""The audit log: record an action in the current transaction, and query the log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, select

from ..models import Actor, AuditAction, AuditEntry
from ..schemas.audit import AuditQuery
from .context import Context
from .pages import fetch_page, paged


def record(
    ctx: Context,
    action: AuditAction,
    actor: Actor | None,
    *,
    target_type: str | None = None,
    target_id: int | None = None,
    actor_username: str | None = None,
    **details: Any,
) -> None:
    """Add an audit entry to the session; it is committed (or rolled back) with the change it describes."""
    ctx.session.add(
        AuditEntry(
            actor_id=actor.id if actor is not None else None,
            actor_username=actor.username if actor is not None else actor_username,
            action=action,
            target_type=target_type,
            target_id=target_id,
            client_address=ctx.client_address,
            details=details,
        )
    )


def search(ctx: Context, query: AuditQuery) -> tuple[list[AuditEntry], int]:
    """Entries matching the filters, newest first, with the total."""
    conditions: list[ColumnElement[bool]] = []
    if query.action is not None:
        conditions.append(AuditEntry.action == query.action)
    if query.actor is not None:
        conditions.append(AuditEntry.actor_username == query.actor)
    if query.target_id is not None:
        conditions.append(AuditEntry.target_id == query.target_id)
    if query.since is not None:
        # QueryTimestamp has already converted it to UTC.
        conditions.append(AuditEntry.at >= query.since)
    page = paged(select(AuditEntry).where(*conditions).order_by(AuditEntry.id.desc()))
    count = select(func.count()).select_from(AuditEntry).where(*conditions)
    found = fetch_page(ctx.session, page, count, {}, query.limit, query.offset)
    return [entry for (entry,) in found.rows], found.total
