"""PostgreSQL search: pg_trgm over normalized text, plus a GIN-indexed array of 1-2 character grams.

``knowledge_search`` holds each entry's normalized fields and the distinct unigrams/bigrams of
its text. A GIN ``gin_trgm_ops`` index over the concatenated fields answers ``LIKE '%term%'``
for 3+ character terms; a term of 1-2 characters yields no trigram (pg_trgm would fall back to a
full index scan), so it is answered by the GIN index on ``grams`` with ``@>``.

pg_trgm only keeps characters the database's LC_CTYPE calls alphanumeric: under the ``C``
locale every Japanese character is dropped and the index silently degrades to a full scan.
``check`` refuses such a database.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from ..config import ConfigError
from .base import IndexedDocument, SearchBackend, SearchFilters, SearchHit, SearchPage
from .text import Term, TermKind, escape_like, grams

# Must stay identical to the expression of the index ix_knowledge_search_trgm (see the migration).
DOCUMENT = "(s.title || ' ' || s.summary || ' ' || s.tags || ' ' || s.content)"


def _rank(placeholder: str) -> str:
    # Title hits weigh most, then tags and summary; body occurrences add up to one point.
    return (
        f"(CASE WHEN strpos(s.title, {placeholder}) > 0 THEN 5 ELSE 0 END"
        f" + CASE WHEN strpos(s.tags, {placeholder}) > 0 THEN 3 ELSE 0 END"
        f" + CASE WHEN strpos(s.summary, {placeholder}) > 0 THEN 2 ELSE 0 END"
        f" + least((length(s.content) - length(replace(s.content, {placeholder}, '')))"
        f" / length({placeholder}), 10) * 0.1)"
    )


class PostgresSearch(SearchBackend):
    """Search backed by pg_trgm and a GIN array index."""

    def index(self, connection: Connection, document: IndexedDocument) -> None:
        row = document.normalized()
        connection.execute(
            text(
                "INSERT INTO knowledge_search (knowledge_id, title, summary, content, tags, grams) "
                "VALUES (:id, :title, :summary, :content, :tags, :grams) "
                "ON CONFLICT (knowledge_id) DO UPDATE SET title = excluded.title, summary = excluded.summary, "
                "content = excluded.content, tags = excluded.tags, grams = excluded.grams"
            ),
            {"id": document.knowledge_id, **row, "grams": grams(" ".join(row.values()))},
        )

    def remove(self, connection: Connection, knowledge_id: int) -> None:
        connection.execute(text("DELETE FROM knowledge_search WHERE knowledge_id = :id"), {"id": knowledge_id})

    def search(
        self, connection: Connection, terms: list[Term], filters: SearchFilters, limit: int, offset: int
    ) -> SearchPage:
        params: dict[str, Any] = {}
        conditions: list[str] = []
        ranks: list[str] = []
        gram_terms = [term.text for term in terms if term.kind is TermKind.GRAM]
        if gram_terms:
            params["grams"] = gram_terms
            conditions.append("s.grams @> CAST(:grams AS text[])")
        for index, term in enumerate(terms):
            params[f"term{index}"] = term.text
            ranks.append(_rank(f":term{index}"))
            if term.kind is not TermKind.GRAM:
                params[f"like{index}"] = escape_like(term.text)
                conditions.append(f"{DOCUMENT} LIKE :like{index} ESCAPE '\\'")
        conditions.extend(filters.sql_conditions(params))
        from_where = "FROM knowledge_search s JOIN knowledge ON knowledge.id = s.knowledge_id WHERE " + " AND ".join(
            conditions
        )
        total: int = connection.execute(text(f"SELECT count(*) {from_where}"), params).scalar_one()
        rows = connection.execute(
            text(
                f"SELECT s.knowledge_id AS id, {' + '.join(ranks)} AS score {from_where} "
                "ORDER BY score DESC, knowledge.updated_at DESC, knowledge.id DESC LIMIT :limit OFFSET :offset"
            ),
            {**params, "limit": limit, "offset": offset},
        )
        return SearchPage([SearchHit(row.id, round(float(row.score), 6)) for row in rows], total)

    def check(self, connection: Connection) -> None:
        trigrams: int | None = connection.execute(text("SELECT cardinality(show_trgm('養生温度'))")).scalar_one()
        if not trigrams:
            ctype: str = connection.execute(text("SHOW lc_ctype")).scalar_one()
            raise ConfigError(
                f"このデータベースのロケール (LC_CTYPE={ctype}) では pg_trgm が日本語を索引できません。"
                " LC_CTYPE を C.UTF-8 または ja_JP.UTF-8 にしたデータベースを作成してください。"
                " 例: CREATE DATABASE mks TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8';"
            )
