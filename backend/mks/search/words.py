"""Indexed words: frequent words of the tags and the synonym list, which the index holds as one token each.

A word of 3 or more characters is otherwise the phrase of its bigrams (text.py). PostgreSQL's GIN
index keeps no positions, so it checks a phrase in the vector of each row it finds (7 KB, out of
line): counting 10,001 matches of コンクリート read 10,001 vectors, 55-65 ms at 100,000 entries.
A word the index holds as a token is counted from the index alone (10-25 ms), and FTS5 reads one
list of positions instead of one per bigram.

Which words: those knowledge is filed under (tag names, the synonym list) and their substrings of
MIN_LENGTH to MAX_LENGTH characters (生コン in 生コンクリート, 計画書 in 施工計画書), found in at least
MIN_SHARE of a sample of the entries. A rarer word is cheap to check as a phrase, and every indexed
word costs each entry holding it a token. An entry holds a word when its normalized text holds it:
a word is one run of word characters, like a phrase, which matches within a run.

``mks search reindex`` learns them, then rebuilds every entry's tokens with them, in one
transaction. The list only grows: a search still holding an older list (kept per process for
WORDS_SECONDS) then only asks for phrases where a token would do, never for a token the index
lacks. A write reads the list inside its transaction (PostgreSQL: under a shared advisory lock that
reindex holds exclusively; SQLite runs one writer at a time), so no entry is indexed with fewer
words than the index is known to hold.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy import Connection, text

from .base import IndexedDocument
from .text import normalize, runs

MIN_LENGTH = 3
MAX_LENGTH = 8
MIN_SHARE = 0.01
# Entries read to tell a word's share: every n-th id, up to this many.
SAMPLE = 2_000
WORDS_SECONDS = 60.0


def substrings(text: str) -> Iterator[str]:
    """The substrings of MIN_LENGTH to MAX_LENGTH characters of each run of a normalized text, the runs included.

    Not impacts.pieces, the 1-2 character pieces of the head tier's lists.
    """
    for run in runs(text):
        for length in range(MIN_LENGTH, min(len(run), MAX_LENGTH) + 1):
            for start in range(len(run) - length + 1):
                yield run[start : start + length]


@dataclass(frozen=True)
class IndexedWords:
    """The words the index holds as tokens, at one moment of the grow-only list."""

    words: frozenset[str]

    def found_in(self, normalized: dict[str, str]) -> list[str]:
        """The indexed words a normalized document holds, in code-point order."""
        if not self.words:
            return []
        return sorted({word for value in normalized.values() for word in substrings(value) if word in self.words})


NO_WORDS = IndexedWords(frozenset())


def candidates(connection: Connection) -> set[str]:
    """Every tag name and synonym-list word, normalized, and their substrings."""
    sql = text("SELECT name FROM tags UNION SELECT word FROM synonym_words")
    names: Iterable[str] = connection.execute(sql).scalars()
    return {word for name in names for word in substrings(normalize(name))}


def learn(connection: Connection, sample: Iterable[IndexedDocument]) -> int:
    """Add to the list the candidates found in at least MIN_SHARE of the sample's documents; the number added."""
    wanted = candidates(connection)
    found: Counter[str] = Counter()
    sampled = 0
    for document in sample:
        sampled += 1
        found.update({word for value in document.normalized().values() for word in substrings(value) if word in wanted})
    if not sampled:
        return 0
    known: set[str] = set(connection.execute(text("SELECT word FROM search_words")).scalars())
    new = sorted(word for word, count in found.items() if count >= MIN_SHARE * sampled and word not in known)
    if new:
        connection.execute(text("INSERT INTO search_words (word) VALUES (:word)"), [{"word": word} for word in new])
    return len(new)


class WordList:
    """The indexed words as a process reads them: afresh for a write, kept a while for a search."""

    def __init__(self) -> None:
        self._read: tuple[float, int, IndexedWords] = (-WORDS_SECONDS, -1, NO_WORDS)

    def for_search(self, connection: Connection) -> IndexedWords:
        read_at, _count, words = self._read
        if time.monotonic() - read_at > WORDS_SECONDS:
            return self.current(connection)
        return words

    def current(self, connection: Connection) -> IndexedWords:
        """The list as the connection's transaction sees it: reread when it has grown (its length is its version)."""
        now = time.monotonic()
        count: int = connection.execute(text("SELECT count(*) FROM search_words")).scalar_one()
        _read_at, known, words = self._read
        if count != known:
            words = IndexedWords(frozenset(connection.execute(text("SELECT word FROM search_words")).scalars()))
        self._read = (now, count, words)
        return words
