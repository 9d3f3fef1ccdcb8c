"""Reading entries: the list (filters, sort orders, cursors), one entry, one entry viewed, tag counts."""

from __future__ import annotations

import functools
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select

from ... import cursors
from ...models import Actor, Knowledge, Tag, as_utc, knowledge_tags
from ...schemas.knowledge import KnowledgeListQuery, SortKey
from ..context import Context
from ..errors import InvalidField
from ..pages import fetch_page
from .entries import EntryDetail, EntrySummary, PendingChange, Person
from .queries import (
    COUNT_VIEW,
    DETAIL,
    LIST_FILTERS,
    NOT_FOUND,
    SORT_KEYS,
    entry_of,
    list_statements,
    pending_change,
    visible,
    visible_statuses,
)

INVALID_CURSOR = functools.partial(
    InvalidField,
    "cursor",
    "invalid_cursor",
    "cursor が不正か、別の並び順（sort）の一覧のものです。一覧の最初のページから取得し直してください。",
)


def read(ctx: Context, knowledge_id: int, actor: Actor) -> EntryDetail:
    """The entry, not counted as a view; NotFound when it does not exist or the actor may not see it.

    Writers also get its pending change; a viewer never learns of one.
    """
    row = ctx.session.connection().execute(DETAIL, {"knowledge_id": knowledge_id}).first()
    if row is None:
        raise NOT_FOUND()
    found = visible(entry_of(EntryDetail, row, row.content), actor)
    pending = pending_change(ctx, knowledge_id, row.pending_revision) if visible_statuses(actor) is None else None
    if pending is None:
        return found
    return replace(found, pending=PendingChange.of(pending, Person.of(pending.changed_by)))


def view(ctx: Context, knowledge_id: int, actor: Actor) -> EntryDetail:
    """The entry as a reader views it, counting the view (an atomic UPDATE: concurrent readers lose no count)."""
    found = read(ctx, knowledge_id, actor)
    session = ctx.session
    session.connection().execute(COUNT_VIEW, {"knowledge_id": knowledge_id})
    session.commit()
    return replace(found, view_count=found.view_count + 1)


def _cursor_of(ctx: Context, sort: SortKey, row: Row[Any]) -> str:
    key = as_utc(row.sort_key).isoformat() if isinstance(row.sort_key, datetime) else row.sort_key
    return cursors.encode(ctx.dependencies.token_keys.secret, [sort.value, key, row.id])


def _cursor_position(ctx: Context, cursor: str, sort: SortKey) -> dict[str, Any]:
    """The bound values of the rows after a cursor of this sort order; InvalidField for any other cursor."""
    try:
        issued_for, key, last_id = cursors.decode(ctx.dependencies.token_keys.secret, cursor)
    except cursors.InvalidCursor:
        raise INVALID_CURSOR() from None
    if issued_for != sort.value:
        raise INVALID_CURSOR()
    if SORT_KEYS[sort][0].type.python_type is datetime:
        key = datetime.fromisoformat(key)
    return {"cursor_key": key, "cursor_id": last_id}


def list_knowledge(ctx: Context, query: KnowledgeListQuery, actor: Actor) -> tuple[list[EntrySummary], int, str | None]:
    """One page of entries matching the filters, the total number matching, and the next page's cursor."""
    values: dict[str, Any] = {name: value for name in LIST_FILTERS if (value := getattr(query, name)) is not None}
    position = _cursor_position(ctx, query.cursor, query.sort) if query.cursor is not None else {}
    page, count = list_statements(tuple(values), query.sort, visible_statuses(actor), bool(position))
    found = fetch_page(ctx.session.connection(), page, count, values | position, query.limit, query.offset)
    entries = [entry_of(EntrySummary, row) for row in found.rows]
    return entries, found.total, _cursor_of(ctx, query.sort, found.rows[-1]) if found.more else None


def tag_counts(ctx: Context, actor: Actor, limit: int | None = None) -> list[tuple[str, int]]:
    """Every tag in use on entries the actor can see (or the ``limit`` most used), with its entry count,
    most used first."""
    statement = (
        select(Tag.name, func.count(knowledge_tags.c.knowledge_id))
        .join(knowledge_tags, knowledge_tags.c.tag_id == Tag.id)
        .join(Knowledge, Knowledge.id == knowledge_tags.c.knowledge_id)
        .group_by(Tag.name)
        .order_by(func.count(knowledge_tags.c.knowledge_id).desc(), Tag.name)
    )
    statuses = visible_statuses(actor)
    if statuses is not None:
        statement = statement.where(Knowledge.status.in_(statuses))
    return [(name, count) for name, count in ctx.session.execute(statement.limit(limit))]
