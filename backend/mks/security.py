"""Passwords, JWT tokens, the current user and role checks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, current_app
from flask_jwt_extended import JWTManager, current_user, verify_jwt_in_request
from sqlalchemy import bindparam, select, update

from .config import Settings
from .db import get_session
from .errors import ApiError
from .models import RevokedToken, Role, User, as_utc, utcnow

jwt_manager = JWTManager()
# Every authenticated request runs both: built once, as building a statement costs more than running it.
_USER = select(User).where(User.id == bindparam("user_id"))
_REVOKED = select(RevokedToken.jti).where(RevokedToken.jti == bindparam("jti"))


def password_hasher() -> PasswordHasher:
    """The app's argon2id hasher, with the configured cost."""
    hasher: PasswordHasher = current_app.extensions["mks_password_hasher"]
    return hasher


def hash_password(password: str) -> str:
    """Hash a password with argon2id."""
    return password_hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether the password matches the stored hash (never raises on a bad hash)."""
    try:
        return password_hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def authenticated_user() -> User:
    """The user of the current request's access token (after require_roles has run)."""
    user: User = current_user
    return user


def require_roles(roles: frozenset[Role]) -> User:
    """Verify the request's access token and that its user holds one of the roles."""
    verify_jwt_in_request()
    user = authenticated_user()
    if user.role not in roles:
        raise ApiError(403)
    return user


def _touch_last_seen(user: User, resolution: timedelta) -> None:
    # Written at most once per resolution window, so reads stay reads under load.
    now = utcnow()
    if user.last_seen_at is not None and now - as_utc(user.last_seen_at) < resolution:
        return
    session = get_session()
    session.execute(update(User).where(User.id == user.id).values(last_seen_at=now))
    session.commit()
    user.last_seen_at = now


def init_app(app: Flask, settings: Settings) -> None:
    """Configure JWT tokens and the password hasher."""
    app.config.update(
        JWT_SECRET_KEY=settings.resolve_jwt_secret(),
        JWT_ALGORITHM="HS256",
        JWT_DECODE_ALGORITHMS=["HS256"],
        JWT_TOKEN_LOCATION=["headers"],
        JWT_ACCESS_TOKEN_EXPIRES=timedelta(minutes=settings.jwt_access_token_minutes),
        JWT_REFRESH_TOKEN_EXPIRES=timedelta(days=settings.jwt_refresh_token_days),
    )
    app.extensions["mks_password_hasher"] = PasswordHasher(
        time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_cost_kib
    )
    jwt_manager.init_app(app)
    last_seen_resolution = timedelta(seconds=settings.last_seen_resolution_seconds)

    @jwt_manager.user_identity_loader
    def identity(user: User) -> str:
        return str(user.id)

    @jwt_manager.user_lookup_loader
    def load_user(_header: dict[str, Any], payload: dict[str, Any]) -> User:
        user = get_session().execute(_USER, {"user_id": int(payload["sub"])}).scalar_one_or_none()
        if user is None:
            raise ApiError(401, "token_user_not_found", "トークンのユーザーは存在しません。")
        if not user.is_active:
            raise ApiError(401, "token_user_disabled", "このユーザーは無効化されています。")
        _touch_last_seen(user, last_seen_resolution)
        return user

    @jwt_manager.token_in_blocklist_loader
    def is_revoked(_header: dict[str, Any], payload: dict[str, Any]) -> bool:
        return get_session().connection().execute(_REVOKED, {"jti": payload["jti"]}).first() is not None
