"""PostgreSQL search: pg_trgm over normalized text, plus a GIN-indexed array of 1-2 character grams.

``knowledge_search`` holds each entry's normalized fields and the distinct unigrams/bigrams of
its text. A GIN ``gin_trgm_ops`` index over the concatenated fields answers ``LIKE '%term%'``
for 3+ character terms; a term of 1-2 characters yields no trigram (pg_trgm would fall back to a
full index scan), so it is answered by the GIN index on ``grams`` with ``@>``. A term matches when
the entry holds any of its forms. Every match is scored (a field-weight score with a bonus for
holding every term in the head fields; no IDF or phrase yet: the BM25 ranking of issue 15 is the
SQLite backend's so far).

pg_trgm only keeps characters the database's LC_CTYPE calls alphanumeric: under the ``C``
locale every Japanese character is dropped and the index silently degrades to a full scan.
``check`` refuses such a database.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection, text

from ..config import ConfigError
from .base import (
    FIELD_COLUMNS,
    FIELD_NAMES,
    FIELD_PARAMS,
    FIELDS,
    HEAD_FIELDS,
    IndexedDocument,
    RankedPage,
    SearchBackend,
    SearchHit,
    SearchRequest,
)
from .text import Term, escape_like

# Spelled as the migration spells the index ix_knowledge_search_trgm (history, in its own field order):
# PostgreSQL answers LIKE through that index only for this very expression.
DOCUMENT = "(s.title || ' ' || s.summary || ' ' || s.tags || ' ' || s.content)"
UPSERT = ", ".join(f"{name} = excluded.{name}" for name in (*FIELD_NAMES, "grams"))


def _grams(text: str) -> list[str]:
    """The distinct unigrams and bigrams of the word-character runs of normalized text."""
    found: dict[str, None] = {}
    for run in re.findall(r"[^\W_]+", text):
        for index, char in enumerate(run):
            found[char] = None
            if index + 1 < len(run):
                found[run[index : index + 2]] = None
    return list(found)


def _holds(form: str, params: dict[str, Any], key: str) -> str:
    """SQL true when the row aliased ``s`` holds the form, through an index where one can answer it."""
    params[key] = form
    if len(form) >= 3:
        params[f"{key}_like"] = escape_like(form)
        return f"{DOCUMENT} LIKE :{key}_like ESCAPE '\\'"
    if form.isalnum():
        params[f"{key}_grams"] = [form]
        return f"s.grams @> CAST(:{key}_grams AS text[])"
    return "(" + " OR ".join(f"strpos(s.{name}, :{key}) > 0" for name in FIELD_NAMES) + ")"


def _score(terms: list[Term], params: dict[str, Any]) -> str:
    """SQL for the relevance of the row aliased ``s``: per term, 1 plus the weight of each field holding a form.

    An entry holding every term in its head fields gets a bonus above any other entry's score.
    """
    scores = []
    head = []
    for index, term in enumerate(terms):
        for field in FIELDS:
            found = " OR ".join(f"strpos(s.{field.name}, :t{index}_{number}) > 0" for number in range(len(term.forms)))
            scores.append(f"CASE WHEN {found} THEN {field.weight} ELSE 0 END")
        head.append(
            "("
            + " OR ".join(
                f"strpos(s.{name}, :t{index}_{number}) > 0" for name in HEAD_FIELDS for number in range(len(term.forms))
            )
            + ")"
        )
    ceiling = len(terms) * sum(field.weight for field in FIELDS)
    return f"({' + '.join(scores)}) + CASE WHEN {' AND '.join(head)} THEN {ceiling} ELSE 0 END"


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
            {"id": document.knowledge_id, **row, "grams": _grams(" ".join(row.values()))},
        )

    def remove(self, connection: Connection, knowledge_id: int) -> None:
        connection.execute(text("DELETE FROM knowledge_search WHERE knowledge_id = :id"), {"id": knowledge_id})

    def search(self, connection: Connection, request: SearchRequest) -> RankedPage:
        params: dict[str, Any] = {"offset": request.offset, "limit": request.limit, "bound": request.exact_total + 1}
        conditions = request.filters.sql_conditions(params)
        for index, term in enumerate(request.terms):
            forms = [_holds(form, params, f"t{index}_{number}") for number, form in enumerate(term.forms)]
            conditions.append("(" + " OR ".join(forms) + ")")
        where = " AND ".join(conditions)
        source = "FROM knowledge_search s JOIN knowledge ON knowledge.id = s.knowledge_id"
        total: int = connection.execute(
            text(f"SELECT count(*) FROM (SELECT 1 {source} WHERE {where} LIMIT :bound) AS found"), params
        ).scalar_one()
        rows = connection.execute(
            text(
                f"SELECT s.knowledge_id AS id, {_score(request.terms, params)} AS score {source} WHERE {where} "
                "ORDER BY score DESC, knowledge.updated_at DESC, s.knowledge_id DESC LIMIT :limit OFFSET :offset"
            ),
            params,
        ).all()
        hits = [SearchHit(row.id, round(float(row.score), 6)) for row in rows]
        return RankedPage(hits, min(total, request.exact_total), total_is_exact=total <= request.exact_total)

    def clear(self, connection: Connection) -> None:
        connection.execute(text("DELETE FROM knowledge_search"))

    def check(self, connection: Connection) -> None:
        trigrams: int | None = connection.execute(text("SELECT cardinality(show_trgm('養生温度'))")).scalar_one()
        if not trigrams:
            ctype: str = connection.execute(text("SHOW lc_ctype")).scalar_one()
            raise ConfigError(
                f"このデータベースのロケール (LC_CTYPE={ctype}) では pg_trgm が日本語を索引できません。"
                " LC_CTYPE を C.UTF-8 または ja_JP.UTF-8 にしたデータベースを作成してください。"
                " 例: CREATE DATABASE mks TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8';"
            )
