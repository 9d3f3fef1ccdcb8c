"""Text handling shared by every search backend: normalization, index tokens, query terms, snippets.

Text is indexed as Lucene's CJK analyzer does: every run of word characters as its overlapping
character bigrams, plus the run's last character alone. One index then answers a word of any
length: a word of 2+ characters is the phrase of its bigrams (an exact substring match), and a
single character is a prefix query (each occurrence of a character starts a bigram or ends a run).
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

MAX_TERMS = 8
SNIPPET_RADIUS = 40

# Word characters: letters and digits of any script; punctuation, symbols and "_" separate runs.
_RUN = re.compile(r"[^\W_]+")
# A long-vowel mark ending a katakana word: コンピューター and コンピュータ are one word. The mark
# comes first and the katakana before it is looked behind from there: a pattern that starts with a
# look-behind is tried at every character (12 times slower on the bodies of the benchmark's corpus).
_FINAL_LONG_VOWEL = re.compile(r"\u30fc(?<=[\u30a1-\u30fa\u30fc]\u30fc)\u30fc*(?![\u30a1-\u30fa\u30fc])")
# Katakana to hiragana (ァ..ヶ to ぁ..ゖ): カブリ and かぶり are one word.
_HIRAGANA = {code: code - 0x60 for code in range(0x30A1, 0x30F7)}
_KATAKANA = {hiragana: katakana for katakana, hiragana in _HIRAGANA.items()}
_KATAKANA_RUN = re.compile(f"[{chr(min(_HIRAGANA))}-{chr(max(_HIRAGANA))}]+")


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def normalize(text: str) -> str:
    """Text as it is indexed and searched.

    NFKC and case folding (full-width ＲＣ and rc match, half-width ｶﾀｶﾅ matches カタカナ), the
    long-vowel mark ending a katakana word dropped, then katakana folded to hiragana.
    """
    return _hiragana(_FINAL_LONG_VOWEL.sub("", _fold(text)))


def _hiragana(text: str) -> str:
    # Translating the katakana runs alone: str.translate looks up every character (73 ns each).
    return _KATAKANA_RUN.sub(lambda run: run.group().translate(_HIRAGANA), text)


def runs(text: str) -> list[str]:
    """The runs of word characters of a text, in order: what tokens, pieces and indexed words are made of."""
    return _RUN.findall(text)


def index_tokens(normalized: str) -> list[str]:
    """The tokens of normalized text, in order: each word-character run's bigrams, then its last character."""
    tokens: list[str] = []
    for run in runs(normalized):
        tokens += map(str.__add__, run, run[1:])  # its bigrams: the indexing's hot loop, without a generator
        tokens.append(run[-1])
    return tokens


@dataclass(frozen=True)
class Phrase:
    """What an occurrence of a word holds: these tokens at consecutive positions, the last maybe as a prefix."""

    tokens: tuple[str, ...]
    prefix: bool
    # Whether holding the phrase is holding the word: not so for a word with punctuation, whose
    # punctuation no token records (1.5m's phrase also matches 1,5m): such a word is checked in the text.
    exact: bool


def phrase_of(word: str) -> Phrase | None:
    """The phrase matching every occurrence of a normalized word; None when it has no word character.

    The last run's closing unigram is left out unless punctuation follows it in the word, so that
    ``養生`` also matches inside ``養生期間`` while ``50%`` needs 50 at the end of a run. A last run of
    one character is a prefix: it starts a bigram wherever it is not at the end of a run.
    """
    tokens = index_tokens(word)
    if not tokens:
        return None
    found = runs(word)
    exact = found == [word]
    if not word.endswith(found[-1]):
        return Phrase(tuple(tokens), prefix=False, exact=exact)
    if len(found[-1]) == 1:
        return Phrase(tuple(tokens), prefix=True, exact=exact)
    return Phrase(tuple(tokens[:-1]), prefix=False, exact=exact)


@dataclass(frozen=True)
class Term:
    """A query word: a match holds any of its forms (the word first, then its synonyms, all normalized).

    ``indexed`` are the forms the index holds as one token each (words.py), whose phrase is that token.
    """

    text: str
    forms: tuple[str, ...]
    indexed: frozenset[str] = frozenset()

    def phrases(self) -> list[Phrase]:
        """The phrase of each searchable form."""
        return [
            Phrase((form,), prefix=False, exact=True) if form in self.indexed else phrase
            for form in self.forms
            if (phrase := phrase_of(form)) is not None
        ]

    def indexed_by(self, words: frozenset[str]) -> Term:
        """The term with those of its forms that are among ``words`` answered by their token."""
        return replace(self, indexed=words.intersection(self.forms))

    @property
    def exact(self) -> bool:
        """Whether the index alone decides a match: no form holds punctuation."""
        return all(phrase.exact for phrase in self.phrases())


def whole_query(terms: list[Term]) -> list[str]:
    """The query's words as one phrase, written together and apart (鉄筋かぶり厚さ, 鉄筋 かぶり厚さ); [] for one."""
    if len(terms) < 2:
        return []
    words = [term.text for term in terms]
    return ["".join(words), " ".join(words)]


# Given normalized query words, the synonyms of those that have any (normalized or not).
FormsOf = Callable[[list[str]], dict[str, tuple[str, ...]]]


def no_synonyms(_words: list[str]) -> dict[str, tuple[str, ...]]:
    """The synonym source of a search without a synonym list."""
    return {}


@dataclass(frozen=True)
class ParsedQuery:
    terms: list[Term]  # the first MAX_TERMS searchable words, which every match holds
    ignored: list[str]  # words after them, and words without a letter or digit: not searched


def parse_query(query: str, forms_of: FormsOf = no_synonyms) -> ParsedQuery:
    """Split a query on whitespace into normalized, de-duplicated terms with their synonyms."""
    words = list(dict.fromkeys(normalize(query).split()))
    searchable = [word for word in words if phrase_of(word) is not None]
    kept = searchable[:MAX_TERMS]
    synonyms = forms_of(kept)
    terms = []
    for word in kept:
        forms = dict.fromkeys([word, *(normalize(form) for form in synonyms.get(word, ()))])
        terms.append(Term(word, tuple(form for form in forms if phrase_of(form) is not None)))
    return ParsedQuery(terms, [word for word in words if word not in kept])


def escape_like(term: str) -> str:
    """A LIKE pattern matching the term anywhere, with LIKE's wildcards escaped by a backslash."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _unchanged_by_fold() -> re.Pattern[str]:
    """Runs of characters that folding leaves as they are, one by one, and that join no neighbour.

    White space, ASCII but capitals, CJK punctuation, kana (not the spacing and combining sound marks,
    which change or join the character before) and the CJK unified ideographs, which have no
    decomposition: what Japanese prose is mostly made of.
    """
    codes = [
        code
        for low, high in ((0x09, 0x0D), (0x20, 0x7E), (0x3000, 0x30FF))
        for code in range(low, high + 1)
        if _fold(chr(code)) == chr(code) and not unicodedata.combining(chr(code))
    ]
    ranges: list[list[int]] = []
    for code in codes:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    spans = "".join(f"{re.escape(chr(low))}-{re.escape(chr(high))}" for low, high in ranges)
    return re.compile(f"[{spans}\u4e00-\u9fff]+")


_UNCHANGED_RUN = _unchanged_by_fold()


def _folded_with_origins(text: str) -> tuple[str, Sequence[int]]:
    # Normalized but for katakana, which stays (see _either_kana). Folding character by character
    # keeps, for each folded character, the index of the original one, so matches found in folded
    # text are highlighted in the text as written. Runs that folding leaves unchanged map one to
    # one, so only the other characters are walked.
    pieces: list[str] = []
    origins: list[int] = []
    cursor = 0
    for run in _UNCHANGED_RUN.finditer(text):
        _fold_each(text, cursor, run.start(), pieces, origins)
        pieces.append(run.group())
        origins.extend(range(run.start(), run.end()))
        cursor = run.end()
    _fold_each(text, cursor, len(text), pieces, origins)
    folded = "".join(pieces)
    kept_text: list[str] = []
    kept_origins: list[int] = []
    cursor = 0
    for mark in _FINAL_LONG_VOWEL.finditer(folded):
        kept_text.append(folded[cursor : mark.start()])
        kept_origins.extend(origins[cursor : mark.start()])
        cursor = mark.end()
    if cursor:
        kept_text.append(folded[cursor:])
        folded = "".join(kept_text)
        origins = kept_origins + origins[cursor:]
    return folded, origins


def _either_kana(term: str) -> str:
    """A pattern of the normalized term whose hiragana match katakana too: text need not be translated."""
    return "".join(
        f"[{char}{chr(_KATAKANA[ord(char)])}]" if ord(char) in _KATAKANA else re.escape(char) for char in term
    )


def snippet(fields: list[str], terms: list[str]) -> str:
    """An HTML-escaped excerpt of the text as written around the first match, terms wrapped in <mark>.

    ``terms`` are normalized words (every form of every query term); variants of them in the text
    (katakana for hiragana, a long-vowel mark, width, case) are highlighted as written. Looks in the
    fields in order (summary, content, title…) and falls back to the start of the first non-empty one.
    """
    pattern = re.compile("|".join(_either_kana(term) for term in sorted(terms, key=len, reverse=True)))
    for field in fields:
        folded, origins = _folded_with_origins(field)
        spans = [(origins[m.start()], _end(origins, m.end(), len(field))) for m in pattern.finditer(folded)]
        if spans:
            start = max(0, spans[0][0] - SNIPPET_RADIUS)
            end = min(len(field), spans[0][1] + SNIPPET_RADIUS)
            return _excerpt(field, start, end, [span for span in spans if span[0] >= start and span[1] <= end])
    first = next((field for field in fields if field), "")
    return _excerpt(first, 0, min(len(first), 2 * SNIPPET_RADIUS), [])


def _fold_each(text: str, start: int, end: int, pieces: list[str], origins: list[int]) -> None:
    for index in range(start, end):
        piece = _fold(text[index])
        pieces.append(piece)
        origins.extend([index] * len(piece))


def _end(origins: Sequence[int], end: int, length: int) -> int:
    # A match ends where the next normalized character begins in the original, so a long-vowel
    # mark dropped after it (コンピューター for コンピュータ) is highlighted with it.
    following = origins[end] if end < len(origins) else length
    return max(origins[end - 1] + 1, following)


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
