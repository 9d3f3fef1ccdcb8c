"""The review queue: entries waiting for review (their own text or a pending change), oldest waiting first."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select

from ...models import Knowledge, KnowledgeRevision, Status, User, as_utc
from ..context import Context
from .entries import EntryDetail, Person, QueuedEntry
from .queries import RECORDED_STATUS, SUMMARIES, entry_of

# Every revision of the entries that may be in review (in it, or with a pending change), each entry's newest
# first: only the status it was saved in.
_IN_REVIEW = (
    select(
        KnowledgeRevision.knowledge_id,
        RECORDED_STATUS,
        KnowledgeRevision.changed_by_id,
        KnowledgeRevision.changed_at,
    )
    .join(Knowledge, Knowledge.id == KnowledgeRevision.knowledge_id)
    .where(or_(Knowledge.status == Status.REVIEW, Knowledge.pending_revision.is_not(None)))
    .order_by(KnowledgeRevision.knowledge_id, KnowledgeRevision.revision.desc())
)


def review_queue(ctx: Context, *, limit: int, offset: int) -> tuple[list[QueuedEntry], int]:
    """One page of the entries in review, the longest waiting first, and how many wait in all.

    An entry is in review when its newest revision was saved in review. It was submitted by the first
    of its latest revisions saved in review: edits during the review keep its place, and one sent
    back and submitted again waits from the new submission.
    """
    submitted: dict[int, tuple[int | None, datetime]] = {}
    settled: set[int] = set()
    row: Any
    for row in ctx.session.execute(_IN_REVIEW):
        knowledge_id, status, changed_by_id, changed_at = row
        if knowledge_id in settled:
            continue
        if status == Status.REVIEW:
            submitted[knowledge_id] = (changed_by_id, as_utc(changed_at))
        else:
            settled.add(knowledge_id)
    waiting = sorted(submitted, key=lambda knowledge_id: (submitted[knowledge_id][1], knowledge_id))
    page = waiting[offset : offset + limit]
    if not page:
        return [], len(waiting)
    rows = {row.id: row for row in ctx.session.execute(SUMMARIES, {"ids": page})}
    submitter_ids = [by for by, _at in (submitted[knowledge_id] for knowledge_id in page) if by is not None]
    submitters = {user.id: user for user in ctx.session.scalars(select(User).where(User.id.in_(submitter_ids)))}
    entries = []
    for knowledge_id in page:
        by, at = submitted[knowledge_id]
        if (found := rows.get(knowledge_id)) is not None:  # else deleted since the first statement
            entries.append(entry_of(QueuedEntry, found, Person.of(submitters.get(by or 0)), at))
    return entries, len(waiting)


def send_back_reason(ctx: Context, entry: EntryDetail) -> str | None:
    """Why the entry, as a writer read it, was sent back (see send_back_reasons); None when it was not.

    Only a draft, or an approved entry's pending change, can have been sent back: an entry read in any other
    stage needs no look at its revisions (most entry pages show an approved entry without a change).
    """
    if entry.status != Status.DRAFT and entry.pending is None:
        return None
    return send_back_reasons(ctx, [entry.id]).get(entry.id)


def send_back_reasons(ctx: Context, knowledge_ids: Collection[int]) -> dict[int, str]:
    """Why each of the entries was sent back, for those that wait for their author since: their newest revision
    moved them from review to draft (a send-back; an unarchiving starts from the archive), with its reason."""
    if not knowledge_ids:
        return {}
    newest = (
        select(
            KnowledgeRevision.knowledge_id,
            RECORDED_STATUS.label("status"),
            KnowledgeRevision.comment,
            func.row_number()
            .over(partition_by=KnowledgeRevision.knowledge_id, order_by=KnowledgeRevision.revision.desc())
            .label("rank"),
        )
        .where(KnowledgeRevision.knowledge_id.in_(list(knowledge_ids)))
        .subquery()
    )
    rows: Any = ctx.session.execute(
        select(newest).where(newest.c.rank <= 2).order_by(newest.c.knowledge_id, newest.c.rank)
    )
    newest_of: dict[int, tuple[str, str | None]] = {}
    reasons: dict[int, str] = {}
    for knowledge_id, status, comment, rank in rows:
        if rank == 1:
            newest_of[knowledge_id] = (status, comment)
            continue
        newest_status, reason = newest_of[knowledge_id]
        if status == Status.REVIEW and newest_status == Status.DRAFT and reason:
            reasons[knowledge_id] = reason
    return reasons
