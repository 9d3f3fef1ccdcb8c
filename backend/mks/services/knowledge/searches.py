"""Full-text search of entries: the query checked here, the ranking by the database's search backend."""

from __future__ import annotations

from dataclasses import dataclass

from ...models import Actor
from ...schemas.knowledge import SearchQuery
from ...search import SearchFilters, SearchRequest
from ...search.text import parse_query, snippet
from ..context import Context
from ..errors import InvalidField
from .entries import SearchHit
from .queries import DETAILS, category, entry_of, visible_statuses


@dataclass(frozen=True)
class SearchResults:
    """One page of hits, best first, how many match (or at least: see ``total_is_exact``) and the terms."""

    hits: list[SearchHit]
    total: int
    total_is_exact: bool
    terms: list[str]
    ignored_terms: list[str]


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
    category_id = category(ctx, query.category).id if query.category is not None else None
    filters = SearchFilters(statuses=visible_statuses(actor), category_id=category_id)
    request = SearchRequest(terms, filters, limit=query.limit, offset=query.offset, window=window)
    connection = ctx.session.connection()
    page = ctx.search.search(connection, request)
    ids = [hit.knowledge_id for hit in page.hits]
    found = {row.id: row for row in connection.execute(DETAILS, {"ids": ids})} if ids else {}
    words = [term.text for term in terms]
    hits = [
        entry_of(SearchHit, row, hit.score, snippet([row.summary, row.content, row.title], words))
        for hit in page.hits
        if (row := found.get(hit.knowledge_id)) is not None
    ]
    return SearchResults(hits, page.total, page.total_is_exact, words, parsed.ignored)


def _query_error(kind: str, message: str) -> InvalidField:
    return InvalidField("q", kind, message)
