"""Text handling shared by every search backend: normalization, query terms, n-grams, snippets."""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

# Terms of this length and longer are answered by a trigram index.
TRIGRAM_MIN_LENGTH = 3
MAX_TERMS = 8
SNIPPET_RADIUS = 40


def normalize(text: str) -> str:
    """NFKC and case folding: full-width ＲＣ and rc match, half-width ｶﾀｶﾅ matches カタカナ."""
    return unicodedata.normalize("NFKC", text).casefold()


class TermKind(Enum):
    TRIGRAM = "trigram"  # 3+ characters: the trigram index answers it
    GRAM = "gram"  # 1-2 word characters: the unigram/bigram index answers it
    SCAN = "scan"  # 1-2 characters with punctuation: no index can, so rows are scanned


@dataclass(frozen=True)
class Term:
    text: str
    kind: TermKind

    @property
    def indexed(self) -> bool:
        """Whether an index finds the entries holding it (a SCAN term can only be checked entry by entry)."""
        return self.kind is not TermKind.SCAN


@dataclass(frozen=True)
class ParsedQuery:
    terms: list[Term]  # the first MAX_TERMS, which every match holds
    ignored: list[str]  # the terms after them, not searched


def parse_query(query: str) -> ParsedQuery:
    """Split a query on whitespace into normalized, de-duplicated terms; every term must match."""
    terms: list[Term] = []
    for word in dict.fromkeys(normalize(query).split()):
        if len(word) >= TRIGRAM_MIN_LENGTH:
            kind = TermKind.TRIGRAM
        elif word.isalnum():
            kind = TermKind.GRAM
        else:
            kind = TermKind.SCAN
        terms.append(Term(word, kind))
    return ParsedQuery(terms[:MAX_TERMS], [term.text for term in terms[MAX_TERMS:]])


def grams(text: str) -> list[str]:
    """The distinct unigrams and bigrams of the word-character runs of normalized text."""
    found: dict[str, None] = {}
    for run in re.findall(r"[^\W_]+", text):
        for index, char in enumerate(run):
            found[char] = None
            if index + 1 < len(run):
                found[run[index : index + 2]] = None
    return list(found)


def escape_like(term: str) -> str:
    """A LIKE pattern matching the term anywhere, with LIKE's wildcards escaped by a backslash."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _normalized_with_origins(text: str) -> tuple[str, Sequence[int]]:
    # Normalizing character by character keeps, for each normalized character, the index of the
    # original one, so matches found in normalized text are highlighted in the text as written.
    # Text already in normal form (most Japanese prose) maps one to one, without the slow walk.
    if normalize(text) == text:
        return text, range(len(text))
    pieces: list[str] = []
    origins: list[int] = []
    for index, char in enumerate(text):
        piece = normalize(char)
        pieces.append(piece)
        origins.extend([index] * len(piece))
    return "".join(pieces), origins


def snippet(fields: list[str], terms: list[str]) -> str:
    """An HTML-escaped excerpt of the text as written around the first match, terms wrapped in <mark>.

    Looks in the fields in order (summary, content, title…) and falls back to the start of the
    first non-empty one.
    """
    pattern = re.compile("|".join(re.escape(term) for term in sorted(terms, key=len, reverse=True)))
    for field in fields:
        normalized, origins = _normalized_with_origins(field)
        spans = [(origins[m.start()], origins[m.end() - 1] + 1) for m in pattern.finditer(normalized)]
        if spans:
            start = max(0, spans[0][0] - SNIPPET_RADIUS)
            end = min(len(field), spans[0][1] + SNIPPET_RADIUS)
            return _excerpt(field, start, end, [span for span in spans if span[0] >= start and span[1] <= end])
    first = next((field for field in fields if field), "")
    return _excerpt(first, 0, min(len(first), 2 * SNIPPET_RADIUS), [])


def _excerpt(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> str:
    parts: list[str] = ["…" if start > 0 else ""]
    cursor = start
    for span_start, span_end in spans:
        parts.append(html.escape(text[cursor:span_start]))
        parts.append(f"<mark>{html.escape(text[span_start:span_end])}</mark>")
        cursor = span_end
    parts.append(html.escape(text[cursor:end]))
    parts.append("…" if end < len(text) else "")
    return " ".join("".join(parts).split())
