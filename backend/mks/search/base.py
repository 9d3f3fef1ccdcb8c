"""The interface every search backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row

from .text import Term, normalize


@dataclass(frozen=True)
class SearchField:
    """One searchable field of a knowledge entry."""

    name: str  # the index column, and the Knowledge attribute whose change re-indexes the entry
    bonus: int  # added to a term's score when the field holds it
    source: str  # the entry attribute holding the text: a string, or a list of tag names


# Every searchable field, shortest first: a term is looked for field by field, and a hit in a short
# field spares reading the body. Occurrences in the body add no bonus: that would read every ranked
# entry's whole text, which costs more than the rest of the search together.
FIELDS = (
    SearchField("title", 5, "title"),
    SearchField("tags", 3, "tag_names"),
    SearchField("summary", 2, "summary"),
    SearchField("content", 0, "content"),
)
FIELD_NAMES = tuple(field.name for field in FIELDS)
# The fields as an SQL column list, and as the parameters a normalized document binds.
FIELD_COLUMNS = ", ".join(FIELD_NAMES)
FIELD_PARAMS = ", ".join(f":{name}" for name in FIELD_NAMES)


@dataclass(frozen=True)
class IndexedDocument:
    """The searchable text of one knowledge entry, by field name."""

    knowledge_id: int
    text: dict[str, str]

    @classmethod
    def of(cls, knowledge_id: int, entry: object) -> IndexedDocument:
        """The document of an entry: a Knowledge, or any object with the same text attributes."""
        text = {}
        for field in FIELDS:
            value = getattr(entry, field.source)
            text[field.name] = value if isinstance(value, str) else " ".join(value)
        return cls(knowledge_id, text)

    def normalized(self) -> dict[str, str]:
        """Every field, normalized as queries are."""
        return {name: normalize(value) for name, value in self.text.items()}


@dataclass(frozen=True)
class SearchFilters:
    """Restrictions applied with the search: visible statuses and an optional category."""

    statuses: tuple[str, ...] | None = None
    category_id: int | None = None

    def sql_conditions(self, params: dict[str, Any]) -> list[str]:
        """SQL conditions on the ``knowledge`` table, adding their bound values to params."""
        conditions = []
        if self.statuses is not None:
            names = []
            for index, status in enumerate(self.statuses):
                params[f"status{index}"] = status
                names.append(f":status{index}")
            conditions.append(f"knowledge.status IN ({', '.join(names)})")
        if self.category_id is not None:
            params["category_id"] = self.category_id
            conditions.append("knowledge.category_id = :category_id")
        return conditions


@dataclass(frozen=True)
class SearchHit:
    knowledge_id: int
    score: float


@dataclass(frozen=True)
class RankedPage:
    """The page of ranked hits a search backend answers, before the entries are read."""

    hits: list[SearchHit]
    # The number of matches when below the window; otherwise the window size, a lower bound.
    total: int
    total_is_exact: bool


@dataclass(frozen=True)
class SearchRequest:
    """One search: the terms every match holds, its filters, the page asked for and the ranking window."""

    terms: list[Term]
    filters: SearchFilters
    limit: int
    offset: int
    window: int


def score_sql(terms: list[Term], params: dict[str, Any], *, find: str) -> str:
    """SQL for the relevance of the row aliased ``s`` (an entry's normalized text), binding ``:term<n>``.

    Each term scores 1 for matching, plus the bonus of each field holding it (see FIELDS).
    ``find`` is the dialect's substring-position function.
    """
    scores = []
    for index, term in enumerate(terms):
        params[f"term{index}"] = term.text
        bonuses = "".join(
            f" + CASE WHEN {find}(s.{field.name}, :term{index}) > 0 THEN {field.bonus} ELSE 0 END"
            for field in FIELDS
            if field.bonus
        )
        scores.append(f"(1{bonuses})")
    return " + ".join(scores)


def holds_sql(terms: list[Term], *, find: str, indexed: bool) -> str:
    """SQL true when the row aliased ``s`` holds every term that is (or is not) ``indexed``.

    The terms are bound as ``:term<n>`` by score_sql. ``find`` (strpos, instr) matches literally,
    unlike LIKE, and offers an index nothing to plan with: it checks rows found otherwise. Field
    by field, shortest first: a hit in a short field spares reading the body.
    """
    conditions = [
        "(" + " OR ".join(f"{find}(s.{name}, :term{index}) > 0" for name in FIELD_NAMES) + ")"
        for index, term in enumerate(terms)
        if term.indexed is indexed
    ]
    return " AND ".join(conditions) or "1 = 1"


def ranked_page(rows: Sequence[Row[Any]], request: SearchRequest) -> RankedPage:
    """The page asked for of the window's rows (id, score, updated_at, kept), best score first, then newest.

    The rows are the candidates the indexed terms found; those not ``kept`` lack an unindexed term.
    """
    matches = [row for row in rows if row.kept]
    ordered = sorted(matches, key=lambda row: (round(float(row.score), 6), row.updated_at, row.id), reverse=True)
    page = ordered[request.offset : request.offset + request.limit]
    hits = [SearchHit(row.id, round(float(row.score), 6)) for row in page]
    return RankedPage(hits, len(matches), total_is_exact=len(rows) < request.window)


class SearchBackend(ABC):
    """Indexes knowledge text and answers ranked, all-terms-must-match queries."""

    @abstractmethod
    def index(self, connection: Connection, document: IndexedDocument) -> None:
        """Insert or replace the entry's document in the index."""

    @abstractmethod
    def remove(self, connection: Connection, knowledge_id: int) -> None:
        """Remove the entry from the index."""

    @abstractmethod
    def search(self, connection: Connection, request: SearchRequest) -> RankedPage:
        """Entries containing every term: the newest ``window`` matches, ranked; the page asked for of them.

        Ranking every match of a term found in most entries costs time in proportion to the whole
        table; ranking the newest ``window`` matches costs the same whatever the term, so a
        common term answers as fast as a rare one. Below the window, every match is ranked.

        At least one term must be indexed. Unindexed (SCAN) terms, which only reading every entry
        could find, filter the newest ``window`` entries holding the indexed terms, so they read
        no more entries than the ranking does.
        """

    @abstractmethod
    def check(self, connection: Connection) -> None:
        """Raise ConfigError when the database cannot serve Japanese search correctly."""
