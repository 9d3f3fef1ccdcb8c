"""What a workflow step tells whom: the messages of one event, added to the step's own transaction.

Written with the step, a message is neither lost when the step commits nor sent when it fails.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..config import Settings
from ..models import Actor, Notification, Role, User, utcnow


class Event(StrEnum):
    SUBMITTED = "knowledge.submitted"
    APPROVED = "knowledge.approved"
    SENT_BACK = "knowledge.sent_back"


# Subject line and first sentence of each event's e-mail.
_WORDING = {
    Event.SUBMITTED: ("レビュー依頼", "{actor} さんがレビューを依頼しました。"),
    Event.APPROVED: ("承認", "{actor} さんが承認しました。閲覧者に公開されています。"),
    Event.SENT_BACK: ("差し戻し", "{actor} さんが差し戻しました。"),
}


@dataclass(frozen=True)
class StepTaken:
    """A workflow step others are told of."""

    event: Event
    knowledge_id: int
    title: str
    version: int
    actor: Actor
    comment: str | None


def recipients(session: Session, event: Event, authors: Collection[int], actor: Actor) -> list[str]:
    """The addresses to tell: approvers of a submission, the change's authors of a decision; never the actor."""
    query = select(User.email).where(User.is_active, User.email.is_not(None), User.id != actor.id)
    if event is Event.SUBMITTED:
        query = query.where(User.role.in_([Role.ADMIN, Role.APPROVER]))
    else:
        query = query.where(User.id.in_(list(authors)))
    return sorted(session.scalars(query))


def enqueue(session: Session, settings: Settings, step: StepTaken, authors: Collection[int]) -> None:
    """Add the step's messages, one per configured channel, to the session's transaction."""
    label, opening = _WORDING[step.event]
    link = f"{settings.public_url.rstrip('/')}/knowledge/{step.knowledge_id}"
    lines = [opening.format(actor=step.actor.display_name), "", f"ナレッジ: {step.title}", f"版: {step.version}"]
    if step.comment:
        lines.append(f"{'理由' if step.event is Event.SENT_BACK else 'コメント'}: {step.comment}")
    lines += ["", link]
    payload = {
        "event": step.event.value,
        "knowledge": {"id": step.knowledge_id, "title": step.title, "version": step.version, "url": link},
        "actor": {"id": step.actor.id, "username": step.actor.username, "display_name": step.actor.display_name},
        "comment": step.comment,
        "at": utcnow().isoformat(),
    }
    common = {"event": step.event.value, "knowledge_id": step.knowledge_id, "payload": payload}
    text = {"subject": f"[MKS] {label}: {step.title}"[:300], "body": "\n".join(lines)}
    if settings.smtp_host:
        addresses = recipients(session, step.event, authors, step.actor)
        if addresses:
            session.add(Notification(channel="email", recipients=addresses, **text, **common))
    if settings.webhook_url:
        session.add(Notification(channel="webhook", recipients=[settings.webhook_url], **text, **common))
