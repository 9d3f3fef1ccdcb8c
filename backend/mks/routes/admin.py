"""Categories and user accounts."""

from __future__ import annotations

from flask import Blueprint

from ..api import ADMINS, ANY_ROLE, endpoint
from ..schemas.audit import AuditEntryOut, AuditPage, AuditQuery
from ..schemas.categories import CategoryCreate, CategoryList, CategoryOut
from ..schemas.users import UserCreate, UserList, UserOut, UserUpdate
from ..security import authenticated_user
from ..services import audit, categories, users

bp = Blueprint("admin", __name__, url_prefix="/api/v1")


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
        for c, n in categories.list_categories(authenticated_user())
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
    category = categories.create_category(body.name, authenticated_user())
    return CategoryOut(id=category.id, name=category.name, knowledge_count=0)


@bp.get("/users")
@endpoint(summary="ユーザー一覧（管理者のみ）", tag="users", roles=ADMINS, response=UserList)
def list_users() -> UserList:
    return UserList(items=[UserOut.model_validate(user) for user in users.list_users()])


@bp.post("/users")
@endpoint(
    summary="ユーザー作成（管理者のみ）",
    tag="users",
    roles=ADMINS,
    body=UserCreate,
    response=UserOut,
    status=201,
    errors=(409,),
)
def create_user(body: UserCreate) -> UserOut:
    return UserOut.model_validate(users.create_user(body, authenticated_user()))


@bp.get("/users/<id:user_id>")
@endpoint(summary="ユーザー詳細（管理者のみ）", tag="users", roles=ADMINS, response=UserOut, errors=(404,))
def get_user(user_id: int) -> UserOut:
    return UserOut.model_validate(users.get_user(user_id))


@bp.patch("/users/<id:user_id>")
@endpoint(
    summary="ユーザー変更（ロール・有効/無効・パスワード。管理者のみ）",
    tag="users",
    roles=ADMINS,
    body=UserUpdate,
    response=UserOut,
    errors=(404, 409),
)
def update_user(user_id: int, body: UserUpdate) -> UserOut:
    return UserOut.model_validate(users.update_user(user_id, body, authenticated_user()))


@bp.get("/audit")
@endpoint(
    summary="監査ログ（作成・更新・削除・ログイン・ログアウト・ロール変更。管理者のみ）",
    tag="audit",
    roles=ADMINS,
    query=AuditQuery,
    response=AuditPage,
)
def audit_log(query: AuditQuery) -> AuditPage:
    entries, total = audit.search(query)
    items = [AuditEntryOut.model_validate(entry) for entry in entries]
    return AuditPage(items=items, total=total, limit=query.limit, offset=query.offset)
