"""Full-text search of entries: the query checked here, the ranking by the database's search backend."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, select

from ...models import Actor, Category, Status
from ...schemas.knowledge import SearchQuery
from ...search import Facets, SearchFilters, SearchRequest
from ...search.text import parse_query, snippet
from .. import synonyms
from ..context import Context
from ..errors import InvalidField
from .entries import SearchHit
from .queries import DETAILS, category, entry_of, visible_statuses

CATEGORY_NAMES = select(Category.id, Category.name).where(Category.id.in_(bindparam("ids", expanding=True)))


@dataclass(frozen=True)
class CategoryCount:
    id: int
    name: str
    count: int


@dataclass(frozen=True)
class StatusCount:
    status: Status
    count: int


@dataclass(frozen=True)
class SearchFacets:
    """The matches per category, most first (ties by name), and per status, in workflow order; none of 0.

    As counted by the search backend (search.Facets): ``exact`` False means lower bounds.
    """

    categories: list[CategoryCount]
    statuses: list[StatusCount]
    exact: bool


@dataclass(frozen=True)
class SearchResults:
    """One page of hits, best first, how many match (or at least: see ``total_is_exact``), the facets and the terms."""

    hits: list[SearchHit]
    total: int
    total_is_exact: bool
    facets: SearchFacets | None  # when asked for
    terms: list[str]
    ignored_terms: list[str]


def search(ctx: Context, query: SearchQuery, actor: Actor) -> SearchResults:
    """Entries holding every query term (or a synonym from the synonym list), best first, with score and snippet."""
    parsed = parse_query(query.q, lambda words: synonyms.forms_of(ctx.session, words))
    terms = parsed.terms
    if not terms:
        if not parsed.ignored:
            raise _query_error("missing", "検索語を指定してください。")
        raise _query_error(
            "unindexable_query",
            "文字・数字を含まない語（% や _ など記号だけの語）では検索できません。"
            "文字・数字を含む語を指定してください。",
        )
    deepest = ctx.settings.search_max_results
    if query.offset + query.limit > deepest:
        raise InvalidField(
            "offset",
            "search_depth",
            f"検索結果は上位 {deepest:,} 件まで取得できます（offset + limit ≦ {deepest:,}）。"
            "検索語を追加して絞り込んでください。",
        )
    category_id = category(ctx, query.category).id if query.category is not None else None
    filters = SearchFilters(_statuses(actor, query.status), category_id, query.tag)
    request = SearchRequest(
        terms,
        filters,
        limit=query.limit,
        offset=query.offset,
        exact_total=ctx.settings.search_exact_total,
        facets=query.facets,
        newest_first=query.sort == "newest",
    )
    connection = ctx.session.connection()
    page = ctx.search.search(connection, request)
    ids = [hit.knowledge_id for hit in page.hits]
    found = {row.id: row for row in connection.execute(DETAILS, {"ids": ids})} if ids else {}
    forms = [form for term in terms for form in term.forms]
    hits = [
        entry_of(SearchHit, row, hit.score, snippet([row.summary, row.content, row.title], forms))
        for hit in page.hits
        if (row := found.get(hit.knowledge_id)) is not None
    ]
    return SearchResults(
        hits,
        page.total,
        page.total_is_exact,
        _named(connection, page.facets) if page.facets is not None else None,
        [term.text for term in terms],
        parsed.ignored,
    )


def _statuses(actor: Actor, chosen: Status | None) -> tuple[str, ...] | None:
    """The statuses searched: those the actor may see (None: all), narrowed to the one chosen."""
    visible = visible_statuses(actor)
    if chosen is None:
        return visible
    return (chosen,) if visible is None or chosen in visible else ()


def _named(connection: Connection, facets: Facets) -> SearchFacets:
    """The facets with each category's name, in the order a page shows them."""
    ids = list(facets.categories)
    names = dict(connection.execute(CATEGORY_NAMES, {"ids": ids}).all()) if ids else {}
    categories = [CategoryCount(id_, names[id_], count) for id_, count in facets.categories.items()]
    categories.sort(key=lambda found: (-found.count, found.name))
    statuses = [StatusCount(status, facets.statuses[status]) for status in Status if status in facets.statuses]
    return SearchFacets(categories, statuses, facets.exact)


def _query_error(kind: str, message: str) -> InvalidField:
    return InvalidField("q", kind, message)
