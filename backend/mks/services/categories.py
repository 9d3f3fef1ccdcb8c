"""Use cases of categories: list with counts, add."""

from __future__ import annotations

from sqlalchemy import and_, func, select

from ..models import Actor, AuditAction, Category, Knowledge
from . import audit
from .context import Context
from .errors import Conflict
from .knowledge.queries import visible_statuses


def list_categories(ctx: Context, actor: Actor) -> list[tuple[Category, int]]:
    """Every category with the number of its entries the actor can see (a partner: approved ones), by id."""
    joined = Knowledge.category_id == Category.id
    statuses = visible_statuses(actor)
    if statuses is not None:
        # In the join, not a WHERE: a category with no visible entry still answers, with 0.
        joined = and_(joined, Knowledge.status.in_(statuses))
    statement = (
        select(Category, func.count(Knowledge.id))
        .outerjoin(Knowledge, joined)
        .group_by(Category.id)
        .order_by(Category.id)
    )
    return [(category, count) for category, count in ctx.session.execute(statement)]


def create_category(ctx: Context, name: str, actor: Actor) -> Category:
    """Add a category; Conflict when the name exists."""
    session = ctx.session
    if session.scalar(select(Category.id).where(Category.name == name)) is not None:
        raise Conflict("category_exists", "このカテゴリは既に存在します。")
    category = Category(name=name)
    session.add(category)
    session.flush()
    audit.record(ctx, AuditAction.CATEGORY_CREATE, actor, target_type="category", target_id=category.id, name=name)
    session.commit()
    return category
