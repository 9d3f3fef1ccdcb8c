"""The interface every search backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from .text import Term, normalize


@dataclass(frozen=True)
class IndexedDocument:
    """The searchable text of one knowledge entry."""

    knowledge_id: int
    title: str
    summary: str
    content: str
    tags: str

    def normalized(self) -> dict[str, str]:
        """The four fields, normalized as queries are."""
        return {
            "title": normalize(self.title),
            "summary": normalize(self.summary),
            "content": normalize(self.content),
            "tags": normalize(self.tags),
        }


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
class SearchPage:
    hits: list[SearchHit]
    total: int


class SearchBackend(ABC):
    """Indexes knowledge text and answers ranked, all-terms-must-match queries."""

    @abstractmethod
    def index(self, connection: Connection, document: IndexedDocument) -> None:
        """Insert or replace the entry's document in the index."""

    @abstractmethod
    def remove(self, connection: Connection, knowledge_id: int) -> None:
        """Remove the entry from the index."""

    @abstractmethod
    def search(
        self, connection: Connection, terms: list[Term], filters: SearchFilters, limit: int, offset: int
    ) -> SearchPage:
        """Entries containing every term, best first, with the total number of matches."""

    @abstractmethod
    def check(self, connection: Connection) -> None:
        """Raise ConfigError when the database cannot serve Japanese search correctly."""
