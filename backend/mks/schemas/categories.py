"""Categories with their entry counts, and a new category."""

from __future__ import annotations

from pydantic import BaseModel

from .common import Body, Name


class CategoryOut(BaseModel):
    id: int
    name: str
    knowledge_count: int


class CategoryList(BaseModel):
    items: list[CategoryOut]


class CategoryCreate(Body):
    name: Name
