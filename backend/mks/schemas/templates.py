"""Entry templates: as an editor reads them to start an entry, and as an admin writes them."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from ..models import Priority
from .common import NO_NUL, Body, Content, Name, Query, Summary, TagNames, Timestamp

# A template's title is where a new entry's title starts (「【ヒヤリハット】」), so it may be empty.
TemplateTitle = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200, pattern=NO_NUL)]


class TemplateIn(Body):
    name: Name = Field(description="テンプレート名（一意。例: ヒヤリハット報告）")
    category: Name = Field(description="新しいナレッジのカテゴリ（登録済みのもの）")
    title: TemplateTitle = Field(default="", description="タイトルの書き出し")
    summary: Summary = ""
    content: Content = Field(default="", description="本文の雛形（Markdown）")
    tags: TagNames = []
    priority: Priority = Priority.NORMAL


class TemplateOut(BaseModel):
    """A template: its fields are those of a new entry (POST /api/v1/knowledge) it prefills."""

    id: int
    name: str
    category: str
    title: str
    summary: str
    content: str
    tags: list[str]
    priority: Priority
    created_at: Timestamp
    updated_at: Timestamp


class TemplateList(BaseModel):
    items: list[TemplateOut]


class TemplateQuery(Query):
    category: Name | None = Field(default=None, description="このカテゴリのテンプレートだけ")
