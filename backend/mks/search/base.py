"""The interface every search backend implements."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection

from .text import Term, normalize


@dataclass(frozen=True)
class SearchField:
    """One searchable field of a knowledge entry."""

    name: str  # the index column, and the Knowledge attribute whose change re-indexes the entry
    weight: float  # how much a match in this field counts, relative to the others
    source: str  # the entry attribute holding the text: a string, or a list of tag names


# Every searchable field, weightiest first: title > tags > summary > content.
FIELDS = (
    SearchField("title", 10.0, "title"),
    SearchField("tags", 6.0, "tag_names"),
    SearchField("summary", 3.0, "summary"),
    SearchField("content", 1.0, "content"),
)
FIELD_NAMES = tuple(field.name for field in FIELDS)
# The fields as an SQL column list, and as the parameters a normalized document binds.
FIELD_COLUMNS = ", ".join(FIELD_NAMES)
FIELD_PARAMS = ", ".join(f":{name}" for name in FIELD_NAMES)
# The fields an entry that answers a query by its subject holds every query word in.
HEAD_FIELDS = ("title", "tags")
# Added to the score of the entries holding every term in their HEAD_FIELDS, which rank first.
HEAD_SCORE = 1_000.0
# BM25's term-frequency saturation and length normalization.
K1 = 1.2
B = 0.75


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
class IndexedText:
    """A document as the index stores it: its normalized fields, and the indexed words they hold (words.py)."""

    knowledge_id: int
    normalized: dict[str, str]
    indexed_words: list[str]


def insert_rows(connection: Connection, insert: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """Run ``insert`` (an INSERT up to its VALUES) for every row, through the driver's own placeholders.

    A search index row is written per token: SQLAlchemy's processing of each row's parameters cost
    as much as the database's insert (mks import, docs/benchmarks.md).
    """
    if rows:
        mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
        connection.exec_driver_sql(f"{insert} VALUES ({', '.join([mark] * len(rows[0]))})", list(rows))


@dataclass(frozen=True)
class SearchFilters:
    """Restrictions applied with the search: the statuses searched (those visible, or the one chosen of them),
    and an optional category and tag."""

    statuses: tuple[str, ...] | None = None
    category_id: int | None = None
    tag: str | None = None

    @property
    def restrict(self) -> bool:
        """Whether the filters leave out any entry."""
        return self.statuses is not None or self.category_id is not None or self.tag is not None

    def sql_conditions(self, params: dict[str, Any]) -> list[str]:
        """SQL conditions on the ``knowledge`` table, adding their bound values to params."""
        conditions = []
        if self.statuses == ():
            conditions.append("1 = 0")  # a status chosen that the searcher may not see
        elif self.statuses is not None:
            names = []
            for index, status in enumerate(self.statuses):
                params[f"status{index}"] = status
                names.append(f":status{index}")
            conditions.append(f"knowledge.status IN ({', '.join(names)})")
        if self.category_id is not None:
            params["category_id"] = self.category_id
            conditions.append("knowledge.category_id = :category_id")
        if self.tag is not None:
            params["tag"] = self.tag
            conditions.append(
                "EXISTS (SELECT 1 FROM knowledge_tags JOIN tags ON tags.id = knowledge_tags.tag_id "
                "WHERE knowledge_tags.knowledge_id = knowledge.id AND tags.name = :tag)"
            )
        return conditions


@dataclass(frozen=True)
class SearchHit:
    knowledge_id: int
    score: float


@dataclass(frozen=True)
class Tally:
    """How many matches of one category are in one status."""

    category_id: int
    status: str
    count: int


@dataclass(frozen=True)
class Facets:
    """How many matches each category and each status holds, of the statuses the filters let through.

    Counted over the matches of every category, as a page offers the other categories beside the one
    filtered on; ``statuses`` over those of the filtered category when there is one. ``exact`` is False
    when the matches were counted only up to the request's ``exact_total`` + 1: each count is then of
    the first matches found, a lower bound.
    """

    categories: dict[int, int]
    statuses: dict[str, int]
    exact: bool

    @classmethod
    def of(cls, tallies: Sequence[Tally], category_id: int | None, *, exact: bool) -> Facets:
        categories: Counter[int] = Counter()
        statuses: Counter[str] = Counter()
        for tally in tallies:
            categories[tally.category_id] += tally.count
            if category_id in (None, tally.category_id):
                statuses[tally.status] += tally.count
        return cls(dict(categories), dict(statuses), exact)


@dataclass(frozen=True)
class RankedPage:
    """The page of ranked hits a search backend answers, before the entries are read."""

    hits: list[SearchHit]
    # The number of matches, exact up to the request's ``exact_total``; above it, a lower bound.
    total: int
    total_is_exact: bool
    facets: Facets | None  # when the request asked for them


@dataclass(frozen=True)
class SearchRequest:
    """One search: the terms every match holds, its filters, the page asked for, how far to count exactly."""

    terms: list[Term]
    filters: SearchFilters
    limit: int
    offset: int
    exact_total: int
    facets: bool = False  # whether to count the matches per category and status
    newest_first: bool = False  # every match by its last update, newest first, instead of by relevance

    def across_categories(self) -> SearchRequest:
        """The same search without its category filter."""
        return replace(self, filters=replace(self.filters, category_id=None))


def checked_in_text(terms: list[Term], params: dict[str, Any], *, find: str) -> list[str]:
    """SQL conditions on the normalized text ``s`` for the terms with punctuation, which the index only narrows.

    A form is bound as ``:form<term>_<form>``; ``find`` is the dialect's substring-position function
    (instr, strpos), which matches literally, unlike LIKE.
    """
    conditions = []
    for index, term in enumerate(terms):
        if term.exact:
            continue
        found: list[str] = []
        for number, form in enumerate(term.forms):
            params[f"form{index}_{number}"] = form
            found.extend(f"{find}(s.{name}, :form{index}_{number}) > 0" for name in FIELD_NAMES)
        conditions.append("(" + " OR ".join(found) + ")")
    return conditions
