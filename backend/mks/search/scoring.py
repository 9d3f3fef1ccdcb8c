"""The BM25F score both tiers rank by where it is computed here, from the normalized text.

Per term, the occurrences of its forms in each field, weighted by FIELDS relative to the title
and divided by the field's length relative to a fixed typical length (FIELD_LENGTHS): the
term's frequency, saturated with K1, times its IDF. The words of the query written together as
one phrase count as one more term, weighing as much as all of them, so the phrase outranks the
words scattered. The lengths are fixed rather than averaged over the index, so that the impacts
stored from them (impacts.py) never go stale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .base import FIELDS, K1, B
from .text import Term, whole_query

# Document frequencies are counted up to this many entries: beyond, a word is simply common.
DF_CAP = 1_000
# Typical lengths, in normalized characters, against which a field's length is normalized.
FIELD_LENGTHS = {"title": 24.0, "tags": 24.0, "summary": 60.0, "content": 1_000.0}
# FIELDS' weights relative to the title's: one occurrence in a title of typical length counts 1,
# so saturation still tells one occurrence from several (at 10 every title match saturates).
WEIGHTS = {field.name: field.weight / FIELDS[0].weight for field in FIELDS}

Scales = list[tuple[str, float]]


def field_scales(fields: dict[str, str]) -> Scales:
    """Each non-empty field with what one occurrence in it counts: its weight over its normalized length."""
    return [
        (value, WEIGHTS[name] / (1 - B + B * len(value) / FIELD_LENGTHS[name]))
        for name, value in fields.items()
        if value
    ]


def frequency(scales: Scales, forms: Sequence[str]) -> float:
    """The weighted, length-normalized number of occurrences of the forms in the fields."""
    if len(forms) == 1:  # every impact of an indexed entry (impacts.py): millions in an import
        (form,) = forms
        return sum(scale * value.count(form) for value, scale in scales)
    return sum(scale * sum(value.count(form) for form in forms) for value, scale in scales)


def saturated(value: float) -> float:
    return (K1 + 1) * value / (K1 + value)


def phrase_of_query(terms: list[Term]) -> str | None:
    """The query's words written together (鉄筋かぶり厚さ), scored as one more term; None for one word.

    Spaced apart they are not a phrase here: Japanese seldom spaces words, and tags stand side
    by side only by their sort order.
    """
    return whole_query(terms)[0] if len(terms) > 1 else None


def idf(documents: int, found: int) -> float:
    """BM25's inverse document frequency of a word found in ``found`` of ``documents`` entries."""
    return math.log(1 + (documents - found + 0.5) / (found + 0.5))


@dataclass(frozen=True)
class Scorer:
    """The terms with their IDF, and the whole-query phrase (None for one term)."""

    terms: list[Term]
    idf: list[float]
    phrase: str | None

    def score(self, fields: dict[str, str]) -> float | None:
        """The score of an entry's normalized fields, or None when some term is in none of them."""
        scales = field_scales(fields)
        total = 0.0
        for term, weight in zip(self.terms, self.idf, strict=True):
            found = frequency(scales, term.forms)
            if found == 0:
                return None
            total += weight * saturated(found)
        if self.phrase is not None:
            total += sum(self.idf) * saturated(frequency(scales, [self.phrase]))
        return total
