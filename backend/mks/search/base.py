"""The interface every search backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

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
    # The number of matches, exact up to the request's ``exact_total``; above it, a lower bound.
    total: int
    total_is_exact: bool


@dataclass(frozen=True)
class SearchRequest:
    """One search: the terms every match holds, its filters, the page asked for, how far to count exactly."""

    terms: list[Term]
    filters: SearchFilters
    limit: int
    offset: int
    exact_total: int


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


class SearchBackend(ABC):
    """Indexes knowledge text and answers ranked, all-terms-must-match queries."""

    # The table holding one row per indexed entry, keyed by knowledge_id: what drift.py compares
    # with the knowledge table (the backend's other index structures are written alongside it).
    indexed_table: ClassVar[str]

    @abstractmethod
    def index(self, connection: Connection, document: IndexedDocument) -> None:
        """Insert or replace the entry's document in the index."""

    @abstractmethod
    def remove(self, connection: Connection, knowledge_id: int) -> None:
        """Remove the entry from the index."""

    @abstractmethod
    def search(self, connection: Connection, request: SearchRequest) -> RankedPage:
        """Entries holding any form of every term, over all matches: the page asked for, best first.

        Ranking is of the BM25 family (term-frequency saturation, rarer words weigh more, shorter
        fields weigh more, fields weighted by FIELDS). An entry holding every term in its HEAD_FIELDS
        ranks above every entry that does not; the terms as one phrase rank above them scattered;
        equal scores go to the newer entry. ``total`` is exact up to ``request.exact_total``.
        """

    @abstractmethod
    def clear(self, connection: Connection) -> None:
        """Empty the index, before it is rebuilt from every entry."""

    @abstractmethod
    def check(self, connection: Connection) -> None:
        """Raise ConfigError when the database cannot serve Japanese search correctly."""
