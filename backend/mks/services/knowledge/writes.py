"""Changing entries: create, update, delete, each with its revision and audit entry in one transaction.

Create and update answer the entry as written, from the entity itself, without reading it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from ...dialects import insert_unless_present
from ...models import Actor, Attachment, AuditAction, Knowledge, KnowledgeRevision, Status, Tag, as_utc, utcnow
from ...schemas.knowledge import KnowledgeCreate, KnowledgeUpdate
from .. import audit
from ..context import Context
from ..errors import Conflict
from .blobs import release_blobs
from .entries import EntryDetail, PendingChange, Person
from .queries import category, load_entry, pending_change


def written(
    entry: Knowledge, created_by: Person | None, updated_by: Person | None, pending: PendingChange | None = None
) -> EntryDetail:
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
        pending,
    )


def _tags(session: Session, names: list[str]) -> list[Tag]:
    existing = {tag.name: tag for tag in session.scalars(select(Tag).where(Tag.name.in_(names)))}
    missing = sorted(set(names) - existing.keys())
    if missing:
        # In one order for every request: each insert waits for a concurrent one of the same name, and
        # two requests adding the same two tags in opposite orders would deadlock. A name another
        # request added first is left as it is, and read below like the others.
        session.execute(insert_unless_present(session, Tag).values([{"name": name} for name in missing]))
        existing.update((tag.name, tag) for tag in session.scalars(select(Tag).where(Tag.name.in_(missing))))
    return [existing[name] for name in names]


def _add_revision(
    session: Session,
    entry: Knowledge,
    actor: Actor,
    changed_fields: list[str],
    *,
    snapshot: dict[str, Any] | None = None,
    comment: str | None = None,
) -> KnowledgeRevision:
    """Record the entry's new version: its own fields, or (``snapshot``) a pending change's."""
    record = KnowledgeRevision(
        knowledge_id=entry.id,
        revision=entry.version,
        changed_by_id=actor.id,
        changed_at=entry.updated_at if snapshot is None else utcnow(),
        changed_fields=changed_fields,
        snapshot=snapshot if snapshot is not None else entry.snapshot(),
        comment=comment,
    )
    session.add(record)
    return record


# The fields an edit sets: every tracked field but the status, which only the workflow changes.
EDITABLE_FIELDS = tuple(name for name in Knowledge.TRACKED_FIELDS if name != "status")


def edit_of(snapshot: dict[str, Any], version: int | None = None) -> KnowledgeUpdate:
    """The update that gives an entry a revision's fields but its status (a field the revision predates,
    saved before it was tracked, is left as it is)."""
    values = {name: snapshot[name] for name in EDITABLE_FIELDS if name in snapshot}
    return KnowledgeUpdate.model_validate({**values, "version": version})


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The tracked fields whose values differ between two snapshots."""
    return [name for name in Knowledge.TRACKED_FIELDS if before.get(name) != after.get(name)]


@dataclass(frozen=True)
class NewEntry:
    """An entry to add: its fields, its status, and its id in the system it comes from (an import's)."""

    data: KnowledgeCreate
    status: Status = Status.DRAFT
    external_id: str | None = None


def add_entries(ctx: Context, new: list[NewEntry], actor: Actor) -> list[Knowledge]:
    """Add the entries, each with its first revision, in the session's transaction (not committed).

    One batch of INSERTs for many entries: the search index learns them at the flush (search/sync.py).
    """
    session = ctx.session
    categories = {name: category(ctx, name) for name in {item.data.category for item in new}}
    names = sorted({tag for item in new for tag in item.data.tags})
    tags = dict(zip(names, _tags(session, names), strict=True))
    entries = [
        Knowledge(
            **item.data.model_dump(exclude={"category", "tags"}),
            status=item.status,
            external_id=item.external_id,
            category=categories[item.data.category],
            tags=[tags[name] for name in item.data.tags],
            created_by_id=actor.id,
            updated_by_id=actor.id,
        )
        for item in new
    ]
    session.add_all(entries)
    session.flush()
    for entry in entries:
        _add_revision(session, entry, actor, list(Knowledge.TRACKED_FIELDS))
    return entries


def create_knowledge(
    ctx: Context, data: KnowledgeCreate, actor: Actor, *, status: Status = Status.DRAFT
) -> EntryDetail:
    """Create an entry and its first revision; the entry as created.

    Only the review workflow approves: ``status`` is for bringing in knowledge approved elsewhere (the
    demo corpus), never an API request's to choose.
    """
    (entry,) = add_entries(ctx, [NewEntry(data, status)], actor)
    audit.record(
        ctx, AuditAction.KNOWLEDGE_CREATE, actor, target_type="knowledge", target_id=entry.id, title=entry.title
    )
    ctx.session.commit()
    author = Person.of(actor)
    return written(entry, author, author)


def check_version(entry: Knowledge, version: int | None) -> None:
    """Refuse a change made from another version than the current one (None: the caller did not say)."""
    if version is not None and version != entry.version:
        raise _version_conflict(entry.version)


def _flush_version(session: Session) -> None:
    """Write the entry's change, refused as a conflict when a concurrent change has bumped its version first."""
    try:
        session.flush()
    except StaleDataError:
        session.rollback()
        raise _version_conflict(None) from None


def record_revision(
    ctx: Context,
    entry: Knowledge,
    actor: Actor,
    changed: list[str],
    *,
    pending: dict[str, Any] | None = None,
    comment: str | None = None,
) -> KnowledgeRevision:
    """Write the entry's change and record it as its next revision: a change of the entry itself (by the
    actor, now), or, given ``pending``, the snapshot of its pending change (the entry's fields untouched)."""
    if pending is not None:
        entry.pending_revision = entry.version + 1  # the version this flush gives the entry
    else:
        entry.updated_by_id = actor.id
        entry.updated_at = utcnow()
    _flush_version(ctx.session)
    return _add_revision(ctx.session, entry, actor, changed, snapshot=pending, comment=comment)


def _audit_update(ctx: Context, entry: Knowledge, actor: Actor, changed: list[str], **details: Any) -> None:
    audit.record(
        ctx,
        AuditAction.KNOWLEDGE_UPDATE,
        actor,
        target_type="knowledge",
        target_id=entry.id,
        changed_fields=changed,
        version=entry.version,
        **details,
    )


def apply_fields(ctx: Context, entry: Knowledge, values: dict[str, Any]) -> None:
    """Set the entry's fields from API-shaped values (a category and tags by name)."""
    # Look up (or create) category and tags before changing the entry: a query after a change would
    # autoflush it, an UPDATE that bumps the version once more (a gap in the revisions) and, when a
    # concurrent edit won, fails outside the conflict handling of _flush_version.
    resolved = dict(values)
    if "category" in resolved:
        resolved["category"] = category(ctx, resolved["category"])
    if "tags" in resolved:
        resolved["tags"] = _tags(ctx.session, resolved["tags"])
    # Replacing the tags loads the current ones first: that query must not flush the fields set before it.
    with ctx.session.no_autoflush:
        for name, value in resolved.items():
            setattr(entry, name, value)


def update_knowledge(
    ctx: Context, knowledge_id: int, data: KnowledgeUpdate, actor: Actor, *, restored_from: int | None = None
) -> EntryDetail:
    """Apply the given fields; a real change bumps the version and records a revision. The entry as updated.

    An approved entry keeps its approved text: the change is saved as its pending change (``_propose``).
    ``restored_from``: the revision whose fields these are (a restore), recorded in the audit entry.
    """
    session = ctx.session
    entry = load_entry(ctx, knowledge_id, actor)
    check_version(entry, data.version)
    changes = data.changes()
    details: dict[str, Any] = {"restored_from": restored_from} if restored_from is not None else {}
    if entry.status == Status.APPROVED:
        return _propose(ctx, entry, changes, actor, details)
    before = entry.snapshot()
    apply_fields(ctx, entry, changes)
    changed = changed_fields(before, entry.snapshot())
    if not changed:
        return written(entry, Person.of(entry.created_by), Person.of(entry.updated_by))
    record_revision(ctx, entry, actor, changed)
    _audit_update(ctx, entry, actor, changed, **details)
    session.commit()
    # The updated_by relationship still holds the previous editor: the actor is the editor now.
    return written(entry, Person.of(entry.created_by), Person.of(actor))


def _as_saved(ctx: Context, changes: dict[str, Any]) -> dict[str, Any]:
    """Changes as a snapshot holds them (a category by a name that exists, tags sorted, a date as text)."""
    saved = dict(changes)
    if "category" in saved:
        saved["category"] = category(ctx, saved["category"]).name
    if "tags" in saved:
        saved["tags"] = sorted(saved["tags"])
    if saved.get("review_due") is not None:
        saved["review_due"] = saved["review_due"].isoformat()
    return saved


def _propose(
    ctx: Context, entry: Knowledge, changes: dict[str, Any], actor: Actor, details: dict[str, Any]
) -> EntryDetail:
    """Save changes to an approved entry as its pending change, a new revision in draft (or still in review)."""
    session = ctx.session
    pending = pending_change(ctx, entry.id, entry.pending_revision)
    newest = pending.snapshot if pending is not None else entry.snapshot()
    proposed = {**newest, **_as_saved(ctx, changes), "status": newest["status"] if pending else Status.DRAFT}
    changed = changed_fields(newest, proposed)
    if not set(changed) - {"status"}:
        current = PendingChange.of(pending, Person.of(pending.changed_by)) if pending is not None else None
        return written(entry, Person.of(entry.created_by), Person.of(entry.updated_by), current)
    record = record_revision(ctx, entry, actor, changed, pending=proposed)
    _audit_update(ctx, entry, actor, changed, pending=True, **details)
    session.commit()
    pending_now = PendingChange.of(record, Person.of(actor))
    return written(entry, Person.of(entry.created_by), Person.of(entry.updated_by), pending_now)


def _version_conflict(current: int | None) -> Conflict:
    return Conflict(
        "version_conflict",
        "他のユーザーが先に更新しました。最新の内容を取得してから再度編集してください。",
        details=[{"current_version": current}] if current is not None else None,
    )


def delete_knowledge(ctx: Context, knowledge_id: int, actor: Actor) -> None:
    """Delete an entry with its revisions, index rows and attachments (their files once nothing refers to them)."""
    session = ctx.session
    entry = load_entry(ctx, knowledge_id, actor)
    files = session.execute(
        select(Attachment.blob, Attachment.thumbnail_blob).where(Attachment.knowledge_id == entry.id)
    )
    keys = [key for pair in files for key in pair if key is not None]
    audit.record(
        ctx, AuditAction.KNOWLEDGE_DELETE, actor, target_type="knowledge", target_id=entry.id, title=entry.title
    )
    session.delete(entry)
    session.commit()
    release_blobs(ctx, keys)
