"""User accounts, for admins."""

from __future__ import annotations

from flask import Blueprint

from ..api import ADMINS, endpoint
from ..context import service_context
from ..schemas.users import UserCreate, UserList, UserOut, UserUpdate
from ..security import current_actor
from ..services import users

bp = Blueprint("users", __name__, url_prefix="/api/v1")


@bp.get("/users")
@endpoint(summary="ユーザー一覧（管理者のみ）", tag="users", roles=ADMINS, response=UserList)
def list_users() -> UserList:
    return UserList(items=[UserOut.model_validate(user) for user in users.list_users(service_context())])


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
    return UserOut.model_validate(users.create_user(service_context(), body, current_actor()))


@bp.get("/users/<id:user_id>")
@endpoint(summary="ユーザー詳細（管理者のみ）", tag="users", roles=ADMINS, response=UserOut, errors=(404,))
def get_user(user_id: int) -> UserOut:
    return UserOut.model_validate(users.get_user(service_context(), user_id))


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
    return UserOut.model_validate(users.update_user(service_context(), user_id, body, current_actor()))
