"""SQLite search: an FTS5 trigram table and an FTS5 table of unigram/bigram tokens.

``knowledge_fts`` (tokenize='trigram') holds the normalized text and answers 3+ character terms.
The trigram tokenizer cannot match anything shorter, so ``knowledge_fts_grams`` (tokenize='unicode61',
contentless) holds each document's distinct 1- and 2-character grams as space-separated tokens; a
1-2 character term is then a single-token MATCH. Short terms with punctuation, which neither index
holds, are looked for in the newest matches of the other terms only (see SearchBackend.search).
Scores are computed from the normalized text the trigram table keeps.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from .base import (
    FIELD_COLUMNS,
    FIELD_PARAMS,
    IndexedDocument,
    RankedPage,
    SearchBackend,
    SearchRequest,
    holds_sql,
    ranked_page,
    score_sql,
)
from .text import TermKind, grams


def _phrase(term: str) -> str:
    # A double-quoted FTS5 string is matched as text: operators such as OR, NEAR or * lose meaning.
    return '"' + term.replace('"', '""') + '"'


def _gram_row(document: dict[str, str]) -> dict[str, str]:
    return {name: " ".join(grams(value)) for name, value in document.items()}


class SqliteSearch(SearchBackend):
    """Search backed by SQLite FTS5."""

    def index(self, connection: Connection, document: IndexedDocument) -> None:
        self.remove(connection, document.knowledge_id)
        row = document.normalized()
        connection.execute(
            text(f"INSERT INTO knowledge_fts(rowid, {FIELD_COLUMNS}) VALUES (:id, {FIELD_PARAMS})"),
            {"id": document.knowledge_id, **row},
        )
        connection.execute(
            text(f"INSERT INTO knowledge_fts_grams(rowid, {FIELD_COLUMNS}) VALUES (:id, {FIELD_PARAMS})"),
            {"id": document.knowledge_id, **_gram_row(row)},
        )

    def remove(self, connection: Connection, knowledge_id: int) -> None:
        # A contentless table forgets a row only when told the tokens it held, so they are
        # recomputed from the text the trigram table still has.
        old = (
            connection.execute(
                text(f"SELECT {FIELD_COLUMNS} FROM knowledge_fts WHERE rowid = :id"),
                {"id": knowledge_id},
            )
            .mappings()
            .first()
        )
        if old is None:
            return
        connection.execute(
            text(
                f"INSERT INTO knowledge_fts_grams(knowledge_fts_grams, rowid, {FIELD_COLUMNS}) "
                f"VALUES ('delete', :id, {FIELD_PARAMS})"
            ),
            {"id": knowledge_id, **_gram_row(dict(old))},
        )
        connection.execute(text("DELETE FROM knowledge_fts WHERE rowid = :id"), {"id": knowledge_id})

    def search(self, connection: Connection, request: SearchRequest) -> RankedPage:
        terms = request.terms
        params: dict[str, Any] = {"window": request.window}
        conditions: list[str] = []
        long_terms = [term.text for term in terms if term.kind is TermKind.TRIGRAM]
        gram_terms = [term.text for term in terms if term.kind is TermKind.GRAM]
        # FTS5 walks a MATCH in rowid order, so the newest matches come first and the walk stops at the window.
        source = "knowledge_fts" if long_terms or not gram_terms else "knowledge_fts_grams"
        if long_terms:
            conditions.append("knowledge_fts MATCH :long_match")
            params["long_match"] = " AND ".join(_phrase(term) for term in long_terms)
        if gram_terms:
            params["gram_match"] = " AND ".join(_phrase(term) for term in gram_terms)
            gram_match = "knowledge_fts_grams MATCH :gram_match"
            conditions.append(
                gram_match
                if source == "knowledge_fts_grams"
                else f"{source}.rowid IN (SELECT rowid FROM knowledge_fts_grams WHERE {gram_match})"
            )
        filter_conditions = request.filters.sql_conditions(params)
        conditions.extend(filter_conditions)
        join_knowledge = f" JOIN knowledge ON knowledge.id = {source}.rowid" if filter_conditions else ""
        score = score_sql(terms, params, find="instr")
        kept = holds_sql(terms, find="instr", indexed=False)
        rows = connection.execute(
            text(
                f"WITH newest AS (SELECT {source}.rowid AS id FROM {source}{join_knowledge} "
                f"WHERE {' AND '.join(conditions)} "
                f"ORDER BY {source}.rowid DESC LIMIT :window) "
                f"SELECT newest.id AS id, {score} AS score, knowledge.updated_at AS updated_at, {kept} AS kept "
                "FROM newest JOIN knowledge_fts AS s ON s.rowid = newest.id JOIN knowledge ON knowledge.id = newest.id"
            ),
            params,
        ).all()
        return ranked_page(rows, request)

    def check(self, connection: Connection) -> None:
        """FTS5 with the trigram tokenizer ships with SQLite 3.34+; the migration fails loudly without it."""
