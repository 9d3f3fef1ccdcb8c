"""An entry's revisions as one reader may see them (by the status recorded in each: ``visible_revisions``),
the differences between two of them, and a revision restored as a new one."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Select, select

from ...models import Actor, Knowledge, KnowledgeRevision, Status
from ..context import Context
from ..errors import NotFound
from .entries import EntryDetail
from .queries import RECORDED_STATUS, load_entry, visible_revisions
from .writes import changed_fields, edit_of, update_knowledge


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
    return ReadableRevision(current, changed_fields(previous.snapshot, current.snapshot))


def list_revisions(ctx: Context, knowledge_id: int, actor: Actor) -> list[ReadableRevision]:
    """The entry's revisions the actor may read, newest first."""
    entry = load_entry(ctx, knowledge_id, actor)
    found = list(ctx.session.scalars(_readable(entry.id, actor).order_by(KnowledgeRevision.revision.asc())))
    return [_as_read(previous, current) for previous, current in zip([None, *found], found, strict=False)][::-1]


def _numbered(
    ctx: Context, readable: Select[KnowledgeRevision], number: int, message: str = "指定された版が見つかりません。"
) -> KnowledgeRevision:
    """The readable revision of this number; NotFound alike when it does not exist or the actor may not read it."""
    found = ctx.session.scalar(readable.where(KnowledgeRevision.revision == number))
    if found is None:
        raise NotFound("revision_not_found", message)
    return found


def _before(ctx: Context, readable: Select[KnowledgeRevision], number: int) -> KnowledgeRevision | None:
    """The last readable revision before this number."""
    return ctx.session.scalar(
        readable.where(KnowledgeRevision.revision < number).order_by(KnowledgeRevision.revision.desc()).limit(1)
    )


def revision(ctx: Context, knowledge_id: int, number: int, actor: Actor) -> ReadableRevision:
    """One revision of the entry; NotFound alike when it does not exist or the actor may not read it."""
    readable = _readable(load_entry(ctx, knowledge_id, actor).id, actor)
    return _as_read(_before(ctx, readable, number), _numbered(ctx, readable, number))


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: Any
    after: Any


@dataclass(frozen=True)
class LineRun:
    """Consecutive lines of the body kept, removed or added ("equal", "delete", "insert")."""

    op: Literal["equal", "delete", "insert"]
    lines: list[str]


@dataclass(frozen=True)
class RevisionDiff:
    """What changed from ``base`` to ``target``: each other field that differs, and the body line by line."""

    base: int
    target: int
    fields: list[FieldChange]
    content: list[LineRun]


def diff(
    ctx: Context, knowledge_id: int, number: int, against: int | Literal["approved"] | None, actor: Actor
) -> RevisionDiff:
    """Revision ``number`` against another the actor may read: by number, the last approved one, or (None) the
    one before it that the actor may read (none before the first: against nothing)."""
    readable = _readable(load_entry(ctx, knowledge_id, actor).id, actor)
    target = _numbered(ctx, readable, number)
    base: KnowledgeRevision | None
    if against == "approved":
        base = ctx.session.scalar(
            readable.where(RECORDED_STATUS == Status.APPROVED).order_by(KnowledgeRevision.revision.desc()).limit(1)
        )
        if base is None:
            raise NotFound("approved_revision_not_found", "承認済みの版がありません。")
    elif against is not None:
        base = _numbered(ctx, readable, against, "比べる版が見つかりません。")
    else:
        base = _before(ctx, readable, number)
    before: dict[str, Any] = base.snapshot if base is not None else {}
    after = target.snapshot
    fields = [
        FieldChange(name, before.get(name), after.get(name))
        for name in Knowledge.TRACKED_FIELDS
        if name != "content" and before.get(name) != after.get(name)
    ]
    return RevisionDiff(
        base.revision if base is not None else 0,
        target.revision,
        fields,
        line_runs(before.get("content") or "", after.get("content") or ""),
    )


def line_runs(before: str, after: str) -> list[LineRun]:
    """The body's lines as runs kept, removed and added (a replaced run is its removal, then its addition)."""
    old, new = before.splitlines(), after.splitlines()
    runs: list[LineRun] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            runs.append(LineRun("equal", old[i1:i2]))
        if tag in ("delete", "replace"):
            runs.append(LineRun("delete", old[i1:i2]))
        if tag in ("insert", "replace"):
            runs.append(LineRun("insert", new[j1:j2]))
    return runs


def restore(ctx: Context, knowledge_id: int, number: int, version: int | None, actor: Actor) -> EntryDetail:
    """The entry with revision ``number``'s fields (but its status) as a new revision, like an update.

    A field the revision predates (saved before it was tracked) keeps its current value.
    """
    found = _numbered(ctx, _readable(load_entry(ctx, knowledge_id, actor).id, actor), number).snapshot
    return update_knowledge(ctx, knowledge_id, edit_of(found, version), actor, restored_from=number)
