"""Exporting every entry, in the import's columns (so an export imports again), optionally with its revisions.

For admins only: an export holds every status, unapproved text included.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ...models import Knowledge, KnowledgeRevision, as_utc
from ..context import Context

BATCH = 1_000


def _record(entry: Knowledge) -> dict[str, Any]:
    return {
        "external_id": entry.external_id,
        "title": entry.title,
        "summary": entry.summary,
        "category": entry.category.name,
        "owner": entry.owner_department,
        "content": entry.content,
        "tags": entry.tag_names,
        "status": entry.status,
        "priority": entry.priority,
        "project": entry.project_code,
        "review_due": entry.review_due.isoformat() if entry.review_due is not None else None,
        "id": entry.id,
        "created_at": as_utc(entry.created_at).isoformat(),
        "updated_at": as_utc(entry.updated_at).isoformat(),
    }


def _revision(record: KnowledgeRevision) -> dict[str, Any]:
    return {
        "revision": record.revision,
        "changed_by": record.changed_by.username if record.changed_by is not None else None,
        "changed_at": as_utc(record.changed_at).isoformat(),
        "changed_fields": record.changed_fields,
        "comment": record.comment,
        **record.snapshot,
    }


def _revisions(ctx: Context, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for record in ctx.session.scalars(
        select(KnowledgeRevision)
        .where(KnowledgeRevision.knowledge_id.in_(ids))
        .order_by(KnowledgeRevision.knowledge_id, KnowledgeRevision.revision)
    ):
        found[record.knowledge_id].append(_revision(record))
    return found


def export_records(ctx: Context, *, with_revisions: bool = False) -> Iterator[dict[str, Any]]:
    """Every entry in id order, as an import reads it (plus id and times; and its revisions, oldest first)."""
    after = 0
    while True:
        entries = list(
            ctx.session.scalars(
                select(Knowledge)
                .options(selectinload(Knowledge.tags))
                .where(Knowledge.id > after)
                .order_by(Knowledge.id)
                .limit(BATCH)
            ).unique()
        )
        if not entries:
            return
        revisions = _revisions(ctx, [entry.id for entry in entries]) if with_revisions else {}
        for entry in entries:
            record = _record(entry)
            if with_revisions:
                record["revisions"] = revisions[entry.id]
            yield record
        after = entries[-1].id
        ctx.session.expunge_all()
