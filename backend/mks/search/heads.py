"""The head tier: entries holding every query term in their title or tags, which rank first.

Within the tier, entries are ranked by BM25F over the title and tags alone: per term, the fields'
occurrences of its forms, weighted by FIELDS and divided by the field's length relative to a
fixed typical length (HEAD_LENGTHS), saturated with K1, times the term's IDF; the words written
together as one phrase count as one more term weighing as much as all of them. The score is
computed here, from the normalized text, the same on every database.

A common word is in the title or tags of tens of thousands of entries, too many to score for every
search. ``knowledge_head_impacts`` keeps, for each 1- and 2-character piece of an entry's title and
tags, its impact: the weighted, length-normalized count a term's score saturates. A word holds
each of its pieces at least as often as it occurs, so a piece's impact bounds the word's. The top
of the tier is found by Fagin's threshold algorithm: read each term's rarest piece in order of
impact, score each entry met, and stop once the k-th best score beats the best an unread entry
could still reach. The lengths are fixed rather than averaged over the index so that a stored
impact never goes stale.

The bound falls quickly where many entries hold every term. Where few do (at most SCORE_ALL), the
lists would have to be read far down, and the tier is small: every entry of it is scored instead.
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple, Protocol

from sqlalchemy import Connection, text

from .base import FIELDS, HEAD_FIELDS, K1, B, SearchRequest
from .text import Term, whole_query

# Typical lengths, in normalized characters, against which a field's length is normalized.
HEAD_LENGTHS = {"title": 24.0, "tags": 24.0}
# FIELDS' weights relative to the title's: one occurrence in a title of typical length counts 1,
# so saturation still tells one occurrence from several (at 10 every entry of the tier saturates).
WEIGHTS = {field.name: field.weight / FIELDS[0].weight for field in FIELDS if field.name in HEAD_FIELDS}
# Document frequencies are counted up to this many entries: beyond, a word is simply common.
DF_CAP = 1_000
# A tier of at most this many entries is scored whole rather than through the impact lists.
SCORE_ALL = 1_000
SLACK = 1.0
FIRST_BATCH = 64
LAST_BATCH = 4_096

_RUN = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class HeadRow:
    """An entry of the tier as its ranking reads it."""

    knowledge_id: int
    title: str
    tags: str
    updated_at: Any  # as the database returns it (SQLite: text), compared only with its own kind


class HeadSource(Protocol):
    """What a search backend gives the head tier: the normalized title and tags of entries."""

    # The knowledge table as the backend joins it for the filters and the update time.
    knowledge_table: ClassVar[str]

    def head_rows(self, connection: Connection, request: SearchRequest, ids: list[int] | None) -> Sequence[HeadRow]:
        """The entries passing the request's filters: those of ``ids``, or (None) every entry of the tier."""


def pieces(word: str) -> list[str]:
    """The distinct 1- and 2-character pieces of a normalized word: each run's bigrams, or the run itself."""
    found: dict[str, None] = {}
    for run in _RUN.findall(word):
        found.update(dict.fromkeys([run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]))
    return list(found)


def _field_scales(fields: dict[str, str]) -> list[tuple[str, float]]:
    return [
        (value, WEIGHTS[name] / (1 - B + B * len(value) / HEAD_LENGTHS[name]))
        for name in HEAD_FIELDS
        if (value := fields[name])
    ]


def _frequency(scales: list[tuple[str, float]], forms: Sequence[str]) -> float:
    return sum(scale * sum(value.count(form) for form in forms) for value, scale in scales)


def impacts(normalized: dict[str, str]) -> dict[str, float]:
    """Every 1- and 2-character piece of the normalized title and tags, with its impact."""
    scales = _field_scales(normalized)
    found: dict[str, None] = {}
    for value, _scale in scales:
        for run in _RUN.findall(value):
            found.update(dict.fromkeys(run))
            found.update(dict.fromkeys(run[i : i + 2] for i in range(len(run) - 1)))
    return {piece: _frequency(scales, [piece]) for piece in found}


def store(connection: Connection, knowledge_id: int, normalized: dict[str, str]) -> None:
    """Replace the entry's impacts."""
    delete(connection, knowledge_id)
    rows = [{"token": piece, "impact": impact, "id": knowledge_id} for piece, impact in impacts(normalized).items()]
    if rows:
        connection.execute(
            text("INSERT INTO knowledge_head_impacts (token, impact, knowledge_id) VALUES (:token, :impact, :id)"),
            rows,
        )


def delete(connection: Connection, knowledge_id: int) -> None:
    connection.execute(text("DELETE FROM knowledge_head_impacts WHERE knowledge_id = :id"), {"id": knowledge_id})


def clear(connection: Connection) -> None:
    connection.execute(text("DELETE FROM knowledge_head_impacts"))


def _saturated(frequency: float) -> float:
    return (K1 + 1) * frequency / (K1 + frequency)


@dataclass(frozen=True)
class HeadQuery:
    """The terms with their IDF and rarest piece (None: a term of several forms), and the whole-query phrase.

    Only the words written together make the phrase here: a title seldom spaces its words, and
    tags stand side by side only by their sort order.
    """

    terms: list[Term]
    idf: list[float]
    drivers: list[str | None]
    phrase: str | None
    phrase_driver: str | None

    @property
    def pieces_only(self) -> bool:
        """Whether each term is one form of 1-2 characters: a piece, whose impact is then its exact frequency."""
        return all(len(term.forms) == 1 and len(term.forms[0]) <= 2 for term in self.terms)

    def score(self, title: str, tags: str) -> float | None:
        """The entry's score, or None when some term is in neither its title nor its tags."""
        scales = _field_scales({"title": title, "tags": tags})
        total = 0.0
        for term, idf in zip(self.terms, self.idf, strict=True):
            frequency = _frequency(scales, term.forms)
            if frequency == 0:
                return None
            total += idf * _saturated(frequency)
        if self.phrase is not None:
            total += sum(self.idf) * _saturated(_frequency(scales, [self.phrase]))
        return total

    def bound(self, impacts: list[float], phrase_impact: float) -> float:
        """The highest score of an entry whose drivers' impacts are at most ``impacts`` and ``phrase_impact``.

        The phrase holds every term's word, so it occurs no more often than any of their pieces.
        """
        total = sum(idf * _saturated(impact) for idf, impact in zip(self.idf, impacts, strict=True))
        if self.phrase is not None:
            total += sum(self.idf) * _saturated(min(phrase_impact, *impacts))
        return total


def head_query(connection: Connection, terms: list[Term]) -> HeadQuery:
    """The query with each term's IDF over the titles and tags, and the rarest pieces, from one count query."""
    phrase = whole_query(terms)[0] if len(terms) > 1 else None
    words = [form for term in terms for form in term.forms] + ([phrase] if phrase else [])
    counted = list(dict.fromkeys(piece for word in words for piece in pieces(word)))
    counts = ", ".join(
        f"(SELECT count(*) FROM (SELECT 1 FROM knowledge_head_impacts WHERE token = :p{index} LIMIT {DF_CAP}) AS c)"
        for index in range(len(counted))
    )
    row = connection.execute(
        text(f"SELECT (SELECT coalesce(max(id), 0) FROM knowledge), {counts}"),
        {f"p{index}": piece for index, piece in enumerate(counted)},
    ).one()
    documents = max(int(row[0]), 1)
    found = dict(zip(counted, (int(count) for count in row[1:]), strict=True))

    def rarest(word: str) -> str:
        return min(pieces(word), key=found.__getitem__)

    idf: list[float] = []
    drivers: list[str | None] = []
    for term in terms:
        frequency = min(DF_CAP, sum(found[rarest(form)] for form in term.forms))
        idf.append(math.log(1 + (documents - frequency + 0.5) / (frequency + 0.5)))
        drivers.append(rarest(term.forms[0]) if len(term.forms) == 1 else None)
    return HeadQuery(terms, idf, drivers, phrase, rarest(phrase) if phrase else None)


class RankedHead(NamedTuple):
    """An entry's place: by score, then the newer first (``updated_at`` as the database returns it)."""

    score: float
    updated_at: Any
    knowledge_id: int


def _ranked(query: HeadQuery, rows: Sequence[HeadRow]) -> list[RankedHead]:
    return [
        RankedHead(score, row.updated_at, row.knowledge_id)
        for row in rows
        if (score := query.score(row.title, row.tags)) is not None
    ]


class _Postings:
    """One driver's impact list, read from the top in growing batches with every driver's impact in each entry."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.after: tuple[float, int] | None = None
        self.exhausted = False
        self.batch = FIRST_BATCH

    def read(
        self, connection: Connection, source: HeadSource, request: SearchRequest, drivers: list[str]
    ) -> list[tuple[Any, ...]]:
        """The next batch of entries: impact, id, update time, whether they pass the filters, each driver's impact.

        Each batch is twice the last, up to LAST_BATCH.
        """
        batch = self.batch
        self.batch = min(2 * batch, LAST_BATCH)
        params: dict[str, Any] = {f"d{index}": driver for index, driver in enumerate(drivers)}
        visible = " AND ".join(["1 = 1", *request.filters.sql_conditions(params)])
        impacts = ", ".join(
            "(SELECT impact FROM knowledge_head_impacts h "
            f"WHERE h.knowledge_id = p.knowledge_id AND h.token = :d{index})"
            for index in range(len(drivers))
        )
        after = "" if self.after is None else "AND (impact, knowledge_id) < (:impact, :id) "
        rows: list[tuple[Any, ...]] = list(
            connection.execute(
                text(
                    f"SELECT p.impact, p.knowledge_id, knowledge.updated_at, CASE WHEN {visible} THEN 1 ELSE 0 END, "
                    f"{impacts} FROM (SELECT impact, knowledge_id FROM knowledge_head_impacts WHERE token = :token "
                    f"{after}ORDER BY impact DESC, knowledge_id DESC LIMIT :batch) AS p "
                    f"JOIN {source.knowledge_table} ON knowledge.id = p.knowledge_id"
                ),
                {**params, "token": self.token, "batch": batch, **self._after_params()},
            ).tuples()
        )
        self.exhausted = len(rows) < batch
        if rows:
            last = min(rows, key=lambda row: (row[0], row[1]))
            self.after = (float(last[0]), int(last[1]))
        return rows

    def impact(self) -> float:
        """The highest impact an entry not yet read can have."""
        return 0.0 if self.exhausted or self.after is None else self.after[0]

    def _after_params(self) -> dict[str, Any]:
        return {} if self.after is None else {"impact": self.after[0], "id": self.after[1]}


def _by_threshold(
    connection: Connection, source: HeadSource, request: SearchRequest, query: HeadQuery, drivers: list[str], want: int
) -> list[RankedHead]:
    """Fagin's threshold algorithm over the drivers' impact lists (and the phrase's), see the module's notes.

    An entry met is first bounded by its drivers' impacts, read with it from the index: that bound
    is its score when every term is a single piece and the phrase is absent, and otherwise decides
    whether its text is worth scoring.
    """
    terms = [_Postings(driver) for driver in drivers]
    phrase = [_Postings(query.phrase_driver)] if query.phrase_driver is not None else []
    looked_up = drivers + [postings.token for postings in phrase]
    best: list[RankedHead] = []  # a min-heap of the ``want`` best so far: the worst on top
    # Entries whose text must be read for their score, by bound: a max-heap (negated scores).
    unsure: list[tuple[float, Any, int]] = []
    seen: set[int] = set()

    def offer(ranked: RankedHead) -> None:
        if len(best) < want:
            heapq.heappush(best, ranked)
        elif ranked > best[0]:
            heapq.heapreplace(best, ranked)

    def beats_worst(ranked: RankedHead) -> bool:
        return len(best) < want or ranked > best[0]

    def reachable() -> float:
        phrase_impact = min((postings.impact() for postings in phrase), default=0.0)
        return query.bound([postings.impact() for postings in terms], phrase_impact)

    while True:
        rows = [
            row
            for postings in terms + phrase
            if not postings.exhausted
            for row in postings.read(connection, source, request, looked_up)
        ]
        for row in rows:
            knowledge_id = row[1]
            found: list[float] = list(row[4:])
            if knowledge_id in seen or not row[3] or None in found[: len(drivers)]:
                continue  # met before, filtered out, or a term in neither its title nor its tags
            seen.add(knowledge_id)
            phrase_impact = found[-1] if phrase else None
            bound = RankedHead(query.bound(found[: len(drivers)], phrase_impact or 0.0), row[2], knowledge_id)
            if query.pieces_only and phrase_impact is None:
                offer(bound)
            elif beats_worst(bound):
                heapq.heappush(unsure, (-bound.score, bound.updated_at, knowledge_id))
        # Score the text of the entries that could still enter, best bound first, until none can.
        while unsure and beats_worst(RankedHead(-unsure[0][0], unsure[0][1], unsure[0][2])):
            chosen = [heapq.heappop(unsure)[2] for _ in range(min(want, len(unsure)))]
            for ranked in _ranked(query, source.head_rows(connection, request, chosen)):
                offer(ranked)
        # Every entry holding all terms in its head holds each driver: one list read to its end has met them all.
        if any(postings.exhausted for postings in terms):
            break
        if len(best) == want and best[0].score * SLACK > reachable():
            break
    return best


def rank_heads(connection: Connection, source: HeadSource, request: SearchRequest, tier_size: int) -> list[RankedHead]:
    """The head tier's entries of the requested page, best first.

    ``tier_size`` is the tier's size, counted up to SCORE_ALL + 1 at least.
    """
    query = head_query(connection, request.terms)
    want = request.offset + request.limit
    drivers = [driver for driver in query.drivers if driver is not None]
    if tier_size <= SCORE_ALL or len(drivers) < len(query.drivers):
        found = _ranked(query, source.head_rows(connection, request, None))
    else:
        found = _by_threshold(connection, source, request, query, drivers, want)
    return sorted(found, reverse=True)[request.offset : want]
