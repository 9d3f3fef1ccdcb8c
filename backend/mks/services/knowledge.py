"""Use cases of knowledge entries: list, read, create, update with revisions, delete, search."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BindParameter,
    ColumnElement,
    Row,
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
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import GenericFunction

from .. import cursors
from ..models import (
    STATUS_TRANSITIONS,
    Actor,
    AuditAction,
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
    utcnow,
)
from ..schemas.knowledge import KnowledgeCreate, KnowledgeListQuery, KnowledgeUpdate, SearchQuery, SortKey
from ..search import SearchFilters, SearchRequest
from ..search.text import parse_query, snippet
from . import audit
from .context import Context
from .errors import Conflict, InvalidField, NotFound


@dataclass(frozen=True)
class SearchResults:
    hits: list[tuple[Row[Any], float, str]]  # detail row, score, snippet
    total: int
    total_is_exact: bool
    terms: list[str]
    ignored_terms: list[str]


NOT_FOUND = functools.partial(NotFound, "knowledge_not_found", "ナレッジが見つかりません。")

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
INVALID_CURSOR = functools.partial(
    InvalidField,
    "cursor",
    "invalid_cursor",
    "cursor が不正か、別の並び順（sort）の一覧のものです。一覧の最初のページから取得し直してください。",
)


def visible_statuses(actor: Actor) -> tuple[str, ...] | None:
    """Statuses the actor may read: viewers (partners) see approved knowledge only."""
    return (Status.APPROVED,) if actor.role == Role.VIEWER else None


# Revisions follow the same rule by the status recorded in each, so a partner never reads text that was
# not approved when saved (a draft before its approval), whatever the entry's status is now. Every read
# of revisions (the list, one revision, any diff) filters by this one condition.
def visible_revisions(actor: Actor) -> ColumnElement[bool]:
    """Condition on the revisions the actor may read: those recorded in a status the actor may read."""
    statuses = visible_statuses(actor)
    if statuses is None:
        return true()
    recorded: ColumnElement[bool] = KnowledgeRevision.snapshot["status"].as_string().in_(statuses)
    return recorded


# Reads answer rows of exactly the columns a response shows (no entity built per entry, no body in
# lists), with statements built once: building and keying a statement costs more than running it
# on an indexed row. Writes load entities (get_visible) and answer what a read then returns.
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
_DETAIL_COLUMNS = _SUMMARIES.add_columns(Knowledge.content)
_DETAILS = _DETAIL_COLUMNS.where(Knowledge.id.in_(bindparam("ids", expanding=True)))
# One entry by id: an expanding IN would be rendered again on every call.
_DETAIL = _DETAIL_COLUMNS.where(Knowledge.id == bindparam("knowledge_id"))
_ENTRY = select(Knowledge).where(Knowledge.id == bindparam("knowledge_id"))
_COUNT_VIEW = (
    update(Knowledge).where(Knowledge.id == bindparam("knowledge_id")).values(view_count=Knowledge.view_count + 1)
)
# The list filters, each a condition on one bound value of the same name.
_LIST_FILTERS: dict[str, Callable[[], ColumnElement[bool]]] = {
    "status": lambda: Knowledge.status == bindparam("status"),
    # By id, from a scalar subquery: the planner then walks the category's own index in list order.
    "category": lambda: (
        Knowledge.category_id == select(Category.id).where(Category.name == bindparam("category")).scalar_subquery()
    ),
    "tag": lambda: Knowledge.tags.any(Tag.name == bindparam("tag")),
    "project_code": lambda: Knowledge.project_code == bindparam("project_code"),
    "owner_department": lambda: Knowledge.owner_department == bindparam("owner_department"),
    # QueryTimestamp has already converted it to UTC.
    "updated_since": lambda: Knowledge.updated_at >= bindparam("updated_since"),
}


def _check_visible(status: str, actor: Actor) -> None:
    statuses = visible_statuses(actor)
    if statuses is not None and status not in statuses:
        raise NOT_FOUND()


def get_visible(ctx: Context, knowledge_id: int, actor: Actor) -> Knowledge:
    """The entry; NotFound when it does not exist or the actor may not see it."""
    entry = ctx.session.execute(_ENTRY, {"knowledge_id": knowledge_id}).scalar_one_or_none()
    if entry is None:
        raise NOT_FOUND()
    _check_visible(entry.status, actor)
    return entry


def details(ctx: Context, ids: Sequence[int]) -> dict[int, Row[Any]]:
    """Detail rows (summary columns and body) of the entries with these ids, by id."""
    if not ids:
        return {}
    rows = ctx.session.connection().execute(_DETAILS, {"ids": list(ids)})
    return {row.id: row for row in rows}


def read(ctx: Context, knowledge_id: int, actor: Actor) -> Row[Any]:
    """The entry's detail row; NotFound when it does not exist or the actor may not see it."""
    row = ctx.session.connection().execute(_DETAIL, {"knowledge_id": knowledge_id}).first()
    if row is None:
        raise NOT_FOUND()
    _check_visible(row.status, actor)
    return row


def record_view(ctx: Context, knowledge_id: int) -> None:
    """Count one view with an atomic UPDATE, so concurrent readers never lose a count."""
    session = ctx.session
    session.connection().execute(_COUNT_VIEW, {"knowledge_id": knowledge_id})
    session.commit()


@functools.lru_cache(maxsize=512)
def _list_statements(
    filters: tuple[str, ...], sort: SortKey, statuses: tuple[str, ...] | None, after_cursor: bool
) -> tuple[Select[*tuple[Any, ...]], Select[int]]:
    """The page and count statements for one combination of filters, sort order, visibility and cursor."""
    conditions = [_LIST_FILTERS[name]() for name in filters]
    if statuses is not None:
        conditions.append(Knowledge.status.in_(statuses))
    key, descending = SORT_KEYS[sort]
    count = select(func.count()).select_from(Knowledge).where(*conditions)
    if after_cursor:
        conditions.append(_after(key, descending))
    page = (
        _SUMMARIES.add_columns(key.label("sort_key"))
        .where(*conditions)
        .order_by(key.desc() if descending else key.asc(), Knowledge.id.desc())
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
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


def _cursor_of(ctx: Context, sort: SortKey, row: Row[Any]) -> str:
    key = as_utc(row.sort_key).isoformat() if isinstance(row.sort_key, datetime) else row.sort_key
    return cursors.encode(ctx.dependencies.token_keys.secret, [sort.value, key, row.id])


def _cursor_position(ctx: Context, cursor: str, sort: SortKey) -> dict[str, Any]:
    """The bound values of _after for a cursor of this sort order; InvalidField for any other cursor."""
    try:
        issued_for, key, last_id = cursors.decode(ctx.dependencies.token_keys.secret, cursor)
    except cursors.InvalidCursor:
        raise INVALID_CURSOR() from None
    if issued_for != sort.value:
        raise INVALID_CURSOR()
    if SORT_KEYS[sort][0].type.python_type is datetime:
        key = datetime.fromisoformat(key)
    return {"cursor_key": key, "cursor_id": last_id}


def list_knowledge(ctx: Context, query: KnowledgeListQuery, actor: Actor) -> tuple[list[Row[Any]], int, str | None]:
    """One page of summary rows matching the filters, the total number matching, and the next page's cursor."""
    values: dict[str, Any] = {name: value for name in _LIST_FILTERS if (value := getattr(query, name)) is not None}
    position = _cursor_position(ctx, query.cursor, query.sort) if query.cursor is not None else {}
    page, count = _list_statements(tuple(values), query.sort, visible_statuses(actor), bool(position))
    connection = ctx.session.connection()
    total: int = connection.execute(count, values).scalar_one()
    # One row more than the page says whether another page follows.
    rows = connection.execute(page, {**values, **position, "limit": query.limit + 1, "offset": query.offset}).all()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return list(rows), total, _cursor_of(ctx, query.sort, rows[-1]) if more else None


def _category(ctx: Context, name: str) -> Category:
    category = ctx.session.scalar(select(Category).where(Category.name == name))
    if category is None:
        raise InvalidField("category", "unknown_category", "未登録のカテゴリです。")
    return category


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


def create_knowledge(ctx: Context, data: KnowledgeCreate, actor: Actor) -> Knowledge:
    """Create an entry and its first revision."""
    session = ctx.session
    entry = Knowledge(
        **data.model_dump(exclude={"category", "tags"}),
        category=_category(ctx, data.category),
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
    return entry


def _check_transition(current: str, new: str) -> None:
    if new != current and Status(new) not in STATUS_TRANSITIONS[Status(current)]:
        raise Conflict("invalid_status_transition", f"ステータスを {current} から {new} へは変更できません。")


def update_knowledge(ctx: Context, knowledge_id: int, data: KnowledgeUpdate, actor: Actor) -> Knowledge:
    """Apply the given fields; a real change bumps the version and records a revision."""
    session = ctx.session
    entry = get_visible(ctx, knowledge_id, actor)
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
        changes["category"] = _category(ctx, changes["category"])
    if "tags" in changes:
        changes["tags"] = _tags(session, changes["tags"])
    for name, value in changes.items():
        setattr(entry, name, value)
    changed_fields = [name for name, value in entry.snapshot().items() if before[name] != value]
    if not changed_fields:
        return entry
    entry.updated_by_id = actor.id
    entry.updated_at = utcnow()
    try:
        session.flush()
    except StaleDataError:
        session.rollback()
        raise _version_conflict(None) from None
    _add_revision(session, entry, actor, changed_fields)
    audit.record(
        ctx,
        AuditAction.KNOWLEDGE_UPDATE,
        actor,
        target_type="knowledge",
        target_id=entry.id,
        changed_fields=changed_fields,
        version=entry.version,
    )
    session.commit()
    return entry


def _version_conflict(current: int | None) -> Conflict:
    return Conflict(
        "version_conflict",
        "他のユーザーが先に更新しました。最新の内容を取得してから再度編集してください。",
        details=[{"current_version": current}] if current is not None else None,
    )


def delete_knowledge(ctx: Context, knowledge_id: int, actor: Actor) -> None:
    """Delete an entry with its revisions and index rows."""
    session = ctx.session
    entry = get_visible(ctx, knowledge_id, actor)
    audit.record(
        ctx, AuditAction.KNOWLEDGE_DELETE, actor, target_type="knowledge", target_id=entry.id, title=entry.title
    )
    session.delete(entry)
    session.commit()


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


def revisions(ctx: Context, knowledge_id: int, actor: Actor) -> list[ReadableRevision]:
    """The entry's revisions the actor may read, newest first."""
    entry = get_visible(ctx, knowledge_id, actor)
    found = list(ctx.session.scalars(_readable(entry.id, actor).order_by(KnowledgeRevision.revision.asc())))
    return [_as_read(previous, current) for previous, current in zip([None, *found], found, strict=False)][::-1]


def revision(ctx: Context, knowledge_id: int, number: int, actor: Actor) -> ReadableRevision:
    """One revision of the entry; NotFound alike when it does not exist or the actor may not read it."""
    entry = get_visible(ctx, knowledge_id, actor)
    session = ctx.session
    readable = _readable(entry.id, actor)
    found = session.scalar(readable.where(KnowledgeRevision.revision == number))
    if found is None:
        raise NotFound("revision_not_found", "指定された版が見つかりません。")
    previous = session.scalar(
        readable.where(KnowledgeRevision.revision < number).order_by(KnowledgeRevision.revision.desc()).limit(1)
    )
    return _as_read(previous, found)


def tag_counts(ctx: Context, actor: Actor) -> list[tuple[str, int]]:
    """Every tag in use on entries the actor can see, with its entry count, most used first."""
    statement = (
        select(Tag.name, func.count(knowledge_tags.c.knowledge_id))
        .join(knowledge_tags, knowledge_tags.c.tag_id == Tag.id)
        .join(Knowledge, Knowledge.id == knowledge_tags.c.knowledge_id)
        .group_by(Tag.name)
        .order_by(func.count(knowledge_tags.c.knowledge_id).desc(), Tag.name)
    )
    statuses = visible_statuses(actor)
    if statuses is not None:
        statement = statement.where(Knowledge.status.in_(statuses))
    return [(name, count) for name, count in ctx.session.execute(statement)]


def search(ctx: Context, query: SearchQuery, actor: Actor) -> SearchResults:
    """Entries containing every query term, best first, each with its score and snippet."""
    parsed = parse_query(query.q)
    terms = parsed.terms
    if not terms:
        raise _query_error("missing", "検索語を指定してください。")
    if not any(term.indexed for term in terms):
        # No index holds them: every entry would be read (hundreds of ms at 100k entries).
        raise _query_error(
            "unindexable_query",
            "記号だけの 1〜2 文字の語（% や _ など）は索引で検索できないため、それだけでは検索できません。"
            "文字・数字を含む語か 3 文字以上の語を加えてください。",
        )
    window = ctx.settings.search_window
    if query.offset >= window:
        raise InvalidField(
            "offset",
            "search_window",
            f"検索結果は上位 {window:,} 件まで取得できます。検索語を追加して絞り込んでください。",
        )
    category_id = _category(ctx, query.category).id if query.category is not None else None
    filters = SearchFilters(statuses=visible_statuses(actor), category_id=category_id)
    request = SearchRequest(terms, filters, limit=query.limit, offset=query.offset, window=window)
    page = ctx.search.search(ctx.session.connection(), request)
    found = details(ctx, [hit.knowledge_id for hit in page.hits])
    words = [term.text for term in terms]
    hits = [
        (row, hit.score, snippet([row.summary, row.content, row.title], words))
        for hit in page.hits
        if (row := found.get(hit.knowledge_id)) is not None
    ]
    return SearchResults(hits, page.total, page.total_is_exact, words, parsed.ignored)


def _query_error(kind: str, message: str) -> InvalidField:
    return InvalidField("q", kind, message)
