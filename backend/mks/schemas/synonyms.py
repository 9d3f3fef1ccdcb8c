"""Synonym sets: as shown, and as an admin writes them."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from .common import Body, Timestamp

# A query is split on whitespace, so a word holding any could never be asked for.
SynonymText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50, pattern=r"^[^\s\x00]+$")
]
MAX_SYNONYM_WORDS = 20


class SynonymSetOut(BaseModel):
    id: int
    words: list[str] = Field(description="同じ意味として検索する語（NFKC 正規化後、指定順）")
    created_at: Timestamp
    updated_at: Timestamp


class SynonymSetList(BaseModel):
    items: list[SynonymSetOut]


class SynonymSetIn(Body):
    words: Annotated[list[SynonymText], Field(max_length=MAX_SYNONYM_WORDS)] = Field(
        description="同じ意味の語（2 語以上。大文字・小文字や全角・半角の違いだけの語は 1 語と数える）"
    )
