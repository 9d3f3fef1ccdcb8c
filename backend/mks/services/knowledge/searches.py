"""Full-text search of entries: the query checked here, the ranking by the database's search backend."""

from __future__ import annotations

from dataclasses import dataclass

from ...models import Actor
from ...schemas.knowledge import SearchQuery
from ...search import SearchFilters, SearchRequest
from ...search.text import FormsOf, no_synonyms, parse_query, snippet
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


def search(ctx: Context, query: SearchQuery, actor: Actor, forms_of: FormsOf = no_synonyms) -> SearchResults:
    """Entries holding every query term (or a synonym of it), best first, each with its score and snippet.

    ``forms_of`` gives the synonyms of the query's words.
    """
    parsed = parse_query(query.q, forms_of)
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
    filters = SearchFilters(statuses=visible_statuses(actor), category_id=category_id)
    request = SearchRequest(
        terms, filters, limit=query.limit, offset=query.offset, exact_total=ctx.settings.search_exact_total
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
    return SearchResults(hits, page.total, page.total_is_exact, [term.text for term in terms], parsed.ignored)


def _query_error(kind: str, message: str) -> InvalidField:
    return InvalidField("q", kind, message)
