"""The head tier: entries holding every query term in their title or tags, which rank first.

Within the tier, entries are ranked by BM25F over the title and tags alone: per term, the
frequency of its forms in those fields (scoring.py), saturated with K1, times the term's
IDF over titles and tags; the words written together as one phrase count as one more term,
weighing as much as all of them. Scores are computed here, the same on every database.

A common word is in the title or tags of tens of thousands of entries, too many to score for every
search. The impact lists (impacts.py) bound each entry's score without reading its text, and the
entries are taken best bound first until the next bound falls below the k-th best score:

Each term is driven by a list: its own (a word of 1-2 characters, or an indexed word of words.py),
else its rarest piece's.

- one term: its driver's list, read from the top (the bound grows with the impact);
- several terms: a join of the terms' drivers' lists, which yields exactly the entries
  holding every term, sorted by bound in the database (a threshold algorithm over the separate
  lists had to read 10,000-25,000 entries for three common words: the lists are long and their
  impacts fall slowly); on SQLite first above a threshold sampled from the lists' tops, which
  leaves out the entries of too low an impact in either list;
- a term with several forms (synonyms): every entry of the tier, scored from its text.

Where the bound is the score (every term with a list of its own, and the phrase absent) no text
is read; otherwise entries' text is scored in bound order.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple, Protocol

from sqlalchemy import Connection, bindparam, text

from .base import K1, SearchRequest
from .impacts import ListLengths, list_lengths, pieces
from .scoring import DF_CAP, Scorer, idf, phrase_of_query, saturated
from .text import Term

FIRST_BATCH = 64
LAST_BATCH = 4_096
JOINED_PAGE = 256
# Entries read from the top of each list joined to set the threshold that cuts the join (_threshold), and
# the length of the shortest list below which the join is not cut.
SAMPLE = 256
CUT_FROM = 10_000
# Bounds summed in SQL and in Python may differ in their last bits.
TOLERANCE = 1e-9


@dataclass(frozen=True)
class TextRow:
    """An entry as a ranking reads it: normalized fields by name, and its update time."""

    knowledge_id: int
    fields: dict[str, str]
    updated_at: Any  # as the database returns it (SQLite: text), compared only with its own kind

    @classmethod
    def of(cls, row: Any, names: Sequence[str]) -> TextRow:
        """The row of a query selecting knowledge_id, the named fields and updated_at."""
        return cls(row.knowledge_id, {name: getattr(row, name) for name in names}, row.updated_at)


class HeadSource(Protocol):
    """What a search backend gives the head tier."""

    # The knowledge table as the backend joins it for the filters and the update time.
    knowledge_table: ClassVar[str]
    # Whether the database joins the lists by merging them, each read once in entry order (PostgreSQL), rather
    # than by probing a list for each entry of another (SQLite's nested loops); see _joined. A merge also
    # counts the tier (count(*) OVER ()) for a total that can use it (no facets, no filter).
    joins_by_merge: ClassVar[bool]
    # What follows the alias of an impact list in a join, to read it by entry (a planner's hint, or nothing).
    impacts_by_entry: ClassVar[str]
    list_lengths: ListLengths

    def head_rows(self, connection: Connection, request: SearchRequest, ids: list[int] | None) -> Sequence[TextRow]:
        """The normalized title and tags of entries passing the filters: of ``ids``, or (None) the whole tier."""


def own_piece(term: Term) -> str | None:
    """The term's word when it is one form with a list of its own, which holds exactly its head tier.

    That is a word of 1-2 characters (its own piece), or an indexed word (words.py).
    """
    word = term.forms[0]
    return word if len(term.forms) == 1 and (word in term.indexed or pieces(word) == [word]) else None


@dataclass(frozen=True)
class HeadQuery(Scorer):
    """The scorer of the head tier (IDF over titles and tags), with each term's driver and the lists' lengths.

    A driver is the term's own list (own_piece) or its rarest piece's; None for a term of several forms (synonyms).
    ``lengths``: every piece's, capped at DF_CAP, and the full lengths the drivers were chosen by, as well as
    those of the drivers themselves where a join probes (HeadSource.joins_by_merge False).
    """

    drivers: list[str | None]
    phrase_driver: str | None
    lengths: dict[str, int]

    @property
    def pieces_only(self) -> bool:
        """Whether each term is one form with a list of its own (see own_piece): its impact is its frequency."""
        return all(own_piece(term) is not None for term in self.terms)

    def bound(self, impacts: Sequence[float], phrase_impact: float) -> float:
        """The highest score of an entry whose drivers' impacts are ``impacts`` and ``phrase_impact``.

        The phrase holds every term's word, so it occurs no more often than any of their pieces.
        """
        total = sum(weight * saturated(impact) for weight, impact in zip(self.idf, impacts, strict=True))
        if self.phrase is not None:
            total += sum(self.idf) * saturated(min(phrase_impact, *impacts))
        return total


def head_query(connection: Connection, source: HeadSource, terms: list[Term]) -> HeadQuery:
    """The query with each term's IDF over the titles and tags, and the drivers.

    IDF needs each piece's list length only up to DF_CAP, counted afresh; the rarest of several
    longer pieces is told by the source's list lengths (``施工計画``: ``工計`` 17,000 entries, not
    ``施工`` 24,000, the cost of a join and the tightness of its bounds), as are the lengths of the
    terms' own lists where a join probes them in order of length. Only those are counted: recounting the
    five pieces of コンクリート, which is an indexed word, whenever their lengths expired cost its search
    27 ms on PostgreSQL. A merge (joins_by_merge) reads every list whole whatever their lengths: there,
    recounting the own lists of コンクリート 打設 養生 every LENGTHS_SECONDS cost one search in that
    span 3.2 ms more at 30,000 entries, on top of 12.3.
    """
    phrase = phrase_of_query(terms)
    words = [form for term in terms for form in term.forms] + ([phrase] if phrase else [])
    counted = list(dict.fromkeys(piece for word in words for piece in pieces(word)))
    counts, params = list_lengths(counted, DF_CAP)
    row = connection.execute(text(f"SELECT (SELECT coalesce(max(id), 0) FROM knowledge), {counts}"), params).one()
    documents = max(int(row[0]), 1)
    found = dict(zip(counted, (int(count) for count in row[1:]), strict=True))
    owned = [] if source.joins_by_merge else [word for term in terms if (word := own_piece(term)) is not None]
    # A piece counted below the cap is rarer than any that reached it: only a word whose pieces all
    # reached it needs their lengths to tell its rarest.
    chosen = [term.forms[0] for term in terms if len(term.forms) == 1 and own_piece(term) is None]
    chosen += [phrase] if phrase else []
    capped = [
        piece for word in chosen if all(found[piece] == DF_CAP for piece in pieces(word)) for piece in pieces(word)
    ]
    needed = dict.fromkeys([*capped, *(word for word in owned if found.get(word, DF_CAP) == DF_CAP)])
    lengths = found | source.list_lengths.of(connection, list(needed))

    def rarest(word: str) -> str:
        return min(pieces(word), key=lengths.__getitem__)

    # From the capped counts of pieces alone, so that scores never depend on the list lengths' age,
    # nor on which words the index holds whole.
    least = {form: min(found[piece] for piece in pieces(form)) for term in terms for form in term.forms}
    weights = [idf(documents, min(DF_CAP, sum(least[form] for form in term.forms))) for term in terms]
    drivers = [own_piece(term) or rarest(term.forms[0]) if len(term.forms) == 1 else None for term in terms]
    return HeadQuery(terms, weights, phrase, drivers, rarest(phrase) if phrase else None, lengths)


class RankedHead(NamedTuple):
    """An entry's place: by score, then the newer first (``updated_at`` as the database returns it)."""

    score: float
    updated_at: Any
    knowledge_id: int


class _Candidate(NamedTuple):
    place: RankedHead  # with the entry's bound as its score
    exact: bool  # whether the bound is the score


# Batches of candidates in falling order of bound, each with the highest bound a later one can have.
_Stream = Iterator[tuple[list[_Candidate], float]]


def scored(scorer: Scorer, rows: Sequence[TextRow]) -> list[RankedHead]:
    """The rows holding every term, with their scores."""
    return [
        RankedHead(score, row.updated_at, row.knowledge_id)
        for row in rows
        if (score := scorer.score(row.fields)) is not None
    ]


def _walk(connection: Connection, source: HeadSource, request: SearchRequest, query: HeadQuery) -> _Stream:
    """The one term's entries, read down its driver's impact list in growing batches."""
    params: dict[str, Any] = {"token": query.drivers[0]}
    visible = " AND ".join(["1 = 1", *request.filters.sql_conditions(params)])
    after: tuple[float, int] | None = None
    batch = FIRST_BATCH
    while True:
        cursor = "" if after is None else "AND (impact, knowledge_id) < (:impact, :id) "
        rows: list[tuple[Any, ...]] = sorted(
            (
                tuple(row)
                for row in connection.execute(
                    text(
                        f"SELECT p.impact, p.knowledge_id, knowledge.updated_at, CASE WHEN {visible} THEN 1 ELSE 0 END "
                        f"FROM (SELECT impact, knowledge_id FROM knowledge_head_impacts WHERE token = :token {cursor}"
                        "ORDER BY impact DESC, knowledge_id DESC LIMIT :batch) AS p "
                        f"JOIN {source.knowledge_table} ON knowledge.id = p.knowledge_id"
                    ),
                    {**params, "batch": batch, "impact": after and after[0], "id": after and after[1]},
                )
            ),
            key=lambda row: (row[0], row[1]),
            reverse=True,
        )
        candidates = [
            _Candidate(RankedHead(query.bound([impact], 0.0), updated_at, knowledge_id), query.pieces_only)
            for impact, knowledge_id, updated_at, shown in rows
            if shown
        ]
        if len(rows) < batch:
            yield candidates, -math.inf
            return
        after = (float(rows[-1][0]), int(rows[-1][1]))
        yield candidates, query.bound([after[0]], 0.0)
        batch = min(2 * batch, LAST_BATCH)


class _Joined(NamedTuple):
    """One entry of the join: its bound, and its phrase driver's impact (None: absent)."""

    bound: float
    knowledge_id: int
    phrase_impact: float | None


def _joined(
    connection: Connection, source: HeadSource, request: SearchRequest, query: HeadQuery, want: int
) -> tuple[int | None, _Stream]:
    """The size of the tier (filters aside), and every entry holding all terms, from a join of the drivers' lists.

    The entries come in pages by bound. Where the database merges the lists and a total can use the size
    (counted, below), the join also counts the tier, and its first page is read before the stream starts:
    PostgreSQL's count of a common word beside another reads both whole posting lists to a bitmap (10 ms
    at 100,000 entries), the window 1 ms more to a merge join that reads every entry anyway. SQLite's FTS5
    count stops at the bound (1 ms), and the window cost its join 3 ms more. None where not counted.

    The join leaves out the knowledge table: joining it for the filters cost as much as the
    join itself at 100,000 entries. The entries are looked up there FIRST_BATCH at a time, as
    they are taken: the best are often among the first few dozen.

    The phrase of the whole query is looked for in its driver's list, which is short (it spans two
    words: ``と施`` of こんくりーと施工計画, 421 entries of 100,000). How depends on how the database joins
    (joins_by_merge), as does the cut:

    - PostgreSQL merges the phrase's list into the join as one more list (0.4 ms), where looking the 421
      entries up in the other lists apart took 2.6-3.0 ms. Its join is not cut: a sample's probes cost
      3.7 us each, and it costs as much as the cut saves the merge (コンクリート 施工計画: 12.5 → 8.0 ms,
      the sample 3.8 ms).
    - SQLite looks the phrase up apart and merges by bound: probing it for each entry of the join cost
      as much as the join (7 of 17 ms). Its join of two long lists is cut by a threshold (_threshold): the
      entries above it come first, from the lists' entries of high enough impact alone, then, only if
      the ranking asks for more, those below (コンクリート 施工計画: the join 10.8 → 5.5 ms).
    """
    drivers = [driver for driver in query.drivers if driver is not None]
    # The shortest list drives a join that probes, in the order written (SQLite); a merge's planner orders its own.
    order = drivers if source.joins_by_merge else sorted(drivers, key=query.lengths.__getitem__)
    lists = [f"h{drivers.index(token)}" for token in order]
    params: dict[str, Any] = {f"t{index}": token for index, token in enumerate(drivers)}
    params.update({f"w{index}": idf for index, idf in enumerate(query.idf)})
    conditions = [f"{name}.token = :t{name[1:]}" for name in lists]
    conditions += [f"{name}.knowledge_id = {lists[0]}.knowledge_id" for name in lists[1:]]
    bound = " + ".join(
        f":w{index} * {K1 + 1} * h{index}.impact / ({K1} + h{index}.impact)" for index in range(len(drivers))
    )
    impacts = ", ".join(f"h{index}.impact" for index in range(len(drivers)))
    # Read by entry: a range of impacts taken from the primary key would return a list in impact order,
    # and each probe of the next list would land anywhere in it (SQLite: 1.3 against 0.5 us).
    tables = " CROSS JOIN ".join(f"knowledge_head_impacts {name}{source.impacts_by_entry}" for name in lists)
    counted = source.joins_by_merge and not request.facets and not request.filters.restrict
    tier = ", count(*) OVER () AS tier" if counted else ""
    phrase_column = phrase_join = ""
    if source.joins_by_merge and query.phrase_driver is not None:
        params.update(tp=query.phrase_driver, wp=sum(query.idf))
        phrase_join = (
            f" LEFT JOIN knowledge_head_impacts hp ON hp.token = :tp AND hp.knowledge_id = {lists[0]}.knowledge_id"
        )
        # As HeadQuery.bound adds the phrase (least, PostgreSQL's, leaves out a null: hence the CASE).
        least_impact = f"least(hp.impact, {impacts})"
        bound += (
            f" + CASE WHEN hp.impact IS NULL THEN 0 ELSE :wp * {K1 + 1} * {least_impact} / ({K1} + {least_impact}) END"
        )
        phrase_column = ", hp.impact"
    holders: dict[int, _Joined] = {}
    if query.phrase_driver is not None and not phrase_join:
        rows = connection.execute(
            text(
                f"SELECT hp.knowledge_id, hp.impact, {impacts} FROM knowledge_head_impacts hp CROSS JOIN {tables} "
                f"WHERE hp.token = :tp AND {lists[0]}.knowledge_id = hp.knowledge_id AND {' AND '.join(conditions)}"
            ),
            {**params, "tp": query.phrase_driver},
        )
        for row in rows:
            found, phrase_impact = tuple(float(impact) for impact in row[2:]), float(row[1])
            holders[int(row[0])] = _Joined(query.bound(found, phrase_impact), int(row[0]), phrase_impact)
    by_phrase = sorted(holders.values(), reverse=True)

    def page(cut: str, batch: int, offset: int) -> list[Any]:
        return list(
            connection.execute(
                text(
                    f"SELECT {lists[0]}.knowledge_id, {bound} AS bound, {impacts}{phrase_column}{tier} "
                    f"FROM {tables}{phrase_join} WHERE {' AND '.join(conditions)}{cut} "
                    f"ORDER BY bound DESC, {lists[0]}.knowledge_id DESC LIMIT :limit OFFSET :offset"
                ),
                {**params, "limit": batch, "offset": offset},
            )
        )

    def pages(cut: str, rows: list[Any] | None = None) -> Iterator[_Joined]:
        """The join's entries outside the phrase holders (and within ``cut``), by bound, a page at a time.

        Each page runs the join again: the first is large enough that the text of hundreds of
        entries of near-equal bound can be scored without a second.
        """
        offset, batch = 0, JOINED_PAGE
        rows = page(cut, batch, offset) if rows is None else rows
        while True:
            for row in rows:
                if int(row[0]) not in holders:
                    # The bound again, as the text scorer sums it: where it is the score, it must be that score.
                    found = tuple(float(impact) for impact in row[2 : 2 + len(drivers)])
                    held = row[2 + len(drivers)] if phrase_column else None
                    phrase = None if held is None else float(held)
                    yield _Joined(query.bound(found, phrase or 0.0), int(row[0]), phrase)
            if len(rows) < batch:
                return
            offset += batch
            batch *= 2
            rows = page(cut, batch, offset)

    def batches(entries: Iterator[_Joined], after: float = -math.inf) -> _Stream:
        return _batches(connection, source, request, query, entries, after)

    if counted:
        first = page("", JOINED_PAGE, 0)
        return (int(first[0][-1]) if first else 0), batches(_merged(pages("", first), by_phrase))
    threshold = None if source.joins_by_merge else _threshold(connection, query, params, want)
    if threshold is None:
        return None, batches(_merged(pages(""), by_phrase))
    least, theta = threshold
    params["theta"] = theta
    params.update({f"m{index}": impact for index, impact in enumerate(least)})
    cut = "".join(f" AND h{index}.impact >= :m{index}" for index, impact in enumerate(least) if impact > 0)
    high = [entry for entry in by_phrase if entry.bound >= theta]

    def stream() -> _Stream:
        # The entries above the threshold, then, if the ranking asks for more, the others.
        yield from batches(_merged(pages(f"{cut} AND {bound} >= :theta"), high), theta)
        yield from batches(_merged(pages(f" AND {bound} < :theta"), by_phrase[len(high) :]))

    return None, stream()


def _merged(joined: Iterator[_Joined], by_phrase: list[_Joined]) -> Iterator[_Joined]:
    return heapq.merge(joined, by_phrase, key=lambda entry: entry.bound, reverse=True)


def _threshold(
    connection: Connection, query: HeadQuery, params: dict[str, Any], want: int
) -> tuple[list[float], float] | None:
    """A bound that ``want`` entries of the join of two lists exceed, and the least impact an entry needs in
    each list to reach it (0: any); None where the join is not cut.

    The bound is just below the ``want``-th best of the entries among the SAMPLE of highest impact in each
    list, each probed in the other list. Each list's least impact follows from the other's highest.
    At 100,000 entries on SQLite, コンクリート 施工計画 then reads 8,000 of 17,000 entries of 施工計画
    and probes them in コンクリート's list. Not cut, where the sample would cost more than it saves:

    - a join of three lists or more: the others' highest impacts leave room for any entry (コンクリート 打設
      養生 and 養生 生コン スランプ: no list cut, the sample 3-4 ms);
    - a list shorter than CUT_FROM: the join probing the other list for each of its entries costs little
      (クレーン 玉掛け, 7,689 entries: 0.6 ms slower cut; 足場 点検, 11,218: 1.0 ms faster).
    """
    lengths = [query.lengths[driver] for driver in query.drivers if driver is not None]
    if len(lengths) != 2 or min(lengths) < CUT_FROM:
        return None
    # The other list probed for each entry: PostgreSQL planned joins that read the lists whole.
    tops = " UNION ALL ".join(
        f"SELECT {index} AS list, top.knowledge_id, top.impact, (SELECT impact FROM knowledge_head_impacts "
        f"WHERE token = :t{1 - index} AND knowledge_id = top.knowledge_id) AS other "
        f"FROM (SELECT knowledge_id, impact FROM knowledge_head_impacts WHERE token = :t{index} "
        f"ORDER BY impact DESC LIMIT {SAMPLE}) AS top"
        for index in (0, 1)
    )
    highest = [0.0, 0.0]
    held: dict[int, float] = {}  # by entry: one in both samples counts once
    for row in connection.execute(text(tops), params):
        highest[row.list] = max(highest[row.list], float(row.impact))
        if row.other is not None:
            impacts = [float(row.impact), float(row.other)]
            held[int(row.knowledge_id)] = query.bound(impacts if row.list == 0 else impacts[::-1], 0.0)
    if len(held) < want:
        return None
    # A little below: the entries tied with it by the ranking's tolerance stay above the cut.
    theta = sorted(held.values(), reverse=True)[want - 1] - 2 * TOLERANCE
    reach = [weight * saturated(impact) for weight, impact in zip(query.idf, highest, strict=True)]
    least = []
    for index, weight in enumerate(query.idf):
        needed = (theta - reach[1 - index]) / weight  # saturated impact needed in this list
        # The inverse of saturated, a little lower: the cut must never drop an entry at the threshold.
        least.append(K1 * needed / (K1 + 1 - needed) * (1 - TOLERANCE) if needed > 0 else 0.0)
    return (least, theta) if any(least) else None


def _batches(
    connection: Connection,
    source: HeadSource,
    request: SearchRequest,
    query: HeadQuery,
    entries: Iterator[_Joined],
    after: float = -math.inf,
) -> _Stream:
    """The entries, in falling order of bound, as candidates FIRST_BATCH at a time; ``after``: the highest
    bound of any entry following them."""
    pieces_only = query.pieces_only
    taken = list(itertools.islice(entries, FIRST_BATCH))
    while taken:
        following = list(itertools.islice(entries, FIRST_BATCH))
        shown = _visible(connection, source, request, [entry.knowledge_id for entry in taken])
        candidates = [
            _Candidate(
                RankedHead(entry.bound, shown[entry.knowledge_id], entry.knowledge_id),
                pieces_only and entry.phrase_impact is None,
            )
            for entry in taken
            if entry.knowledge_id in shown
        ]
        yield candidates, following[0].bound if following else after
        taken = following


def _visible(connection: Connection, source: HeadSource, request: SearchRequest, ids: list[int]) -> dict[int, Any]:
    """The update time of each entry of ``ids`` that passes the request's filters."""
    if not ids:
        return {}
    params: dict[str, Any] = {"ids": ids}
    conditions = ["knowledge.id IN :ids", *request.filters.sql_conditions(params)]
    rows = connection.execute(
        text(
            f"SELECT knowledge.id, knowledge.updated_at FROM {source.knowledge_table} WHERE {' AND '.join(conditions)}"
        ).bindparams(bindparam("ids", expanding=True)),
        params,
    )
    return {int(row[0]): row[1] for row in rows}


def _best(
    connection: Connection, source: HeadSource, request: SearchRequest, query: HeadQuery, stream: _Stream, want: int
) -> list[RankedHead]:
    """The ``want`` best of the stream: candidates taken best bound first, text scored where the bound is not exact."""
    best: list[RankedHead] = []  # a min-heap: the worst kept on top

    def offer(place: RankedHead) -> None:
        if len(best) < want:
            heapq.heappush(best, place)
        elif place > best[0]:
            heapq.heapreplace(best, place)

    for candidates, next_bound in stream:
        unsure = []
        for candidate in candidates:
            if candidate.exact:
                offer(candidate.place)
            else:
                unsure.append(candidate.place)
        # Best bound first, a page at a time: once the best are scored, the rest often cannot enter.
        unsure.sort(reverse=True)
        while unsure := [place for place in unsure if len(best) < want or place > best[0]]:
            chosen, unsure = unsure[:want], unsure[want:]
            for place in scored(query, source.head_rows(connection, request, [p.knowledge_id for p in chosen])):
                offer(place)
        # Ties go on: an entry of equal score may be newer.
        if len(best) == want and next_bound < best[0].score - TOLERANCE:
            break
    return best


def count_lone_piece(connection: Connection, source: HeadSource, request: SearchRequest, *, bound: int) -> int:
    """The head tier of a query of one word with a list of its own, counted up to ``bound`` from that list.

    0 for any other query, and for a list shorter than ``bound`` by the source's list lengths (the
    tier is then no help to a count that stops at the bound).
    """
    word = own_piece(request.terms[0]) if len(request.terms) == 1 else None
    if word is None or source.list_lengths.of(connection, [word])[word] < bound:
        return 0
    params: dict[str, Any] = {"token": word, "bound": bound}
    conditions = request.filters.sql_conditions(params)
    entry = f"JOIN {source.knowledge_table} ON knowledge.id = h.knowledge_id " if conditions else ""
    found: int = connection.execute(
        text(
            f"SELECT count(*) FROM (SELECT 1 FROM knowledge_head_impacts h {entry}"
            f"WHERE {' AND '.join(['h.token = :token', *conditions])} LIMIT :bound) AS found"
        ),
        params,
    ).scalar_one()
    return found


@dataclass(frozen=True)
class RankedTier:
    """The head tier's best entries, best first, and its size when the ranking read it whole."""

    best: list[RankedHead]
    # The entries holding every term in their title or tags, whatever the filters; None when not counted.
    size: int | None


def rank_heads(connection: Connection, source: HeadSource, request: SearchRequest) -> RankedTier:
    """The head tier's best ``offset + limit`` entries, best first: the whole tier when it is smaller."""
    query = head_query(connection, source, request.terms)
    want = request.offset + request.limit
    if None in query.drivers:
        return RankedTier(whole_tier(connection, source, request, query)[:want], None)
    size, stream = (None, _walk(connection, source, request, query))
    if len(query.terms) > 1:
        size, stream = _joined(connection, source, request, query, want)
    return RankedTier(sorted(_best(connection, source, request, query, stream, want), reverse=True), size)


def whole_tier(
    connection: Connection, source: HeadSource, request: SearchRequest, query: HeadQuery | None = None
) -> list[RankedHead]:
    """Every entry of the head tier, best first, scored from its text."""
    scorer = query or head_query(connection, source, request.terms)
    return sorted(scored(scorer, source.head_rows(connection, request, None)), reverse=True)
