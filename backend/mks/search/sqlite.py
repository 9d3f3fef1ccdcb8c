"""SQLite search: one FTS5 table of character-bigram tokens; a large body tier ranked by FTS5's bm25().

``knowledge_tokens`` (contentless, tokenize='ascii') holds each field's tokens (text.index_tokens)
as space-separated words: the ascii tokenizer splits only on ASCII punctuation and spaces, which a
token never holds, so every bigram reaches the index as written (unicode61 would apply its own,
older, idea of word characters). ``prefix='1'`` keeps an index of first characters, which answers a
one-character word (a prefix query) without merging every bigram it starts.

SQLite 3.40 cannot delete a row of a contentless table by rowid alone: the index must be told the
tokens the row held. ``knowledge_search_text`` keeps the normalized text each row was indexed
from, and the indexed words (words.py) it held, so a change or a deletion can take the old tokens out.

Each match is joined to its entry for the filters, the facets and the tie-break through the
covering index ``ix_knowledge_search_filter`` (id, status, category_id, updated_at): the entry's
row holds its body before those columns, and reading past it for every match of a common word took
2-3x the ranking itself (322 ms against 134 ms for 養生 at 100,000 entries).

The head tier (every term in the title or tags) is a title/tags column filter, ranked by heads.py.
The body tier is the same query NOT that filter; above backend.SMALL_BODY entries it is ranked here by
bm25 with the field weights of FIELDS. The phrase of the whole query is OR-ed into that match: it
changes no row's membership (the phrase holds every word) but adds its (rare, so heavy) weight
to the entries holding it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, text

from .backend import SearchBackend
from .base import (
    FIELD_COLUMNS,
    FIELD_NAMES,
    FIELDS,
    HEAD_FIELDS,
    IndexedText,
    SearchHit,
    SearchRequest,
    checked_in_text,
    insert_rows,
)
from .heads import TextRow
from .text import Phrase, Term, index_tokens, phrase_of, whole_query

WEIGHTS = ", ".join(str(field.weight) for field in FIELDS)


def tokens_row(normalized: Mapping[str, str], indexed_words: Sequence[str] = ()) -> dict[str, str]:
    """The index row of a normalized document (its FIELD_NAMES, in order): each field's tokens, then the indexed
    words it holds, space-separated.

    A word follows the field's last token; no phrase holds a word (words.py), so none can span them.
    """
    return {name: _field_tokens(normalized[name], indexed_words) for name in FIELD_NAMES}


def _field_tokens(value: str, indexed_words: Sequence[str]) -> str:
    return " ".join([*index_tokens(value), *(word for word in indexed_words if word in value)])


def _fts(phrase: Phrase) -> str:
    # A double-quoted FTS5 string is matched as a phrase: OR, NEAR or * inside it are text.
    return '"' + " ".join(phrase.tokens) + '"' + (" *" if phrase.prefix else "")


def _all_terms(terms: list[Term]) -> str:
    return " AND ".join("(" + " OR ".join(_fts(phrase) for phrase in term.phrases()) + ")" for term in terms)


def _head(match: str) -> str:
    """The match restricted to the head fields."""
    return "{" + " ".join(HEAD_FIELDS) + "} : (" + match + ")"


def _whole_query(terms: list[Term]) -> list[str]:
    """The FTS5 phrases of the query's words as one phrase (text.whole_query)."""
    phrases = {phrase_of(words) for words in whole_query(terms)}
    return [_fts(phrase) for phrase in phrases if phrase is not None]


class SqliteSearch(SearchBackend):
    """Search backed by SQLite FTS5."""

    knowledge_table = "knowledge INDEXED BY ix_knowledge_search_filter"
    indexed_table = "knowledge_search_text"
    joins_by_merge = False
    # A cut of the impacts would lead SQLite to the primary key (token, impact): the list in impact order.
    impacts_by_entry = " INDEXED BY ix_knowledge_head_impacts_token_entry"
    also_indexed = (("knowledge_tokens", "rowid"),)

    def insert_texts(self, connection: Connection, texts: Sequence[IndexedText]) -> None:
        insert_rows(
            connection,
            f"INSERT INTO knowledge_search_text(knowledge_id, {FIELD_COLUMNS}, words)",
            [
                (found.knowledge_id, *(found.normalized[name] for name in FIELD_NAMES), " ".join(found.indexed_words))
                for found in texts
            ],
        )
        insert_rows(
            connection,
            f"INSERT INTO knowledge_tokens(rowid, {FIELD_COLUMNS})",
            [(found.knowledge_id, *tokens_row(found.normalized, found.indexed_words).values()) for found in texts],
        )

    def remove_texts(self, connection: Connection, knowledge_ids: Sequence[int]) -> None:
        old = (
            connection.execute(
                text(
                    f"SELECT knowledge_id, {FIELD_COLUMNS}, words FROM knowledge_search_text WHERE knowledge_id IN :ids"
                ).bindparams(bindparam("ids", expanding=True)),
                {"ids": list(knowledge_ids)},
            )
            .mappings()
            .all()
        )
        if not old:
            return
        # The words each row was indexed with, as kept beside its text: the list may have grown since.
        insert_rows(
            connection,
            f"INSERT INTO knowledge_tokens(knowledge_tokens, rowid, {FIELD_COLUMNS})",
            [
                (
                    "delete",
                    row["knowledge_id"],
                    *tokens_row({name: row[name] for name in FIELD_NAMES}, row["words"].split()).values(),
                )
                for row in old
            ],
        )
        connection.execute(
            text("DELETE FROM knowledge_search_text WHERE knowledge_id IN :ids").bindparams(
                bindparam("ids", expanding=True)
            ),
            {"ids": [row["knowledge_id"] for row in old]},
        )

    def clear_text(self, connection: Connection) -> None:
        connection.execute(text("INSERT INTO knowledge_tokens(knowledge_tokens) VALUES ('delete-all')"))
        connection.execute(text("DELETE FROM knowledge_search_text"))

    def _matches(
        self, request: SearchRequest, match: str, params: dict[str, Any], columns: str = "", *, with_entry: bool = True
    ) -> str:
        """FROM and WHERE of the rows of ``knowledge_tokens MATCH :match`` passing the filters, binding into params.

        Joined to ``knowledge`` when ``with_entry`` is set or the filters restrict, and to the
        normalized text ``s`` when ``columns`` read it or a term is checked in it.
        """
        conditions = request.filters.sql_conditions(params)
        checked = checked_in_text(request.terms, params, find="instr")
        params["match"] = match
        joins = ["FROM knowledge_tokens"]
        if with_entry or conditions:
            joins.append(
                "JOIN knowledge INDEXED BY ix_knowledge_search_filter ON knowledge.id = knowledge_tokens.rowid"
            )
        if checked or columns:
            joins.append("JOIN knowledge_search_text s ON s.knowledge_id = knowledge_tokens.rowid")
        return " ".join(joins) + " WHERE " + " AND ".join(["knowledge_tokens MATCH :match", *conditions, *checked])

    def matching(self, request: SearchRequest, params: dict[str, Any], *, with_entry: bool) -> str:
        return self._matches(request, _all_terms(request.terms), params, with_entry=with_entry)

    def head_rows(self, connection: Connection, request: SearchRequest, ids: list[int] | None) -> Sequence[TextRow]:
        columns = "s.knowledge_id, s.title, s.tags, knowledge.updated_at"
        params: dict[str, Any] = {}
        if ids is None:
            source = self._matches(request, _head(_all_terms(request.terms)), params, columns)
            rows = connection.execute(text(f"SELECT {columns} {source}"), params)
        else:
            conditions = request.filters.sql_conditions(params)
            rows = connection.execute(
                text(
                    f"SELECT {columns} FROM knowledge_search_text s "
                    "JOIN knowledge INDEXED BY ix_knowledge_search_filter ON knowledge.id = s.knowledge_id "
                    "WHERE " + " AND ".join(["s.knowledge_id IN :ids", *conditions])
                ).bindparams(bindparam("ids", expanding=True)),
                {**params, "ids": ids},
            )
        return [TextRow.of(row, HEAD_FIELDS) for row in rows]

    def body_rows(self, connection: Connection, request: SearchRequest) -> Sequence[TextRow]:
        columns = f"s.knowledge_id, {', '.join(f's.{name}' for name in FIELD_NAMES)}, knowledge.updated_at"
        every = _all_terms(request.terms)
        params: dict[str, Any] = {}
        source = self._matches(request, f"({every}) NOT {_head(every)}", params, columns)
        return [TextRow.of(row, FIELD_NAMES) for row in connection.execute(text(f"SELECT {columns} {source}"), params)]

    def body_page(self, connection: Connection, request: SearchRequest, *, limit: int, offset: int) -> list[SearchHit]:
        every = _all_terms(request.terms)
        ranked = " OR ".join([f"({every})", *_whole_query(request.terms)])
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        source = self._matches(request, f"({ranked}) NOT {_head(every)}", params)
        rows = connection.execute(
            text(
                f"SELECT knowledge.id AS id, bm25(knowledge_tokens, {WEIGHTS}) AS rank {source} "
                "ORDER BY rank, knowledge.updated_at DESC, knowledge.id DESC LIMIT :limit OFFSET :offset"
            ),
            params,
        ).all()
        return [SearchHit(row.id, round(-float(row.rank), 6)) for row in rows]

    def check(self, connection: Connection) -> None:
        """FTS5 ships with every SQLite Python links against here; the migration fails loudly without it."""
