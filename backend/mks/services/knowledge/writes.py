"""Changing entries: create, update, delete, each with its revision and audit entry in one transaction.

Create and update answer the entry as written, from the entity itself, without reading it again.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from ...models import STATUS_TRANSITIONS, Actor, AuditAction, Knowledge, KnowledgeRevision, Status, Tag, as_utc, utcnow
from ...schemas.knowledge import KnowledgeCreate, KnowledgeUpdate
from .. import audit
from ..context import Context
from ..errors import Conflict
from .entries import EntryDetail, Person
from .queries import category, load_entry


def _written(entry: Knowledge, created_by: Person | None, updated_by: Person | None) -> EntryDetail:
    """The entry as a read would now answer it (its users passed in: a relationship may be stale or unloaded)."""
    return EntryDetail(
        entry.id,
        entry.title,
        entry.summary,
        entry.category.name,
        entry.tag_names,
        entry.status,
        entry.priority,
        entry.project_code,
        entry.owner_department,
        entry.review_due,
        created_by,
        updated_by,
        as_utc(entry.created_at),  # naive when loaded from SQLite
        as_utc(entry.updated_at),
        entry.view_count,
        entry.version,
        entry.content,
    )


def _tags(session: Session, names: list[str]) -> list[Tag]:
    existing = {tag.name: tag for tag in session.scalars(select(Tag).where(Tag.name.in_(names)))}
    # New names in one order for every request: each insert waits for a concurrent one of the same
    # name, and two requests creating the same two tags in opposite orders would deadlock.
    for name in sorted(set(names) - existing.keys()):
        try:
            with session.begin_nested():
                existing[name] = Tag(name=name)
                session.add(existing[name])
        except IntegrityError:  # another request created it first
            existing[name] = session.scalars(select(Tag).where(Tag.name == name)).one()
    return [existing[name] for name in names]


def _add_revision(session: Session, entry: Knowledge, actor: Actor, changed_fields: list[str]) -> None:
    session.add(
        KnowledgeRevision(
            knowledge_id=entry.id,
            revision=entry.version,
            changed_by_id=actor.id,
            changed_at=entry.updated_at,
            changed_fields=changed_fields,
            snapshot=entry.snapshot(),
        )
    )


def create_knowledge(ctx: Context, data: KnowledgeCreate, actor: Actor) -> EntryDetail:
    """Create an entry and its first revision; the entry as created."""
    session = ctx.session
    entry = Knowledge(
        **data.model_dump(exclude={"category", "tags"}),
        category=category(ctx, data.category),
        tags=_tags(session, data.tags),
        created_by_id=actor.id,
        updated_by_id=actor.id,
    )
    session.add(entry)
    session.flush()
    _add_revision(session, entry, actor, list(Knowledge.TRACKED_FIELDS))
    audit.record(
        ctx, AuditAction.KNOWLEDGE_CREATE, actor, target_type="knowledge", target_id=entry.id, title=entry.title
    )
    session.commit()
    author = Person.of(actor)
    return _written(entry, author, author)


def _check_transition(current: str, new: str) -> None:
    if new != current and Status(new) not in STATUS_TRANSITIONS[Status(current)]:
        raise Conflict("invalid_status_transition", f"ステータスを {current} から {new} へは変更できません。")


def update_knowledge(
    ctx: Context, knowledge_id: int, data: KnowledgeUpdate, actor: Actor, *, restored_from: int | None = None
) -> EntryDetail:
    """Apply the given fields; a real change bumps the version and records a revision. The entry as updated.

    ``restored_from``: the revision whose fields these are (a restore), recorded in the audit entry.
    """
    session = ctx.session
    entry = load_entry(ctx, knowledge_id, actor)
    if data.version is not None and data.version != entry.version:
        raise _version_conflict(entry.version)
    changes = data.model_dump(exclude_unset=True, exclude={"version"})
    if "status" in changes:
        _check_transition(entry.status, changes["status"])
    before = entry.snapshot()
    # Look up (or create) category and tags before changing the entry: a query after a change would
    # autoflush it, an UPDATE that bumps the version once more (a gap in the revisions) and, when a
    # concurrent edit won, fails outside the conflict handling below.
    if "category" in changes:
        changes["category"] = category(ctx, changes["category"])
    if "tags" in changes:
        changes["tags"] = _tags(session, changes["tags"])
    for name, value in changes.items():
        setattr(entry, name, value)
    changed_fields = [name for name, value in entry.snapshot().items() if before[name] != value]
    if not changed_fields:
        return _written(entry, Person.of(entry.created_by), Person.of(entry.updated_by))
    entry.updated_by_id = actor.id
    entry.updated_at = utcnow()
    try:
        session.flush()
    except StaleDataError:
        session.rollback()
        raise _version_conflict(None) from None
    _add_revision(session, entry, actor, changed_fields)
    details: dict[str, Any] = {"changed_fields": changed_fields, "version": entry.version}
    if restored_from is not None:
        details["restored_from"] = restored_from
    audit.record(ctx, AuditAction.KNOWLEDGE_UPDATE, actor, target_type="knowledge", target_id=entry.id, **details)
    session.commit()
    # The updated_by relationship still holds the previous editor: the actor is the editor now.
    return _written(entry, Person.of(entry.created_by), Person.of(actor))


def _version_conflict(current: int | None) -> Conflict:
    return Conflict(
        "version_conflict",
        "他のユーザーが先に更新しました。最新の内容を取得してから再度編集してください。",
        details=[{"current_version": current}] if current is not None else None,
    )


def delete_knowledge(ctx: Context, knowledge_id: int, actor: Actor) -> None:
    """Delete an entry with its revisions and index rows."""
    session = ctx.session
    entry = load_entry(ctx, knowledge_id, actor)
    audit.record(
        ctx, AuditAction.KNOWLEDGE_DELETE, actor, target_type="knowledge", target_id=entry.id, title=entry.title
    )
    session.delete(entry)
    session.commit()
