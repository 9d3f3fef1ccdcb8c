"""SQLite search: an FTS5 trigram table and an FTS5 table of unigram/bigram tokens.

``knowledge_fts`` (tokenize='trigram') holds the normalized text and answers 3+ character terms
with bm25 ranking. The trigram tokenizer cannot match anything shorter, so ``knowledge_fts_grams``
(tokenize='unicode61', contentless) holds each document's distinct 1- and 2-character grams as
space-separated tokens; a 1-2 character term is then a single-token MATCH. Short terms with
punctuation, which neither index holds, are found by a LIKE scan over the trigram table.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from .base import IndexedDocument, SearchBackend, SearchFilters, SearchHit, SearchPage
from .text import Term, TermKind, escape_like, grams

COLUMNS = ("title", "summary", "content", "tags")
# bm25 column weights: a match in the title counts most, then tags and summary, then the body.
WEIGHTS = "5.0, 2.0, 1.0, 3.0"


def _phrase(term: str) -> str:
    # A double-quoted FTS5 string is matched as text: operators such as OR, NEAR or * lose meaning.
    return '"' + term.replace('"', '""') + '"'


def _gram_row(document: dict[str, str]) -> dict[str, str]:
    return {column: " ".join(grams(document[column])) for column in COLUMNS}


class SqliteSearch(SearchBackend):
    """Search backed by SQLite FTS5."""

    def index(self, connection: Connection, document: IndexedDocument) -> None:
        self.remove(connection, document.knowledge_id)
        row = document.normalized()
        connection.execute(
            text(
                "INSERT INTO knowledge_fts(rowid, title, summary, content, tags) "
                "VALUES (:id, :title, :summary, :content, :tags)"
            ),
            {"id": document.knowledge_id, **row},
        )
        connection.execute(
            text(
                "INSERT INTO knowledge_fts_grams(rowid, title, summary, content, tags) "
                "VALUES (:id, :title, :summary, :content, :tags)"
            ),
            {"id": document.knowledge_id, **_gram_row(row)},
        )

    def remove(self, connection: Connection, knowledge_id: int) -> None:
        # A contentless table forgets a row only when told the tokens it held, so they are
        # recomputed from the text the trigram table still has.
        old = (
            connection.execute(
                text("SELECT title, summary, content, tags FROM knowledge_fts WHERE rowid = :id"),
                {"id": knowledge_id},
            )
            .mappings()
            .first()
        )
        if old is None:
            return
        connection.execute(
            text(
                "INSERT INTO knowledge_fts_grams(knowledge_fts_grams, rowid, title, summary, content, tags) "
                "VALUES ('delete', :id, :title, :summary, :content, :tags)"
            ),
            {"id": knowledge_id, **_gram_row(dict(old))},
        )
        connection.execute(text("DELETE FROM knowledge_fts WHERE rowid = :id"), {"id": knowledge_id})

    def search(
        self, connection: Connection, terms: list[Term], filters: SearchFilters, limit: int, offset: int
    ) -> SearchPage:
        params: dict[str, Any] = {}
        conditions: list[str] = []
        long_terms = [term.text for term in terms if term.kind is TermKind.TRIGRAM]
        gram_terms = [term.text for term in terms if term.kind is TermKind.GRAM]
        if long_terms:
            source, rank = "knowledge_fts", f"bm25(knowledge_fts, {WEIGHTS})"
            conditions.append("knowledge_fts MATCH :long_match")
            params["long_match"] = " AND ".join(_phrase(term) for term in long_terms)
            if gram_terms:
                conditions.append(
                    "knowledge.id IN "
                    "(SELECT rowid FROM knowledge_fts_grams WHERE knowledge_fts_grams MATCH :gram_match)"
                )
        elif gram_terms:
            source, rank = "knowledge_fts_grams", f"bm25(knowledge_fts_grams, {WEIGHTS})"
            conditions.append("knowledge_fts_grams MATCH :gram_match")
        else:
            source, rank = "knowledge_fts", "0.0"
        if gram_terms:
            params["gram_match"] = " AND ".join(_phrase(term) for term in gram_terms)
        for index, term in enumerate(term.text for term in terms if term.kind is TermKind.SCAN):
            params[f"scan{index}"] = escape_like(term)
            conditions.append(
                "knowledge.id IN (SELECT rowid FROM knowledge_fts WHERE "
                + " OR ".join(f"{column} LIKE :scan{index} ESCAPE '\\'" for column in COLUMNS)
                + ")"
            )
        conditions.extend(filters.sql_conditions(params))
        where = " AND ".join(conditions)
        from_clause = f"{source} JOIN knowledge ON knowledge.id = {source}.rowid"
        total: int = connection.execute(text(f"SELECT count(*) FROM {from_clause} WHERE {where}"), params).scalar_one()
        rows = connection.execute(
            text(
                f"SELECT {source}.rowid AS id, {rank} AS rank FROM {from_clause} WHERE {where} "
                "ORDER BY rank, knowledge.updated_at DESC, knowledge.id DESC LIMIT :limit OFFSET :offset"
            ),
            {**params, "limit": limit, "offset": offset},
        )
        # bm25 is lower-is-better; the API reports higher-is-better scores.
        return SearchPage([SearchHit(row.id, round(-row.rank, 6)) for row in rows], total)

    def check(self, connection: Connection) -> None:
        """FTS5 with the trigram tokenizer ships with SQLite 3.34+; the migration fails loudly without it."""
