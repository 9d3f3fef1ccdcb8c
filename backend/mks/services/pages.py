"""The one pagination of the lists (knowledge entries, the audit log): a page of rows and how many match."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Row, Select, bindparam
from sqlalchemy.orm import Session

S = TypeVar("S", bound=Select[Any])


def paged(statement: S) -> S:
    """The statement cut to one page by bound values, so that one statement (built once) serves every page."""
    return statement.limit(bindparam("limit")).offset(bindparam("offset"))


@dataclass(frozen=True)
class PageRows:
    """The rows of one page, how many rows match in all, and whether a row follows the page."""

    rows: list[Row[Any]]
    total: int
    more: bool


def fetch_page(
    executor: Session | Connection,
    page: Select[Any],
    count: Select[int],
    values: Mapping[str, Any],
    limit: int,
    offset: int,
) -> PageRows:
    """Run a ``paged`` statement and its count with the same bound values (each ignores those it lacks)."""
    total = executor.execute(count, values).scalar_one()
    # One row more than the page says whether another page follows.
    rows = executor.execute(page, {**values, "limit": limit + 1, "offset": offset}).all()
    return PageRows(list(rows[:limit]), total, len(rows) > limit)
