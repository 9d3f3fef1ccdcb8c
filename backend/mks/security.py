"""The request's actor (the user of its verified token), role checks, and password checks with the app's hasher."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import bindparam, exists, select, update

from . import context
from .config import Settings
from .db import get_session
from .errors import ApiError, error_kind
from .models import CurrentUser, RevokedToken, Role, User, as_utc, utcnow
from .revocation import revoke_family
from .services.auth import TOKEN_REVOKED
from .tokens import ACCESS, REFRESH, family, generation, token_keys, verify_request
from .tokens import init_app as init_tokens

TOKEN_USER_NOT_FOUND = error_kind(401, "token_user_not_found", "トークンのユーザーは存在しません。")
TOKEN_USER_DISABLED = error_kind(401, "token_user_disabled", "このユーザーは無効化されています。")
# Every authenticated request asks who the token's user is (with the user's token generation) and
# whether the token or its family is revoked: one statement answers all, built once (building a
# statement costs more than running it).
_CURRENT_USER_FIELDS = [field.name for field in dataclasses.fields(CurrentUser)]
_TOKEN_USER = select(
    *(getattr(User, name) for name in _CURRENT_USER_FIELDS),
    exists().where(RevokedToken.jti.in_([bindparam("jti"), bindparam("family")])).label("revoked"),
).where(User.id == bindparam("user_id"))


def verify_password(password_hash: str, password: str) -> bool:
    """Whether the password matches the stored hash, with the app's hasher (never raises on a bad hash)."""
    return context.dependencies().passwords.verify(password_hash, password)


def verify_token(kind: str = ACCESS) -> CurrentUser:
    """Verify the request's token of the kind; its user (active, token current and not revoked) becomes current.

    A revoked refresh token presented again (spent by a refresh, or revoked with its family) revokes
    its family: whoever else holds a token of it, thief or owner, has to log in again.
    """
    claims = verify_request(kind)
    session = get_session()
    parameters = {"user_id": int(claims["sub"]), "jti": claims["jti"], "family": family(claims)}
    found = session.connection().execute(_TOKEN_USER, parameters).first()
    if found is None:
        raise TOKEN_USER_NOT_FOUND()
    columns = found._mapping
    user = CurrentUser(**{name: columns[name] for name in _CURRENT_USER_FIELDS})
    if columns["revoked"]:
        if kind == REFRESH:
            revoke_family(session, claims, user.id, token_keys().refresh_lifetime)
            session.commit()
        raise TOKEN_REVOKED()
    if not user.is_active:
        raise TOKEN_USER_DISABLED()
    if generation(claims) != user.token_generation:  # the password changed, or the user was disabled, since
        raise TOKEN_REVOKED()
    user = _touch_last_seen(user, current_app.extensions["mks_last_seen_resolution"])
    g.mks_user, g.mks_token_claims = user, claims
    return user


def current_actor() -> CurrentUser:
    """The actor of the current request: its token's user (after verify_token has run)."""
    user: CurrentUser = g.mks_user
    return user


def token_claims() -> dict[str, Any]:
    """The verified claims of the current request's token (after verify_token has run)."""
    claims: dict[str, Any] = g.mks_token_claims
    return claims


def require_roles(roles: frozenset[Role]) -> CurrentUser:
    """Verify the request's access token and that its user holds one of the roles."""
    user = verify_token()
    if user.role not in roles:
        raise ApiError(403)
    return user


def _touch_last_seen(user: CurrentUser, resolution: timedelta) -> CurrentUser:
    # Written at most once per resolution window, so reads stay reads under load.
    now = utcnow()
    if user.last_seen_at is not None and now - as_utc(user.last_seen_at) < resolution:
        return user
    session = get_session()
    session.execute(update(User).where(User.id == user.id).values(last_seen_at=now))
    session.commit()
    return dataclasses.replace(user, last_seen_at=now)


def init_app(app: Flask, settings: Settings) -> None:
    """Configure token signing and lifetimes, and the password hasher (the services' dependencies)."""
    init_tokens(app, context.init_app(app, settings).token_keys)
    app.extensions["mks_last_seen_resolution"] = timedelta(seconds=settings.last_seen_resolution_seconds)
