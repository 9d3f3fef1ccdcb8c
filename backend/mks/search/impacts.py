"""The head tier's impact lists: each 1- and 2-character piece of an entry's title and tags, with its impact.

A piece's impact in an entry is its frequency (scoring.frequency) in the title and tags: what a
term's head score saturates. A word holds each of its pieces at least as often as it occurs, so
a piece's impact bounds the word's; for a word of 1-2 characters, which is its own piece, it is
the word's.

``knowledge_head_impacts`` (token, impact, knowledge_id) is read by piece in order of impact
(its primary key), by piece in order of entry (to join several pieces' lists) and by entry
(knowledge_id, token): plain SQL both databases share, written in the same transaction as the entry.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import Connection, bindparam, text

from .base import HEAD_FIELDS, IndexedText, insert_rows
from .scoring import field_scales, frequency
from .text import runs

# A list is counted up to this many entries when its length is asked for.
LIST_CAP = 100_000
# How long a counted length is used, and how many are kept at most.
LENGTHS_SECONDS = 300.0
LENGTHS_KEPT = 100_000


def pieces(word: str) -> list[str]:
    """The distinct 1- and 2-character pieces of a normalized word: each run's bigrams, or the run itself."""
    found: dict[str, None] = {}
    for run in runs(word):
        found.update(dict.fromkeys([run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]))
    return list(found)


def impacts(normalized: dict[str, str], indexed_words: Sequence[str] = ()) -> dict[str, float]:
    """Each 1- and 2-character piece of the normalized title and tags, and each indexed word they hold, with its impact.

    An indexed word's (words.py) list holds exactly the entries with the word in their title or tags.
    """
    scales = field_scales({name: normalized[name] for name in HEAD_FIELDS})
    found: dict[str, None] = {}
    for value, _scale in scales:
        for run in runs(value):
            found.update(dict.fromkeys(run))
            found.update(dict.fromkeys(run[i : i + 2] for i in range(len(run) - 1)))
    found.update(dict.fromkeys(word for word in indexed_words if any(word in value for value, _scale in scales)))
    return {piece: frequency(scales, [piece]) for piece in found}


def list_lengths(tokens: list[str], cap: int) -> tuple[str, dict[str, str]]:
    """SQL select items counting each piece's list up to ``cap`` entries (in order), and their parameters."""
    items = ", ".join(
        f"(SELECT count(*) FROM (SELECT 1 FROM knowledge_head_impacts WHERE token = :piece{index} LIMIT {cap}) AS c)"
        for index in range(len(tokens))
    )
    return items, {f"piece{index}": token for index, token in enumerate(tokens)}


class ListLengths:
    """Each piece's list length, counted up to LIST_CAP and kept for LENGTHS_SECONDS, per process.

    These are statistics for choosing which lists a search reads (heads.py), as a query planner
    keeps them: one that is a little out of date makes a search slower, never different.
    Counting a common piece's list takes milliseconds (66,808 entries: 3 ms on SQLite).
    """

    def __init__(self) -> None:
        self._counted: dict[str, tuple[float, int]] = {}

    def of(self, connection: Connection, tokens: list[str]) -> dict[str, int]:
        now = time.monotonic()
        counted = self._counted  # read once: another thread of the worker may start a new one
        found: dict[str, int] = {}
        stale = []
        for token in tokens:
            kept = counted.get(token)
            if kept is None or now - kept[0] > LENGTHS_SECONDS:
                stale.append(token)
            else:
                found[token] = kept[1]
        if stale:
            counts, params = list_lengths(stale, LIST_CAP)
            row = connection.execute(text(f"SELECT {counts}"), params).one()
            fresh = {token: int(row[index]) for index, token in enumerate(stale)}
            if len(counted) + len(fresh) > LENGTHS_KEPT:
                self._counted = counted = {}
            counted.update((token, (now, length)) for token, length in fresh.items())
            found.update(fresh)
        return found


def insert(connection: Connection, texts: Sequence[IndexedText]) -> None:
    """Insert the entries' impacts (they have none yet)."""
    rows = [
        (piece, impact, found.knowledge_id)
        for found in texts
        for piece, impact in impacts(found.normalized, found.indexed_words).items()
    ]
    # In key order: each insert then lands beside the previous one in the B-tree.
    insert_rows(connection, "INSERT INTO knowledge_head_impacts (token, impact, knowledge_id)", sorted(rows))


def delete(connection: Connection, knowledge_ids: Sequence[int]) -> None:
    connection.execute(
        text("DELETE FROM knowledge_head_impacts WHERE knowledge_id IN :ids").bindparams(
            bindparam("ids", expanding=True)
        ),
        {"ids": list(knowledge_ids)},
    )


def clear(connection: Connection) -> None:
    connection.execute(text("DELETE FROM knowledge_head_impacts"))
