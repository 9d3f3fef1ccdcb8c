"""The interface every search backend implements, and the search they share: two tiers of matches."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any, ClassVar

from sqlalchemy import Connection, text

from . import heads, impacts, words
from .base import (
    HEAD_SCORE,
    Facets,
    IndexedDocument,
    IndexedText,
    RankedPage,
    SearchFilters,
    SearchHit,
    SearchRequest,
    Tally,
)
from .scoring import DF_CAP, Scorer, idf, phrase_of_query

# A body tier of at most this many entries is ranked here (scoring.py), not by the database.
SMALL_BODY = 1_000


class SearchBackend(ABC):
    """Indexes knowledge text and answers ranked, all-terms-must-match queries.

    A backend keeps its own index of the normalized text; the head tier's impact lists (impacts.py)
    are kept beside it, in plain SQL both databases share.
    """

    # The knowledge table as the backend joins it for the filters and the update time.
    knowledge_table: ClassVar[str]
    # The table holding one row per indexed entry, keyed by knowledge_id: what drift.py compares
    # with the knowledge table (the backend's other index structures are written alongside it).
    indexed_table: ClassVar[str]
    # Other tables of the backend's index, with the column naming the entry of each row: drift.py
    # looks in them too for rows of entries that no longer exist.
    also_indexed: ClassVar[tuple[tuple[str, str], ...]] = ()
    # Columns of knowledge that indexed_table keeps a copy of, for counting without the entry's row
    # (triggers keep them equal): drift.py compares them.
    copied_columns: ClassVar[tuple[str, ...]] = ()
    # A table of the entries of indexed_table and the total length of each of their fields (FIELD_NAMES),
    # that triggers keep (PostgreSQL, for BM25F's averages): drift.py compares it with the rows.
    kept_lengths: ClassVar[str | None] = None
    # Whether the database joins the head tier's lists by merging them rather than by probing, which also
    # counts the tier where a total can use it (heads._joined).
    joins_by_merge: ClassVar[bool]
    # What follows the alias of an impact list in the join, to read it by entry (heads._joined).
    impacts_by_entry: ClassVar[str] = ""

    def __init__(self) -> None:
        self.list_lengths = impacts.ListLengths()
        self.indexed_words = words.WordList()

    def index(
        self, connection: Connection, documents: Iterable[IndexedDocument], indexed: words.IndexedWords | None = None
    ) -> None:
        """Insert or replace each entry's document in the index, with the indexed words it holds (words.py).

        ``indexed``: the list as the caller holds it locked (a rebuild), else read once, under a shared lock.
        The documents are written together: a few statements for many entries (an import's flush).
        """
        if indexed is None:
            self.lock_words(connection, exclusive=False)
            indexed = self.indexed_words.current(connection)
        texts = []
        for document in documents:
            normalized = document.normalized()
            texts.append(IndexedText(document.knowledge_id, normalized, indexed.found_in(normalized)))
        if texts:
            self.remove(connection, [found.knowledge_id for found in texts])
            self.insert_texts(connection, texts)
            impacts.insert(connection, texts)

    def remove(self, connection: Connection, knowledge_ids: Sequence[int]) -> None:
        """Remove the entries from the index."""
        self.remove_texts(connection, knowledge_ids)
        impacts.delete(connection, knowledge_ids)

    def clear(self, connection: Connection) -> None:
        """Empty the index, before it is rebuilt from every entry."""
        self.clear_text(connection)
        impacts.clear(connection)

    def search(self, connection: Connection, request: SearchRequest) -> RankedPage:
        """Entries holding any form of every term, over all matches: the page asked for, best first.

        Ranking is of the BM25 family (term-frequency saturation, rarer words weigh more, shorter
        fields weigh more, fields weighted by FIELDS). An entry holding every term in its HEAD_FIELDS
        ranks above every entry that does not (heads.py ranks those); the terms as one phrase rank
        above them scattered; equal scores go to the newer entry. ``total`` is exact up to
        ``request.exact_total``, and so are the facets (see Facets). With ``request.newest_first`` the
        matches come by their last update instead, newest first, without a score.
        """
        indexed = self.indexed_words.for_search(connection).words
        request = replace(request, terms=[term.indexed_by(indexed) for term in request.terms])
        end = request.offset + request.limit
        bound = request.exact_total + 1
        tier = heads.RankedTier([], None) if request.newest_first else heads.rank_heads(connection, self, request)
        facets = None
        if request.facets:
            # One pass over the matches counts both the facets and the total.
            tallies = self.tally(connection, request.across_categories(), bound=bound)
            facets = Facets.of(
                tallies, request.filters.category_id, exact=sum(found.count for found in tallies) < bound
            )
            total = sum(facets.statuses.values())
        if facets is None or (total < bound and not facets.exact):
            # Without facets; or with a category filter, when the pass stopped at the bound before it saw
            # every match of that category, whose total is still owed exactly up to exact_total. Every
            # entry of the head tier matches: a tier that reaches the bound (counted by the join that
            # ranked it, which no filter narrowed) is all a count without filters needs.
            reached = tier.size is not None and tier.size >= bound and not request.filters.restrict
            total = bound if reached else self.count(connection, request, bound=bound)
        if request.newest_first:
            newest = self._newest(connection, request)
            return RankedPage(newest, min(total, request.exact_total), total <= request.exact_total, facets)
        best = tier.best
        hits = [SearchHit(head.knowledge_id, round(HEAD_SCORE + head.score, 6)) for head in best[request.offset :]]
        # The tier ends before the page does when it has fewer entries than the page asks for: then its
        # size is exact, and so is the size of what is left, unless the total is only a lower bound.
        if len(best) < end and (total > len(best) or total == bound):
            tier_size = len(best)
            limit = end - max(request.offset, tier_size)
            skipped = max(0, request.offset - tier_size)
            if total <= request.exact_total and total - tier_size <= SMALL_BODY:
                hits += self._scored_body(connection, request, limit=limit, offset=skipped)
            else:
                hits += self.body_page(connection, request, limit=limit, offset=skipped)
        return RankedPage(hits, min(total, request.exact_total), total <= request.exact_total, facets)

    def _newest(self, connection: Connection, request: SearchRequest) -> list[SearchHit]:
        """The page asked for of every match passing the filters, newest update first (no score: 0)."""
        params: dict[str, Any] = {"limit": request.limit, "offset": request.offset}
        source = self.matching(request, params, with_entry=True)
        rows = connection.execute(
            text(
                f"SELECT knowledge.id AS id {source} "
                "ORDER BY knowledge.updated_at DESC, knowledge.id DESC LIMIT :limit OFFSET :offset"
            ),
            params,
        )
        return [SearchHit(row.id, 0.0) for row in rows]

    def _scored_body(
        self, connection: Connection, request: SearchRequest, *, limit: int, offset: int
    ) -> list[SearchHit]:
        """A small body tier, ranked here by BM25F over every field (scoring.py), IDF over every match.

        Ranking in the database needs each word's document frequency over the whole index, which
        FTS5's bm25() counts by reading every match of the word's phrase: 60 ms at 100,000
        entries for a common word beside a rare one, to rank 50 entries.
        """
        documents: int = connection.execute(text("SELECT coalesce(max(id), 0) FROM knowledge")).scalar_one()
        found = [
            self.count(connection, replace(request, terms=[term], filters=SearchFilters()), bound=DF_CAP)
            for term in request.terms
        ]
        scorer = Scorer(
            request.terms, [idf(max(documents, 1), count) for count in found], phrase_of_query(request.terms)
        )
        ranked = sorted(heads.scored(scorer, self.body_rows(connection, request)), reverse=True)
        return [SearchHit(place.knowledge_id, round(place.score, 6)) for place in ranked[offset : offset + limit]]

    def count(self, connection: Connection, request: SearchRequest, *, bound: int) -> int:
        """The number of matches passing the filters, counted up to ``bound``.

        A common word of 1-2 characters reaches the bound in its head tier alone, which its impact
        list counts without reading the text index (養生, 100,000 entries: 1 ms against 5 ms on SQLite).
        """
        if heads.count_lone_piece(connection, self, request, bound=bound) == bound:
            return bound
        return self.count_matches(connection, request, bound=bound)

    def count_matches(self, connection: Connection, request: SearchRequest, *, bound: int) -> int:
        """The number of matches passing the filters, counted up to ``bound`` in the text index."""
        params: dict[str, Any] = {"bound": bound}
        source = self.matching(request, params, with_entry=False)
        found: int = connection.execute(
            text(f"SELECT count(*) FROM (SELECT 1 AS one {source} LIMIT :bound) AS found"), params
        ).scalar_one()
        return found

    def tally(self, connection: Connection, request: SearchRequest, *, bound: int) -> list[Tally]:
        """The matches passing the filters, counted up to ``bound``, by category and status."""
        params: dict[str, Any] = {"bound": bound}
        source = self.matching(request, params, with_entry=True)
        rows = connection.execute(
            text(
                "SELECT category_id, status, count(*) AS matches FROM "
                f"(SELECT knowledge.category_id, knowledge.status {source} LIMIT :bound) AS found "
                "GROUP BY category_id, status"
            ),
            params,
        )
        return [Tally(row.category_id, row.status, row.matches) for row in rows]

    def lock_words(self, connection: Connection, *, exclusive: bool) -> None:  # noqa: B027 - most need no lock
        """Keep the list of indexed words as it is until the transaction ends: shared to index, exclusive to learn.

        Nothing to do where the database runs one writing transaction at a time.
        """

    @abstractmethod
    def insert_texts(self, connection: Connection, texts: Sequence[IndexedText]) -> None:
        """Insert the entries' normalized fields and the indexed words they hold into the backend's own index
        (none of them is in it)."""

    @abstractmethod
    def remove_texts(self, connection: Connection, knowledge_ids: Sequence[int]) -> None:
        """Remove the entries from the backend's own index."""

    @abstractmethod
    def clear_text(self, connection: Connection) -> None:
        """Empty the backend's own index."""

    @abstractmethod
    def matching(self, request: SearchRequest, params: dict[str, Any], *, with_entry: bool) -> str:
        """FROM and WHERE of the matches passing the filters, binding into params.

        The matches are joined to ``knowledge`` (whose category_id and status the facets count by)
        when ``with_entry`` is set or the filters restrict: a count needs no more than the index.
        """

    @abstractmethod
    def head_rows(
        self, connection: Connection, request: SearchRequest, ids: list[int] | None
    ) -> Sequence[heads.TextRow]:
        """The normalized title and tags of entries passing the filters: of ``ids``, or (None) the whole head tier."""

    @abstractmethod
    def body_rows(self, connection: Connection, request: SearchRequest) -> Sequence[heads.TextRow]:
        """Every normalized field of the matches outside the head tier that pass the filters."""

    @abstractmethod
    def body_page(self, connection: Connection, request: SearchRequest, *, limit: int, offset: int) -> list[SearchHit]:
        """The matches outside the head tier, ranked by BM25 over every field: ``limit`` of them after ``offset``."""

    @abstractmethod
    def check(self, connection: Connection) -> None:
        """Raise ConfigError when the database cannot serve Japanese search correctly."""
