"""An entry's attachments (photos, PDFs): add, list, open, delete.

A file is judged and normalized by ``mks.files`` (type from the bytes, orientation applied, GPS
removed, thumbnail) and stored in the blob store before its row is written. Adding one is a change
of the entry like an edit: it records a revision, and on an approved entry it waits for approval
like a text change. A viewer sees only the attachments the entry had when it was last approved
(added before the approval that its ``updated_at`` records, as nothing else changes an approved row).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from sqlalchemy import func, select

from ...files import RefusedFile, stored_form
from ...models import Actor, Attachment, AuditAction, Knowledge, Status, as_utc, utcnow
from .. import audit
from ..context import Context
from ..errors import Conflict, InvalidField, NotFound
from .blobs import release_blobs
from .entries import Person
from .queries import load_entry, pending_change, visible_statuses
from .writes import record_revision


@dataclass(frozen=True)
class AttachmentInfo:
    id: int
    knowledge_id: int
    filename: str
    content_type: str
    size: int
    width: int | None
    height: int | None
    has_thumbnail: bool
    uploaded_by: Person | None
    created_at: datetime  # in UTC

    @classmethod
    def of(cls, found: Attachment, uploaded_by: Person | None) -> AttachmentInfo:
        return cls(
            found.id,
            found.knowledge_id,
            found.filename,
            found.content_type,
            found.size,
            found.width,
            found.height,
            found.thumbnail_blob is not None,
            uploaded_by,
            as_utc(found.created_at),
        )


def _NOT_FOUND() -> NotFound:
    return NotFound("attachment_not_found", "添付ファイルが見つかりません。")


def _shown_to(actor: Actor, updated_at: datetime, found: Attachment) -> bool:
    """Whether the actor may see this attachment of an entry last updated at ``updated_at`` (the entry itself
    passed the ``visible`` gate): a reader, only those of the approved text."""
    return visible_statuses(actor) is None or as_utc(found.created_at) <= as_utc(updated_at)


def add_attachments(
    ctx: Context, knowledge_id: int, files: Sequence[tuple[str, bytes]], actor: Actor
) -> list[AttachmentInfo]:
    """Store the files (name, bytes) and attach them, all or none, as one change of the entry.

    InvalidField (field ``file``) for a file MKS does not store: every file is judged before any is kept.
    """
    session, settings = ctx.session, ctx.settings
    entry = load_entry(ctx, knowledge_id, actor)
    attached = session.scalar(select(func.count()).where(Attachment.knowledge_id == entry.id)) or 0
    if attached + len(files) > settings.attachment_max_per_entry:
        raise Conflict(
            "too_many_attachments",
            f"1 件のナレッジに添付できるのは {settings.attachment_max_per_entry} 個までです"
            f"（いま {attached} 個）。不要な添付を削除してください。",
        )
    forms = []
    for filename, data in files:
        try:
            forms.append(
                stored_form(data, max_pixels=settings.attachment_max_pixels, keep_gps=settings.attachment_keep_gps)
            )
        except RefusedFile as exc:
            message = exc.message if len(files) == 1 else f"{filename}: {exc.message}"
            raise InvalidField("file", exc.code, message) from None
    _record_change(ctx, entry, actor)
    blobs = ctx.dependencies.blobs
    added = []
    for (filename, _data), form in zip(files, forms, strict=True):
        stored = Attachment(
            knowledge_id=entry.id,
            filename=filename,
            content_type=form.content_type,
            size=len(form.data),
            blob=blobs.put(form.data),
            thumbnail_blob=blobs.put(form.thumbnail) if form.thumbnail is not None else None,
            thumbnail_size=len(form.thumbnail) if form.thumbnail is not None else None,
            width=form.width,
            height=form.height,
            uploaded_by_id=actor.id,
            created_at=utcnow(),
        )
        session.add(stored)
        session.flush()
        audit.record(
            ctx,
            AuditAction.ATTACHMENT_ADD,
            actor,
            target_type="knowledge",
            target_id=entry.id,
            attachment_id=stored.id,
            filename=filename,
            content_type=form.content_type,
            size=stored.size,
        )
        added.append(AttachmentInfo.of(stored, Person.of(actor)))
    session.commit()
    return added


def _record_change(ctx: Context, entry: Knowledge, actor: Actor) -> None:
    """A revision for the added file: on an approved entry a pending change (opened, or the one open)."""
    if entry.status != Status.APPROVED:
        record_revision(ctx, entry, actor, ["attachments"])
        return
    pending = pending_change(ctx, entry.id, entry.pending_revision)
    snapshot = pending.snapshot if pending is not None else {**entry.snapshot(), "status": Status.DRAFT}
    record_revision(ctx, entry, actor, ["attachments"], pending=snapshot)


def list_attachments(ctx: Context, knowledge_id: int, actor: Actor) -> list[AttachmentInfo]:
    """The entry's attachments the actor may see, oldest first."""
    entry = load_entry(ctx, knowledge_id, actor)
    return attachments_of(ctx, entry.id, entry.updated_at, actor)


def attachments_of(ctx: Context, knowledge_id: int, updated_at: datetime, actor: Actor) -> list[AttachmentInfo]:
    """The attachments the actor may see of an entry just read for them (so visible to them), last updated at
    ``updated_at``, oldest first: a page showing the entry need not load it again."""
    # At most MKS_ATTACHMENT_MAX_PER_ENTRY rows: filtered here, by the same rule as one attachment.
    found = ctx.session.scalars(
        select(Attachment).where(Attachment.knowledge_id == knowledge_id).order_by(Attachment.created_at, Attachment.id)
    )
    shown = [item for item in found if _shown_to(actor, updated_at, item)]
    return [AttachmentInfo.of(item, Person.of(item.uploaded_by)) for item in shown]


def _shown(ctx: Context, attachment_id: int, actor: Actor) -> Attachment:
    """The attachment; NotFound alike when it does not exist and when the actor may not see it or its entry."""
    found = ctx.session.get(Attachment, attachment_id)
    if found is None:
        raise _NOT_FOUND()
    try:
        entry = load_entry(ctx, found.knowledge_id, actor)
    except NotFound:
        raise _NOT_FOUND() from None
    if not _shown_to(actor, entry.updated_at, found):
        raise _NOT_FOUND()
    return found


def open_attachment(
    ctx: Context, attachment_id: int, actor: Actor, *, thumbnail: bool = False
) -> tuple[AttachmentInfo, BinaryIO]:
    """The attachment (or its thumbnail) to send, if the actor may see it."""
    found = _shown(ctx, attachment_id, actor)
    key = found.thumbnail_blob if thumbnail else found.blob
    if key is None:
        raise NotFound("thumbnail_not_found", "この添付ファイルにはサムネイルがありません（PDF）。")
    return AttachmentInfo.of(found, Person.of(found.uploaded_by)), ctx.dependencies.blobs.open(key)


def delete_attachment(ctx: Context, attachment_id: int, actor: Actor) -> int:
    """Remove the attachment (at once, also from viewers), and its files when nothing else refers to them.

    Returns the id of the entry it belonged to."""
    found = _shown(ctx, attachment_id, actor)
    keys = [key for key in (found.blob, found.thumbnail_blob) if key is not None]
    audit.record(
        ctx,
        AuditAction.ATTACHMENT_DELETE,
        actor,
        target_type="knowledge",
        target_id=found.knowledge_id,
        attachment_id=found.id,
        filename=found.filename,
    )
    knowledge_id = found.knowledge_id
    ctx.session.delete(found)
    ctx.session.commit()
    release_blobs(ctx, keys)
    return knowledge_id
