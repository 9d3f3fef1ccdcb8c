"""The review workflow's steps: submit, approve, send back, archive, take out of the archive.

An entry's stage is the status of its newest revision: its pending change's when it has one (an
approved entry being changed), else its own. A step moves the stage on and records a revision with
the step's comment; approving a pending change copies it into the entry, which until then served
its approved text. Four eyes: nobody approves a change they wrote. Submitting tells the approvers,
approving and sending back tell the change's authors (mks.notifications), in the step's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from ...models import Actor, AuditAction, KnowledgeRevision, Status
from ...notifications.outbox import Event, StepTaken, enqueue
from .. import audit
from ..context import Context
from ..errors import Conflict, Forbidden
from .entries import EntryDetail, PendingChange, Person
from .queries import RECORDED_STATUS, load_entry, pending_change
from .writes import apply_fields, changed_fields, check_version, edit_of, record_revision, written

STAGE_NAMES = {
    Status.DRAFT: "下書き",
    Status.REVIEW: "レビュー中",
    Status.APPROVED: "承認済み",
    Status.ARCHIVED: "アーカイブ済み",
}


@dataclass(frozen=True)
class Step:
    """One workflow step: the stages it starts from, the stage it leads to, and its refusal from any other."""

    action: AuditAction
    starts_from: frozenset[Status]
    leads_to: Status
    refusal: str  # completes "<stage>のナレッジは"
    tells: Event | None = None  # whom it notifies: see mks.notifications.outbox


SUBMIT = Step(
    AuditAction.KNOWLEDGE_SUBMIT, frozenset({Status.DRAFT}), Status.REVIEW, "レビュー依頼できません。", Event.SUBMITTED
)
APPROVE = Step(
    AuditAction.KNOWLEDGE_APPROVE, frozenset({Status.REVIEW}), Status.APPROVED, "承認できません。", Event.APPROVED
)
SEND_BACK = Step(
    AuditAction.KNOWLEDGE_SEND_BACK, frozenset({Status.REVIEW}), Status.DRAFT, "差し戻せません。", Event.SENT_BACK
)
ARCHIVE = Step(
    AuditAction.KNOWLEDGE_ARCHIVE,
    frozenset({Status.DRAFT, Status.REVIEW, Status.APPROVED}),
    Status.ARCHIVED,
    "アーカイブできません。",
)
UNARCHIVE = Step(
    AuditAction.KNOWLEDGE_UNARCHIVE, frozenset({Status.ARCHIVED}), Status.DRAFT, "アーカイブから戻せません。"
)


def take_step(
    ctx: Context, knowledge_id: int, step: Step, version: int, comment: str | None, actor: Actor
) -> EntryDetail:
    """Move the entry through one step, from the version the actor saw; the entry as it now is."""
    session = ctx.session
    entry = load_entry(ctx, knowledge_id, actor)
    check_version(entry, version)
    pending = pending_change(ctx, entry.id, entry.pending_revision)
    newest = pending.snapshot if pending is not None else entry.snapshot()
    stage = Status(newest["status"])
    if stage not in step.starts_from:
        raise Conflict("invalid_status_transition", f"{STAGE_NAMES[stage]}のナレッジは{step.refusal}")
    authors = authors_under_review(ctx, entry.id)
    if step is APPROVE and actor.id in authors:
        raise Forbidden("own_change", "自分が書いた変更は承認できません。別の承認者に依頼してください。")
    by = Person.of(actor)
    pending_now: PendingChange | None = None
    if pending is not None and step.leads_to in (Status.DRAFT, Status.REVIEW):
        moved = {**newest, "status": step.leads_to}
        pending_now = PendingChange.of(
            record_revision(ctx, entry, actor, ["status"], pending=moved, comment=comment), by
        )
    else:
        if pending is not None and step is APPROVE:
            apply_fields(ctx, entry, edit_of(newest).changes())
        entry.status = step.leads_to
        entry.pending_revision = None
        with session.no_autoflush:  # reading the tags must not write the status ahead of record_revision
            changed = changed_fields(newest, entry.snapshot())
        record_revision(ctx, entry, actor, changed, comment=comment)
    details: dict[str, Any] = {"version": entry.version}
    if comment is not None:
        details["comment"] = comment
    audit.record(ctx, step.action, actor, target_type="knowledge", target_id=entry.id, **details)
    if step.tells is not None:
        taken = StepTaken(step.tells, entry.id, newest["title"], entry.version, actor, comment)
        enqueue(session, ctx.settings, taken, authors)
    session.commit()
    if step.tells is not None:
        ctx.dependencies.notification_added()
    # The updated_by relationship still holds the previous editor when the step changed the entry itself.
    return written(entry, Person.of(entry.created_by), Person.of(entry.updated_by) if pending_now else by, pending_now)


def authors_under_review(ctx: Context, knowledge_id: int) -> set[int]:
    """Who changed the text (any field but the status) since the entry was last approved."""
    last_approved = (
        select(func.coalesce(func.max(KnowledgeRevision.revision), 0))
        .where(KnowledgeRevision.knowledge_id == knowledge_id, RECORDED_STATUS == Status.APPROVED)
        .scalar_subquery()
    )
    since = select(KnowledgeRevision.changed_by_id, KnowledgeRevision.changed_fields).where(
        KnowledgeRevision.knowledge_id == knowledge_id, KnowledgeRevision.revision > last_approved
    )
    return {author for author, fields in ctx.session.execute(since) if author is not None and set(fields) - {"status"}}
