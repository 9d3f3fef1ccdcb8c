"""The head tier's impact lists: each 1- and 2-character piece of an entry's title and tags, with its impact.

A piece's impact in an entry is the frequency a term's head score saturates (heads.py): its
occurrences in each head field, weighted by FIELDS relative to the title and divided by the
field's length relative to a fixed typical length (HEAD_LENGTHS). A word holds each of its pieces
at least as often as it occurs, so a piece's impact bounds the word's; for a word of 1-2
characters, which is its own piece, it is the word's. The lengths are fixed rather than averaged
over the index so that a stored impact never goes stale.

``knowledge_head_impacts`` (token, impact, knowledge_id) is read by piece in order of impact
(its primary key) and by entry (knowledge_id, token): plain SQL both databases share, written in
the same transaction as the entry.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import Connection, text

from .base import FIELDS, HEAD_FIELDS, B

# Typical lengths, in normalized characters, against which a head field's length is normalized.
HEAD_LENGTHS = {"title": 24.0, "tags": 24.0}
# FIELDS' weights relative to the title's: one occurrence in a title of typical length counts 1,
# so saturation still tells one occurrence from several (at 10 every entry of the tier saturates).
WEIGHTS = {field.name: field.weight / FIELDS[0].weight for field in FIELDS if field.name in HEAD_FIELDS}

_RUN = re.compile(r"[^\W_]+")


def pieces(word: str) -> list[str]:
    """The distinct 1- and 2-character pieces of a normalized word: each run's bigrams, or the run itself."""
    found: dict[str, None] = {}
    for run in _RUN.findall(word):
        found.update(dict.fromkeys([run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]))
    return list(found)


Scales = list[tuple[str, float]]


def field_scales(fields: dict[str, str]) -> Scales:
    """Each non-empty head field with what one occurrence in it counts: its weight over its normalized length."""
    return [
        (value, WEIGHTS[name] / (1 - B + B * len(value) / HEAD_LENGTHS[name]))
        for name in HEAD_FIELDS
        if (value := fields[name])
    ]


def frequency(scales: Scales, forms: Sequence[str]) -> float:
    """The weighted, length-normalized number of occurrences of the forms in the head fields."""
    return sum(scale * sum(value.count(form) for form in forms) for value, scale in scales)


def impacts(normalized: dict[str, str]) -> dict[str, float]:
    """Every 1- and 2-character piece of the normalized title and tags, with its impact."""
    scales = field_scales(normalized)
    found: dict[str, None] = {}
    for value, _scale in scales:
        for run in _RUN.findall(value):
            found.update(dict.fromkeys(run))
            found.update(dict.fromkeys(run[i : i + 2] for i in range(len(run) - 1)))
    return {piece: frequency(scales, [piece]) for piece in found}


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
