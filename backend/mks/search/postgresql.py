"""PostgreSQL search: pg_trgm over normalized text, plus a GIN-indexed array of 1-2 character grams.

``knowledge_search`` holds each entry's normalized fields and the distinct unigrams/bigrams of
its text. A GIN ``gin_trgm_ops`` index over the concatenated fields answers ``LIKE '%term%'``
for 3+ character terms; a term of 1-2 characters yields no trigram (pg_trgm would fall back to a
full index scan), so it is answered by the GIN index on ``grams`` with ``@>``. Short punctuation
terms, which neither index holds, only filter the entries the other terms found.

pg_trgm only keeps characters the database's LC_CTYPE calls alphanumeric: under the ``C``
locale every Japanese character is dropped and the index silently degrades to a full scan.
``check`` refuses such a database.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import Connection, text

from ..config import ConfigError
from .base import (
    FIELD_COLUMNS,
    FIELD_NAMES,
    FIELD_PARAMS,
    IndexedDocument,
    RankedPage,
    SearchBackend,
    SearchRequest,
    holds_sql,
    ranked_page,
    score_sql,
)
from .text import Term, TermKind, escape_like, grams


def _bigrams(term: str) -> list[str]:
    return [term[index : index + 2] for index in range(len(term) - 1)] or [term]


def _ids(connection: Connection, conditions: list[str], params: dict[str, Any]) -> list[int]:
    """Ids of the newest ``:window`` entries meeting every condition."""
    return list(
        connection.execute(
            text(
                "SELECT s.knowledge_id FROM knowledge_search s JOIN knowledge ON knowledge.id = s.knowledge_id "
                f"WHERE {' AND '.join(conditions)} ORDER BY s.knowledge_id DESC LIMIT :window"
            ),
            params,
        ).scalars()
    )


# Spelled as the migration spells the index ix_knowledge_search_trgm (history, in its own field order):
# PostgreSQL answers LIKE through that index only for this very expression.
DOCUMENT = "(s.title || ' ' || s.summary || ' ' || s.tags || ' ' || s.content)"
UPSERT = ", ".join(f"{name} = excluded.{name}" for name in (*FIELD_NAMES, "grams"))


class PostgresSearch(SearchBackend):
    """Search backed by pg_trgm and a GIN array index."""

    def index(self, connection: Connection, document: IndexedDocument) -> None:
        row = document.normalized()
        connection.execute(
            text(
                f"INSERT INTO knowledge_search (knowledge_id, {FIELD_COLUMNS}, grams) "
                f"VALUES (:id, {FIELD_PARAMS}, :grams) "
                f"ON CONFLICT (knowledge_id) DO UPDATE SET {UPSERT}"
            ),
            {"id": document.knowledge_id, **row, "grams": grams(" ".join(row.values()))},
        )

    def remove(self, connection: Connection, knowledge_id: int) -> None:
        connection.execute(text("DELETE FROM knowledge_search WHERE knowledge_id = :id"), {"id": knowledge_id})

    def search(self, connection: Connection, request: SearchRequest) -> RankedPage:
        terms = request.terms
        params: dict[str, Any] = {"window": request.window}
        filter_conditions = request.filters.sql_conditions(params)
        score = score_sql(terms, params, find="strpos")
        newest = self._newest_by_walk(connection, terms, filter_conditions, params)
        if newest is None:
            newest = self._newest_by_index(connection, terms, filter_conditions, params)
        kept = holds_sql(terms, find="strpos", indexed=False)
        rows = connection.execute(
            text(
                f"SELECT s.knowledge_id AS id, {score} AS score, knowledge.updated_at AS updated_at, {kept} AS kept "
                "FROM knowledge_search s JOIN knowledge ON knowledge.id = s.knowledge_id "
                "WHERE s.knowledge_id = ANY(:newest)"
            ),
            {**params, "newest": newest},
        ).all()
        return ranked_page(rows, request)

    def _newest_by_index(
        self, connection: Connection, terms: list[Term], filter_conditions: list[str], params: dict[str, Any]
    ) -> list[int]:
        """The window's query through the GIN indexes: every match is found, then the newest kept."""
        conditions = list(filter_conditions)
        gram_terms = [term.text for term in terms if term.kind is TermKind.GRAM]
        if gram_terms:
            params["grams"] = gram_terms
            conditions.append("s.grams @> CAST(:grams AS text[])")
        for index, term in enumerate(terms):
            if term.kind is TermKind.TRIGRAM:
                params[f"like{index}"] = escape_like(term.text)
                conditions.append(f"{DOCUMENT} LIKE :like{index} ESCAPE '\\'")
        return _ids(connection, conditions, params)

    def _newest_by_walk(
        self, connection: Connection, terms: list[Term], filter_conditions: list[str], params: dict[str, Any]
    ) -> list[int] | None:
        """For terms in a large share of entries: walk entries newest first until the window is full.

        The GIN index hands over every match, each re-checked against its text: share x entries
        re-checks. Walking the primary key backwards re-checks about window / share entries. The
        planner cannot weigh the two (it has no statistics for LIKE on the long document), but from
        the ``grams`` array's statistics and the filters' it estimates the share of entries holding
        the terms' bigrams. The walk is chosen when it re-checks fewer entries, and given twice the
        entries it should need; a term rarer than its bigrams promised returns None, to the index.
        """
        bigrams = sorted({gram for term in terms if term.indexed for gram in _bigrams(term.text)})
        entries: float = connection.execute(
            text("SELECT reltuples FROM pg_class WHERE oid = 'knowledge_search'::regclass")
        ).scalar_one()
        if not bigrams or entries <= 0:  # no statistics yet (never analyzed): nothing to weigh
            return None
        estimate: list[dict[str, Any]] = connection.execute(
            text(
                "EXPLAIN (FORMAT JSON) SELECT 1 "
                "FROM knowledge_search s JOIN knowledge ON knowledge.id = s.knowledge_id "
                f"WHERE {' AND '.join(['s.grams @> CAST(:bigrams AS text[])', *filter_conditions])}"
            ),
            {**params, "bigrams": bigrams},
        ).scalar_one()
        share = float(estimate[0]["Plan"]["Plan Rows"]) / entries
        walk_budget = 2 * params["window"] / share
        if walk_budget >= share * entries:
            return None
        params["walk_budget"] = math.ceil(walk_budget)
        conditions = [
            "s.knowledge_id > (SELECT max(knowledge_id) FROM knowledge_search) - :walk_budget",
            *filter_conditions,
            # strpos offers the GIN index nothing to plan with: the walk stays on the primary key.
            holds_sql(terms, find="strpos", indexed=True),
        ]
        newest = _ids(connection, conditions, params)
        return newest if len(newest) == params["window"] else None

    def check(self, connection: Connection) -> None:
        trigrams: int | None = connection.execute(text("SELECT cardinality(show_trgm('養生温度'))")).scalar_one()
        if not trigrams:
            ctype: str = connection.execute(text("SHOW lc_ctype")).scalar_one()
            raise ConfigError(
                f"このデータベースのロケール (LC_CTYPE={ctype}) では pg_trgm が日本語を索引できません。"
                " LC_CTYPE を C.UTF-8 または ja_JP.UTF-8 にしたデータベースを作成してください。"
                " 例: CREATE DATABASE mks TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8';"
            )
