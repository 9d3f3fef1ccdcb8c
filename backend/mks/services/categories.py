"""Use cases of categories: list with counts, add."""

from __future__ import annotations

from sqlalchemy import and_, func, select

from ..db import get_session
from ..errors import ApiError
from ..models import Actor, AuditAction, Category, Knowledge
from . import audit
from .knowledge import visible_statuses


def list_categories(user: Actor) -> list[tuple[Category, int]]:
    """Every category with the number of its entries the user can see (a partner: approved ones), by id."""
    joined = Knowledge.category_id == Category.id
    statuses = visible_statuses(user)
    if statuses is not None:
        # In the join, not a WHERE: a category with no visible entry still answers, with 0.
        joined = and_(joined, Knowledge.status.in_(statuses))
    statement = (
        select(Category, func.count(Knowledge.id))
        .outerjoin(Knowledge, joined)
        .group_by(Category.id)
        .order_by(Category.id)
    )
    return [(category, count) for category, count in get_session().execute(statement)]


def create_category(name: str, acting: Actor) -> Category:
    """Add a category; 409 when the name exists."""
    session = get_session()
    if session.scalar(select(Category.id).where(Category.name == name)) is not None:
        raise ApiError(409, "category_exists", "このカテゴリは既に存在します。")
    category = Category(name=name)
    session.add(category)
    session.flush()
    audit.record(AuditAction.CATEGORY_CREATE, acting, target_type="category", target_id=category.id, name=name)
    session.commit()
    return category
