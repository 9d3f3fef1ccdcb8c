"""PostgreSQL search: GIN-indexed tsvectors of character-bigram tokens; a large body tier ranked by BM25F in SQL.

``knowledge_search`` holds each entry's normalized fields and two tsvectors of their tokens
(text.index_tokens): ``head`` (title, tags) and ``body`` (every field, weighted A-D in FIELDS
order), each with a GIN index; each also holds the indexed words (words.py) of its fields, without
positions. The tsvectors and the queries are cast from their text form with every lexeme quoted,
never passed through a text search parser: no configuration, dictionary or locale (LC_CTYPE=C
drops nothing) can split or alter a bigram, and user text is only ever a bound value. Positions
run on across the fields with a gap between them, so a word is the phrase of its bigrams
(``'かぶ' <-> 'ぶり' <-> 'り厚'``) inside one field. Each character of the fields is also a lexeme,
without positions where it is no token of its own, so a word of one character is one lexeme
(``'杭'``): GIN answers it as it answers any word, where a prefix (``'杭':*``) would gather every
lexeme it starts into one bitmap first, and again for each bucket of mks_body_matches (migration
0021). A lexeme without positions never satisfies a phrase, so phrases are unchanged.

The head tier (every term in the title or tags: ``head @@ query``) is ranked by heads.py. The body
tier (the others), above backend.SMALL_BODY entries, is ranked here by BM25F: per term, each field's
occurrences of its forms (counted in the normalized text), weighted by FIELDS and divided by the
field's length relative to its average, saturated with k1, times the term's IDF. The
words written together as one phrase count as one more term, weighing as much as all of them
(its IDF under independence), so the phrase outranks the words scattered.

IDF needs each term's document frequency: counted through the GIN index, up to DF_CAP; more
frequent words all weigh as common ones. The number of entries and the average field lengths come
from the totals that triggers keep in knowledge_search_lengths (migration 0023).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, text

from ..config import ConfigError
from .backend import SearchBackend
from .base import (
    FIELD_COLUMNS,
    FIELD_NAMES,
    FIELDS,
    HEAD_FIELDS,
    K1,
    B,
    IndexedText,
    RankedPage,
    SearchHit,
    SearchRequest,
    Tally,
    checked_in_text,
    insert_rows,
)
from .heads import TextRow
from .scoring import DF_CAP, idf
from .text import Phrase, Term, index_tokens, runs, whole_query

# tsvector positions stop at 16383 (later ones are stored as 16383, so no phrase starts there).
MAX_POSITION = 16_383
WEIGHT_LABELS = "ABCD"  # tsvector weight labels, in FIELDS order
JOINED = "FROM knowledge_search s JOIN knowledge ON knowledge.id = s.knowledge_id"
# Every term in the title or tags; the body vector holds those fields too, so that is a match.
HEAD = "s.head @@ CAST(:query AS tsquery)"
BODY = "s.body @@ CAST(:query AS tsquery)"
# The advisory lock of the list of indexed words (words.py): any number of writers, or one learner.
WORDS_LOCK = 0x6D6B_7377  # "mksw"
# The entries of knowledge_search and the total length of each of their fields, kept by triggers (migration 0023).
LENGTHS = "knowledge_search_lengths"


def _lexeme(token: str) -> str:
    # A quoted tsvector/tsquery lexeme: quotes doubled, backslashes escaped.
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector(normalized: dict[str, str], fields: tuple[str, ...], indexed_words: Sequence[str] = ()) -> str:
    """The tsvector, as text, of the tokens of the named normalized fields, labelled by their FIELDS weight.

    The indexed words (words.py) those fields hold follow, without positions: a word is never part
    of a phrase, and a lexeme without positions is all a GIN index needs to answer it alone. So do
    the characters of the fields that are no token of their own (characters).
    """
    positions: dict[str, list[str]] = {}
    position = 1
    for name in fields:
        label = WEIGHT_LABELS[FIELD_NAMES.index(name)]
        for token in index_tokens(normalized[name]):
            positions.setdefault(token, []).append(f"{min(position, MAX_POSITION)}{label}")
            position += 1
        position += 1  # no phrase spans two fields
    held = [word for word in indexed_words if any(word in normalized[name] for name in fields)]
    held += [char for char in characters(normalized, fields) if char not in positions]
    positioned = [f"{_lexeme(token)}:{','.join(found)}" for token, found in positions.items()]
    return " ".join([*positioned, unpositioned(held)] if held else positioned)


def unpositioned(words: Iterable[str]) -> str:
    """A tsvector, as text, of the words as lexemes without positions."""
    return " ".join(map(_lexeme, words))


def characters(normalized: dict[str, str], fields: tuple[str, ...]) -> list[str]:
    """The distinct characters of the named normalized fields' word-character runs: what a word of one
    character matches (every run's bigrams start with them, or end with them)."""
    return list(dict.fromkeys(char for name in fields for run in runs(normalized[name]) for char in run))


def _tsquery(phrase: Phrase) -> str:
    lexemes = [_lexeme(token) for token in phrase.tokens]
    if phrase.prefix and len(lexemes) > 1:
        lexemes[-1] += ":*"
    return "(" + " <-> ".join(lexemes) + ")"


def _term_query(term: Term) -> str:
    return "(" + " | ".join(_tsquery(phrase) for phrase in term.phrases()) + ")"


def _request_query(request: SearchRequest) -> str:
    """The tsquery, as text, of the entries holding a form of every term."""
    return " & ".join(_term_query(term) for term in request.terms)


def _frequency(forms: list[str]) -> str:
    """SQL for BM25F's weighted, length-normalized frequency of the forms (bound parameters) in the row ``s``."""
    parts = []
    for field in FIELDS:
        found = " + ".join(
            f"(octet_length(s.{field.name}) - octet_length(replace(s.{field.name}, :{form}, ''))) "
            f"/ octet_length(:{form})"
            for form in forms
        )
        normalized = f"({1 - B} + {B} * octet_length(s.{field.name}) / :average_{field.name})"
        parts.append(f"{field.weight} * ({found}) / {normalized}")
    return " + ".join(parts)


def index_statistics(connection: Connection, queries: list[str]) -> tuple[list[float], dict[str, float]]:
    """Each query's IDF over the whole index (its document frequency counted up to DF_CAP), and each
    field's average length in octets, from the totals triggers keep (migration 0023)."""
    counts = ", ".join(
        f"(SELECT count(*) FROM (SELECT FROM knowledge_search WHERE body @@ CAST(:q{index} AS tsquery) "
        f"LIMIT {DF_CAP}) AS found)"
        for index in range(len(queries))
    )
    totals = ", ".join(f"sum({name}) AS {name}" for name in FIELD_NAMES)
    divided = ", ".join(f"t.{name}::float8 / greatest(t.entries, 1)" for name in FIELD_NAMES)
    row = connection.execute(
        text(
            f"SELECT t.entries, {divided}, {counts} "
            f"FROM (SELECT coalesce(sum(entries), 0) AS entries, {totals} FROM {LENGTHS}) AS t"
        ),
        {f"q{index}": query for index, query in enumerate(queries)},
    ).one()
    documents, found = max(int(row[0]), 1), row[1:]
    averages = {name: max(float(found[index] or 0.0), 1.0) for index, name in enumerate(FIELD_NAMES)}
    return [idf(documents, count) for count in found[len(FIELD_NAMES) :]], averages


@contextmanager
def _planner_settings(connection: Connection, **settings: str) -> Iterator[None]:
    """The transaction's planner settings changed for the statements inside, then put back."""
    count = len(settings)
    assign = ", ".join(f"set_config(:name{index}, :value{index}, true)" for index in range(count))
    read = ", ".join(f"current_setting(:name{index})" for index in range(count))

    def params(values: Iterable[str]) -> dict[str, str]:
        return {f"name{index}": name for index, name in enumerate(settings)} | {
            f"value{index}": value for index, value in enumerate(values)
        }

    previous = connection.execute(text(f"SELECT {read}, {assign}"), params(settings.values())).one()
    try:
        yield
    finally:
        connection.execute(text(f"SELECT {assign}"), params(previous[:count]))


class PostgresSearch(SearchBackend):
    """Search backed by tsvector GIN indexes."""

    knowledge_table = "knowledge"
    indexed_table = "knowledge_search"
    copied_columns = ("category_id", "status")  # the facets' (migration 0022)
    kept_lengths = LENGTHS
    joins_by_merge = True

    def search(self, connection: Connection, request: SearchRequest) -> RankedPage:
        """The search of every backend, planned serially.

        A search is one web request among others on the same cores: parallel workers cost their start
        and their gather more than they save on statements of 10-20 ms, and a worker that starts late
        holds the whole request (100,000 entries, 24 queries of the benchmark, 15 runs each: median
        at most the same, コンクリート 施工計画 19.1 → 16.5 ms; p95 クレーン 玉掛け 34.1 → 13.5 ms).
        """
        with _planner_settings(connection, max_parallel_workers_per_gather="0"):
            return super().search(connection, request)

    def lock_words(self, connection: Connection, *, exclusive: bool) -> None:
        lock = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        connection.execute(text(f"SELECT {lock}(:key)"), {"key": WORDS_LOCK})

    def insert_texts(self, connection: Connection, texts: Sequence[IndexedText]) -> None:
        insert_rows(
            connection,
            f"INSERT INTO knowledge_search (knowledge_id, {FIELD_COLUMNS}, head, body)",
            [
                (
                    found.knowledge_id,
                    *(found.normalized[name] for name in FIELD_NAMES),
                    tsvector(found.normalized, HEAD_FIELDS, found.indexed_words),
                    tsvector(found.normalized, FIELD_NAMES, found.indexed_words),
                )
                for found in texts
            ],
        )

    def remove_texts(self, connection: Connection, knowledge_ids: Sequence[int]) -> None:
        connection.execute(
            text("DELETE FROM knowledge_search WHERE knowledge_id = ANY(:ids)"), {"ids": list(knowledge_ids)}
        )

    def _score(self, connection: Connection, terms: list[Term], params: dict[str, Any]) -> tuple[str, str]:
        """SQL for the BM25F score of the row ``s``: the frequencies (a LATERAL select list), then the score.

        Binds the forms counted and the average field lengths into params.
        """
        weights, averages = index_statistics(connection, [_term_query(term) for term in terms])
        params.update({f"average_{name}": average for name, average in averages.items()})
        weighted = [(weight, list(term.forms)) for weight, term in zip(weights, terms, strict=True)]
        phrases = whole_query(terms)
        if phrases:
            weighted.append((sum(weights), phrases))
        frequencies = []
        scores = []
        for index, (weight, forms) in enumerate(weighted):
            names = []
            for number, form in enumerate(forms):
                params[f"w{index}_{number}"] = form
                names.append(f"w{index}_{number}")
            frequencies.append(f"{_frequency(names)} AS f{index}")
            scores.append(f"{weight} * {K1 + 1} * f.f{index} / ({K1} + f.f{index})")
        return ", ".join(frequencies), " + ".join(scores)

    def _where(self, request: SearchRequest, params: dict[str, Any], match: str) -> str:
        """The WHERE of the rows of ``match`` passing the filters, binding into params (``:query``: the tsquery)."""
        params["query"] = _request_query(request)
        conditions = request.filters.sql_conditions(params)
        conditions.extend(checked_in_text(request.terms, params, find="strpos"))
        return "WHERE " + " AND ".join([match, *conditions])

    def matching(self, request: SearchRequest, params: dict[str, Any], *, with_entry: bool) -> str:
        where = self._where(request, params, BODY)
        return f"{JOINED if with_entry or request.filters.restrict else 'FROM knowledge_search s'} {where}"

    @staticmethod
    def _bitmap_decides(request: SearchRequest, bound: int) -> bool:
        """Whether the matches are best found through a bitmap of the GIN index: every form one token, so the
        index alone decides, and more than DF_CAP asked for (count_matches says why)."""
        single = all(len(phrase.tokens) == 1 for term in request.terms for phrase in term.phrases())
        return single and bound > DF_CAP

    @contextmanager
    def _through_bitmap(self, connection: Connection, request: SearchRequest, bound: int) -> Iterator[None]:
        """The statements inside find the matches through a bitmap of the GIN index when _bitmap_decides."""
        if not self._bitmap_decides(request, bound):
            yield
            return
        with _planner_settings(connection, enable_seqscan="off", enable_indexscan="off"):
            yield

    def _matches_from_index(self, request: SearchRequest, bound: int) -> bool:
        """Whether the matches' ids are best taken from mks_body_matches: the index alone decides
        (_bitmap_decides), every term is exact (else checked_in_text reads the text) and no filter
        must apply before the bound."""
        exact = all(term.exact for term in request.terms)
        return exact and not request.filters.restrict and self._bitmap_decides(request, bound)

    @staticmethod
    def _matches(request: SearchRequest, params: dict[str, Any], function: str) -> str:
        """FROM the first :bound matches, from a bitmap of the GIN index, as ``function`` returns them:
        mks_body_matches their ids (migrations 0019, 0020), mks_body_match_facets their category and
        status (migration 0022).

        The function's own settings force the bitmap. It reads the newest buckets of entries one by one,
        where a common word reaches the bound early.
        """
        params["query"] = _request_query(request)
        return f"FROM {function}(CAST(:query AS tsquery), :bound) AS found"

    def count_matches(self, connection: Connection, request: SearchRequest, *, bound: int) -> int:
        """Counted from a bitmap of the GIN index when the index alone decides: every form one token.

        One token: a word of 1-2 characters, or an indexed word (words.py). For a common word the
        planner expects the bound's matches early in a scan of the table, but each row's match reads
        its body vector (7 KB, out of line): 10,001 matches of 養生 at 100,000 entries took
        100-180 ms that way, 19 ms from one bitmap, 3 ms bucket by bucket (_matches). A phrase is
        checked in every match's vector either way, and a scan that stops early finds a low bound
        sooner than a whole bitmap: the DF_CAP of IDF (1,000 matches of コンクリート: 6 ms read in
        the table, 15-20 ms in a bitmap of its 99,800).
        """
        if self._matches_from_index(request, bound):
            params: dict[str, Any] = {"bound": bound}
            found: int = connection.execute(
                text(f"SELECT count(*) {self._matches(request, params, 'mks_body_matches')}"), params
            ).scalar_one()
            return found
        if request.filters.restrict:
            return super().count_matches(connection, request, bound=bound)
        with self._through_bitmap(connection, request, bound):
            return super().count_matches(connection, request, bound=bound)

    def tally(self, connection: Connection, request: SearchRequest, *, bound: int) -> list[Tally]:
        """Tallied from a bitmap of the GIN index when the index alone decides, as count_matches counts.

        Left to itself the planner walked knowledge_search in key order to meet the bound early,
        reading each row's body vector: 10,001 matches of 杭 at 30,000 entries took 160 ms that way,
        43 ms through the bitmap (the search page's facets, on every common word). Without filters the
        bitmap's first ``bound`` matches are all a tally needs: mks_body_match_facets (_matches) reads them
        as mks_body_matches does, with the category and status their rows of knowledge_search
        hold (migration 0022: 杭 at 100,000 entries, 15 → 9 ms, against a probe of the knowledge
        table for each). Filters must apply before the bound: those tallies join inside the bitmap's settings.
        """
        if not self._matches_from_index(request, bound):
            with self._through_bitmap(connection, request, bound):
                return super().tally(connection, request, bound=bound)
        params: dict[str, Any] = {"bound": bound}
        rows = connection.execute(
            text(
                "SELECT category_id, status, count(*) AS matches "
                f"{self._matches(request, params, 'mks_body_match_facets')} GROUP BY category_id, status"
            ),
            params,
        )
        return [Tally(row.category_id, row.status, row.matches) for row in rows]

    def head_rows(self, connection: Connection, request: SearchRequest, ids: list[int] | None) -> Sequence[TextRow]:
        params: dict[str, Any] = {}
        if ids is None:
            source = f"{JOINED} {self._where(request, params, HEAD)}"
        else:
            conditions = request.filters.sql_conditions(params)
            source = f"{JOINED} WHERE {' AND '.join(['s.knowledge_id = ANY(:ids)', *conditions])}"
            params["ids"] = ids
        rows = connection.execute(
            text(f"SELECT s.knowledge_id, s.title, s.tags, knowledge.updated_at {source}"), params
        )
        return [TextRow.of(row, HEAD_FIELDS) for row in rows]

    def body_rows(self, connection: Connection, request: SearchRequest) -> Sequence[TextRow]:
        params: dict[str, Any] = {}
        where = self._where(request, params, f"{BODY} AND NOT {HEAD}")
        columns = ", ".join(f"s.{name}" for name in FIELD_NAMES)
        rows = connection.execute(
            text(f"SELECT s.knowledge_id, {columns}, knowledge.updated_at {JOINED} {where}"), params
        )
        return [TextRow.of(row, FIELD_NAMES) for row in rows]

    def body_page(self, connection: Connection, request: SearchRequest, *, limit: int, offset: int) -> list[SearchHit]:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        where = self._where(request, params, f"{BODY} AND NOT {HEAD}")
        frequencies, score = self._score(connection, request.terms, params)
        rows = connection.execute(
            text(
                f"SELECT s.knowledge_id AS id, {score} AS score {JOINED} "
                f"CROSS JOIN LATERAL (SELECT {frequencies}) AS f {where} "
                "ORDER BY score DESC, knowledge.updated_at DESC, s.knowledge_id DESC LIMIT :limit OFFSET :offset"
            ),
            params,
        ).all()
        return [SearchHit(row.id, round(float(row.score), 6)) for row in rows]

    def clear_text(self, connection: Connection) -> None:
        connection.execute(text("DELETE FROM knowledge_search"))
        # From nothing, whatever the totals were: a rebuild also mends them.
        connection.execute(text(f"DELETE FROM {LENGTHS}"))

    def check(self, connection: Connection) -> None:
        """The database must hold Japanese text: its encoding decides that, not its locale (see above)."""
        encoding: str = connection.execute(text("SHOW server_encoding")).scalar_one()
        if encoding != "UTF8":
            raise ConfigError(
                f"このデータベースの文字コード ({encoding}) では日本語の検索索引を保存できません。"
                " ENCODING 'UTF8' のデータベースを作成してください。"
                " 例: CREATE DATABASE mks TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8';"
            )
