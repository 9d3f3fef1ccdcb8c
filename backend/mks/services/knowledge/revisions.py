"""An entry's revisions as one reader may see them (by the status recorded in each: ``visible_revisions``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, select

from ...models import Actor, Knowledge, KnowledgeRevision
from ..context import Context
from ..errors import NotFound
from .queries import load_entry, visible_revisions


# Relative to a hidden predecessor, changed_fields would tell which fields an unapproved revision touched.
@dataclass(frozen=True)
class ReadableRevision:
    """A revision as one reader sees it: changed_fields since the previous revision that reader may read."""

    record: KnowledgeRevision
    changed_fields: list[str]


def _readable(knowledge_id: int, actor: Actor) -> Select[KnowledgeRevision]:
    return select(KnowledgeRevision).where(KnowledgeRevision.knowledge_id == knowledge_id, visible_revisions(actor))


def _as_read(previous: KnowledgeRevision | None, current: KnowledgeRevision) -> ReadableRevision:
    if (previous.revision if previous is not None else 0) == current.revision - 1:
        return ReadableRevision(current, current.changed_fields)  # nothing hidden in between
    if previous is None:
        return ReadableRevision(current, list(Knowledge.TRACKED_FIELDS))  # the first one the reader sees
    changed = [name for name in Knowledge.TRACKED_FIELDS if previous.snapshot.get(name) != current.snapshot.get(name)]
    return ReadableRevision(current, changed)


def list_revisions(ctx: Context, knowledge_id: int, actor: Actor) -> list[ReadableRevision]:
    """The entry's revisions the actor may read, newest first."""
    entry = load_entry(ctx, knowledge_id, actor)
    found = list(ctx.session.scalars(_readable(entry.id, actor).order_by(KnowledgeRevision.revision.asc())))
    return [_as_read(previous, current) for previous, current in zip([None, *found], found, strict=False)][::-1]


def revision(ctx: Context, knowledge_id: int, number: int, actor: Actor) -> ReadableRevision:
    """One revision of the entry; NotFound alike when it does not exist or the actor may not read it."""
    entry = load_entry(ctx, knowledge_id, actor)
    session = ctx.session
    readable = _readable(entry.id, actor)
    found = session.scalar(readable.where(KnowledgeRevision.revision == number))
    if found is None:
        raise NotFound("revision_not_found", "指定された版が見つかりません。")
    previous = session.scalar(
        readable.where(KnowledgeRevision.revision < number).order_by(KnowledgeRevision.revision.desc()).limit(1)
    )
    return _as_read(previous, found)
