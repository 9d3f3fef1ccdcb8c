"""Who may see which entry, and the statements the reads run, built once.

Every fetch of one entry (the detail row of a read, the entity of a write) passes the one gate
``visible``; the statements answer rows of exactly the columns a response shows (no entity built
per entry, no body in lists), turned into ``entries`` values by ``entry_of``: building and keying a
statement costs more than running it on an indexed row.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy import (
    JSON,
    BindParameter,
    ColumnElement,
    Select,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import GenericFunction

from ...models import (
    Actor,
    Category,
    Knowledge,
    KnowledgeRevision,
    Priority,
    Role,
    Status,
    Tag,
    User,
    as_utc,
    knowledge_tags,
)
from ...schemas.knowledge import SortKey
from ..context import Context
from ..errors import InvalidField, NotFound
from ..pages import paged
from .entries import EntrySummary, Person

NOT_FOUND = functools.partial(NotFound, "knowledge_not_found", "ナレッジが見つかりません。")


def visible_statuses(actor: Actor) -> tuple[str, ...] | None:
    """Statuses the actor may read: viewers (partners) see approved knowledge only."""
    return (Status.APPROVED,) if actor.role == Role.VIEWER else None


# The status a revision was saved in.
RECORDED_STATUS = KnowledgeRevision.snapshot["status"].as_string()


# Revisions follow the same rule by the status recorded in each, so a partner never reads text that was
# not approved when saved (a draft before its approval), whatever the entry's status is now. Every read
# of revisions (the list, one revision, any diff) filters by this one condition.
def visible_revisions(actor: Actor) -> ColumnElement[bool]:
    """Condition on the revisions the actor may read: those recorded in a status the actor may read."""
    statuses = visible_statuses(actor)
    if statuses is None:
        return true()
    recorded: ColumnElement[bool] = RECORDED_STATUS.in_(statuses)
    return recorded


class _Entry(Protocol):
    @property
    def status(self) -> str: ...


E = TypeVar("E", bound=_Entry)


def visible(found: E | None, actor: Actor) -> E:
    """The entry found; NotFound alike when there is none and when the actor may not see it."""
    statuses = visible_statuses(actor)
    if found is None or (statuses is not None and found.status not in statuses):
        raise NOT_FOUND()
    return found


_ENTRY = select(Knowledge).where(Knowledge.id == bindparam("knowledge_id"))


def load_entry(ctx: Context, knowledge_id: int, actor: Actor) -> Knowledge:
    """The entity, for the use cases that change it or read its revisions; NotFound as ``visible``."""
    return visible(ctx.session.execute(_ENTRY, {"knowledge_id": knowledge_id}).scalar_one_or_none(), actor)


_REVISION = select(KnowledgeRevision).where(
    KnowledgeRevision.knowledge_id == bindparam("knowledge_id"), KnowledgeRevision.revision == bindparam("number")
)


def pending_change(ctx: Context, knowledge_id: int, pending_revision: int | None) -> KnowledgeRevision | None:
    """The revision holding an approved entry's pending change, if it has one (read by writers only)."""
    if pending_revision is None:
        return None
    return ctx.session.execute(_REVISION, {"knowledge_id": knowledge_id, "number": pending_revision}).scalar_one()


def category(ctx: Context, name: str) -> Category:
    """The category of this name; InvalidField when there is none."""
    found = ctx.session.scalar(select(Category).where(Category.name == name))
    if found is None:
        raise InvalidField("category", "unknown_category", "未登録のカテゴリです。")
    return found


class _NamesArray(GenericFunction[list[str]]):
    """A JSON array of the aggregated names (json_group_array on SQLite, json_agg on PostgreSQL)."""

    type = JSON()
    inherit_cache = True


@compiles(_NamesArray, "sqlite")
def _names_array_sqlite(element: _NamesArray, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_group_array({compiler.process(element.clauses, **kw)})"


@compiles(_NamesArray, "postgresql")
def _names_array_postgresql(element: _NamesArray, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_agg({compiler.process(element.clauses, **kw)})"


_creator, _updater = aliased(User, name="creator"), aliased(User, name="updater")
# Each row carries its tag names: one correlated lookup in the database, not one more query.
_TAG_NAMES = (
    select(_NamesArray(Tag.name))
    .join_from(knowledge_tags, Tag, Tag.id == knowledge_tags.c.tag_id)
    .where(knowledge_tags.c.knowledge_id == Knowledge.id)
    .scalar_subquery()
)
# The columns of an EntrySummary, in the order entry_of unpacks them.
_SUMMARIES = (
    select(
        Knowledge.id,
        Knowledge.title,
        Knowledge.summary,
        Category.name.label("category"),
        Knowledge.status,
        Knowledge.priority,
        Knowledge.project_code,
        Knowledge.owner_department,
        Knowledge.review_due,
        _creator.id.label("creator_id"),
        _creator.username.label("creator_username"),
        _creator.display_name.label("creator_display_name"),
        _updater.id.label("updater_id"),
        _updater.username.label("updater_username"),
        _updater.display_name.label("updater_display_name"),
        Knowledge.created_at,
        Knowledge.updated_at,
        Knowledge.view_count,
        Knowledge.version,
        _TAG_NAMES.label("tags"),
    )
    .join(Category, Category.id == Knowledge.category_id)
    .outerjoin(_creator, _creator.id == Knowledge.created_by_id)
    .outerjoin(_updater, _updater.id == Knowledge.updated_by_id)
)
_DETAIL_COLUMNS = _SUMMARIES.add_columns(Knowledge.content, Knowledge.pending_revision)
SUMMARIES = _SUMMARIES.where(Knowledge.id.in_(bindparam("ids", expanding=True)))
DETAILS = _DETAIL_COLUMNS.where(Knowledge.id.in_(bindparam("ids", expanding=True)))
# One entry by id: an expanding IN would be rendered again on every call.
DETAIL = _DETAIL_COLUMNS.where(Knowledge.id == bindparam("knowledge_id"))
COUNT_VIEW = (
    update(Knowledge).where(Knowledge.id == bindparam("knowledge_id")).values(view_count=Knowledge.view_count + 1)
)

S = TypeVar("S", bound=EntrySummary)


def entry_of(shape: type[S], row: Sequence[Any], *more: Any) -> S:
    """The value of this shape from a row of _SUMMARIES' columns (and any after them), ``more`` its fields beyond."""
    (
        id_,
        title,
        summary,
        category_name,
        status,
        priority,
        project_code,
        owner_department,
        review_due,
        creator_id,
        creator_username,
        creator_display_name,
        updater_id,
        updater_username,
        updater_display_name,
        created_at,
        updated_at,
        view_count,
        version,
        tags,
        *_,
    ) = row
    return shape(
        id_,
        title,
        summary,
        category_name,
        sorted(tags or ()),  # code-point order; no tags: [] or NULL by database
        status,
        priority,
        project_code,
        owner_department,
        review_due,
        # Outer joins: all None when the user was deleted.
        Person(creator_id, creator_username, creator_display_name) if creator_id is not None else None,
        Person(updater_id, updater_username, updater_display_name) if updater_id is not None else None,
        as_utc(created_at),  # SQLite hands them back naive
        as_utc(updated_at),
        view_count,
        version,
        *more,
    )


PRIORITY_RANK = case(
    {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2, Priority.CRITICAL: 3},
    value=Knowledge.priority,
)
# Each list order: its key (never NULL) and whether it descends; ties go to the larger id.
SORT_KEYS: dict[SortKey, tuple[ColumnElement[Any], bool]] = {
    SortKey.UPDATED_DESC: (Knowledge.updated_at.expression, True),
    SortKey.UPDATED: (Knowledge.updated_at.expression, False),
    SortKey.CREATED_DESC: (Knowledge.created_at.expression, True),
    SortKey.CREATED: (Knowledge.created_at.expression, False),
    SortKey.TITLE: (Knowledge.title.expression, False),
    SortKey.TITLE_DESC: (Knowledge.title.expression, True),
    SortKey.VIEWS_DESC: (Knowledge.view_count.expression, True),
    SortKey.PRIORITY_DESC: (PRIORITY_RANK, True),
}
# The orders an index on updated_at serves (with or without the status or category filter): their
# pages cost a few index entries; any other order sorts every matching entry.
INDEXED_SORTS = frozenset({SortKey.UPDATED_DESC, SortKey.UPDATED})
# The list filters, each a condition on one bound value of the same name.
LIST_FILTERS: dict[str, Callable[[], ColumnElement[bool]]] = {
    "status": lambda: Knowledge.status == bindparam("status"),
    # By id, from a scalar subquery: the planner then walks the category's own index in list order.
    "category": lambda: (
        Knowledge.category_id == select(Category.id).where(Category.name == bindparam("category")).scalar_subquery()
    ),
    "tag": lambda: Knowledge.tags.any(Tag.name == bindparam("tag")),
    "project_code": lambda: Knowledge.project_code == bindparam("project_code"),
    "owner_department": lambda: Knowledge.owner_department == bindparam("owner_department"),
    # QueryTimestamp has already converted them to UTC.
    "updated_since": lambda: Knowledge.updated_at >= bindparam("updated_since"),
    "updated_before": lambda: Knowledge.updated_at < bindparam("updated_before"),
    # Due on that day or earlier.
    "review_due_before": lambda: Knowledge.review_due <= bindparam("review_due_before"),
    "created_by": lambda: (
        Knowledge.created_by_id == select(User.id).where(User.username == bindparam("created_by")).scalar_subquery()
    ),
}


@functools.lru_cache(maxsize=512)
def list_statements(
    filters: tuple[str, ...], sort: SortKey, statuses: tuple[str, ...] | None, after_cursor: bool
) -> tuple[Select[Any], Select[int]]:
    """The page (rows of _SUMMARIES and their sort_key) and count statements for one combination of
    filters, sort order, visibility and cursor."""
    conditions = [LIST_FILTERS[name]() for name in filters]
    if statuses is not None:
        conditions.append(Knowledge.status.in_(statuses))
    key, descending = SORT_KEYS[sort]
    count = select(func.count()).select_from(Knowledge).where(*conditions)
    if after_cursor:
        conditions.append(_after(key, descending))
    page = paged(
        _SUMMARIES.add_columns(key.label("sort_key"))
        .where(*conditions)
        .order_by(key.desc() if descending else key.asc(), Knowledge.id.desc())
    )
    return page, count


def _after(key: ColumnElement[Any], descending: bool) -> ColumnElement[bool]:
    """Rows after the cursor's (key, id) in list order: key in its direction, then id descending.

    The first bound alone is what an index on the key seeks to; the second orders the ties.
    """
    value: BindParameter[Any] = bindparam("cursor_key")
    last_id: BindParameter[int] = bindparam("cursor_id")
    if descending:
        return and_(key <= value, or_(key < value, Knowledge.id < last_id))
    return and_(key >= value, or_(key > value, Knowledge.id < last_id))
