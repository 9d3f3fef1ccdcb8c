"""Categories: every role lists them, admins add them."""

from __future__ import annotations

from flask import Blueprint

from ..api import ADMINS, ANY_ROLE, endpoint
from ..context import service_context
from ..schemas.categories import CategoryCreate, CategoryList, CategoryOut
from ..security import current_actor
from ..services import categories

bp = Blueprint("categories", __name__, url_prefix="/api/v1")


@bp.get("/categories")
@endpoint(
    summary="カテゴリ一覧と件数（閲覧できるナレッジのみ数える）",
    tag="categories",
    roles=ANY_ROLE,
    response=CategoryList,
)
def list_categories() -> CategoryList:
    items = [
        CategoryOut(id=c.id, name=c.name, knowledge_count=n)
        for c, n in categories.list_categories(service_context(), current_actor())
    ]
    return CategoryList(items=items)


@bp.post("/categories")
@endpoint(
    summary="カテゴリ追加（管理者のみ）",
    tag="categories",
    roles=ADMINS,
    body=CategoryCreate,
    response=CategoryOut,
    status=201,
    errors=(409,),
)
def create_category(body: CategoryCreate) -> CategoryOut:
    category = categories.create_category(service_context(), body.name, current_actor())
    return CategoryOut(id=category.id, name=category.name, knowledge_count=0)
