"""Use cases of user accounts, for admins and the CLI."""

from __future__ import annotations

import functools

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ..models import Actor, AuditAction, Role, User
from ..schemas.users import UserCreate, UserUpdate
from . import audit
from .context import Context
from .errors import Conflict, InvalidField, NotFound

USERNAME_TAKEN = functools.partial(Conflict, "username_taken", "このユーザー名は既に使われています。")
WRONG_PASSWORD = functools.partial(
    InvalidField, "current_password", "wrong_password", "現在のパスワードが正しくありません。"
)


def list_users(ctx: Context) -> list[User]:
    """Every user, by username."""
    return list(ctx.session.scalars(select(User).order_by(User.username)))


def get_user(ctx: Context, user_id: int) -> User:
    """The user; NotFound when there is none."""
    user = ctx.session.get(User, user_id)
    if user is None:
        raise NotFound("user_not_found", "ユーザーが見つかりません。")
    return user


def create_user(ctx: Context, data: UserCreate, actor: Actor | None = None) -> User:
    """Create an account (actor: the admin doing it, None from the CLI); Conflict when the username is taken."""
    session = ctx.session
    if session.scalar(select(User.id).where(User.username == data.username)) is not None:
        raise USERNAME_TAKEN()
    user = User(
        username=data.username,
        display_name=data.display_name,
        password_hash=ctx.dependencies.passwords.hash(data.password),
        role=data.role,
        email=data.email,
        is_active=True,
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError:  # a concurrent request took the name after the check above
        session.rollback()
        raise USERNAME_TAKEN() from None
    audit.record(ctx, AuditAction.USER_CREATE, actor, target_type="user", target_id=user.id, role=user.role)
    session.commit()
    return user


def update_user(ctx: Context, user_id: int, data: UserUpdate, actor: Actor | None) -> User:
    """Change an account (actor: the admin doing it, None from the CLI); admins cannot demote or disable themselves.

    A new password or disabling ends every session of the user: their tokens issued so far are refused.
    """
    user = get_user(ctx, user_id)
    if actor is not None and user.id == actor.id and (data.role not in (None, Role.ADMIN) or data.is_active is False):
        raise Conflict("cannot_demote_self", "自分自身の管理者権限の削除や無効化はできません。")
    if data.role is not None and data.role != user.role:
        audit.record(
            ctx,
            AuditAction.USER_ROLE_CHANGE,
            actor,
            target_type="user",
            target_id=user.id,
            old=user.role,
            new=data.role,
        )
    changed = sorted(data.model_dump(exclude_unset=True, exclude={"password"}))
    audit.record(
        ctx,
        AuditAction.USER_UPDATE,
        actor,
        target_type="user",
        target_id=user.id,
        changed_fields=changed + (["password"] if data.password is not None else []),
    )
    if data.display_name is not None:
        user.display_name = data.display_name
    if data.password is not None:
        user.password_hash = ctx.dependencies.passwords.hash(data.password)
        user.failed_logins, user.locked_until = 0, None  # a reset password also lifts a lockout
    if data.role is not None:
        user.role = data.role
    if data.is_active is not None:
        user.is_active = data.is_active
    if "email" in data.model_fields_set:  # null clears it
        user.email = data.email
    if data.password is not None or data.is_active is False:
        # In SQL, so concurrent changes each bump it; re-enabling later does not revive the tokens.
        ctx.session.execute(update(User).where(User.id == user.id).values(token_generation=User.token_generation + 1))
    ctx.session.commit()
    return user


def change_own_password(ctx: Context, actor: Actor, current_password: str, data: UserUpdate) -> User:
    """The actor's new password (``data.password``), given the current one; InvalidField when that is wrong.

    As any password change, it ends every session of the user, this one included: the caller starts a new one.
    """
    user = get_user(ctx, actor.id)
    if not ctx.dependencies.passwords.verify(user.password_hash, current_password):
        raise WRONG_PASSWORD()
    return update_user(ctx, actor.id, UserUpdate(password=data.password), actor)
