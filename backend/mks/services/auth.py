"""Use cases of authentication: log in, refresh, log out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import NoReturn

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..config import Settings
from ..db import get_session
from ..errors import error_kind
from ..instrumentation import count_auth_attempt
from ..models import Actor, AuditAction, RevokedToken, User, as_utc, utcnow
from ..security import hash_password, token_claims, verify_password
from ..tokens import ACCESS, REFRESH, issue, new_jti, token_keys
from . import audit

INVALID_CREDENTIALS = error_kind(401, "invalid_credentials", "ユーザー名またはパスワードが正しくありません。")
# Claim in an access token naming the refresh token it came with, so logout can revoke both.
REFRESH_JTI_CLAIM = "rjti"


def _dummy_hash() -> str:
    # Verifying against a real hash when the user does not exist keeps both answers equally slow.
    cached: str | None = current_app.extensions.get("mks_dummy_hash")
    if cached is None:
        cached = current_app.extensions["mks_dummy_hash"] = hash_password("not-a-real-password")
    return cached


def authenticate(username: str, password: str) -> User:
    """The active, unlocked user with these credentials; one indistinguishable 401 otherwise.

    Unknown user, wrong password, disabled or locked account: same status, body and (one argon2
    verification each) timing, so the answer does not tell whether the username exists.
    """
    session = get_session()
    user = session.scalar(select(User).where(User.username == username))
    password_hash = user.password_hash if user is not None else _dummy_hash()
    password_ok = verify_password(password_hash, password)
    if user is not None and _locked(user):
        _refuse(session, username, "locked")
    if not password_ok or user is None or not user.is_active:
        if user is not None:
            _record_failure(session, user)
        _refuse(session, username, "failure")
    assert user is not None
    user.failed_logins, user.locked_until = 0, None
    audit.record(AuditAction.LOGIN, user)
    session.commit()
    count_auth_attempt("success")
    return user


def _refuse(session: Session, username: str, status: str) -> NoReturn:
    audit.record(AuditAction.LOGIN_FAILED, None, actor_username=username[:64], reason=status)
    session.commit()
    count_auth_attempt(status)
    raise INVALID_CREDENTIALS()


def _locked(user: User) -> bool:
    return user.locked_until is not None and as_utc(user.locked_until) > utcnow()


def _record_failure(session: Session, user: User) -> None:
    settings: Settings = current_app.extensions["mks_settings"]
    # Atomic increment: concurrent failures from many clients all count.
    session.execute(update(User).where(User.id == user.id).values(failed_logins=User.failed_logins + 1))
    session.refresh(user)
    if user.failed_logins >= settings.login_lockout_threshold:
        user.failed_logins = 0
        user.locked_until = utcnow() + timedelta(minutes=settings.login_lockout_minutes)


def access_token_seconds() -> int:
    """Lifetime of an access token in seconds."""
    return int(token_keys().access_lifetime.total_seconds())


def issue_tokens(user: Actor) -> tuple[str, str]:
    """A new access token and the refresh token it is paired with."""
    refresh_jti = new_jti()
    refresh_token = issue(user.id, REFRESH, jti=refresh_jti)
    return _access_token(user, refresh_jti), refresh_token


def refresh_access_token(user: Actor) -> str:
    """A new access token for the refresh token of the current request."""
    return _access_token(user, token_claims()["jti"])


def _access_token(user: Actor, refresh_jti: str) -> str:
    return issue(user.id, ACCESS, role=user.role, **{REFRESH_JTI_CLAIM: refresh_jti})


def _revoke(jti: str, user_id: int, expires: datetime) -> None:
    session = get_session()
    if session.get(RevokedToken, jti) is None:
        session.add(RevokedToken(jti=jti, user_id=user_id, expires_at=expires))


def logout(user: Actor) -> None:
    """Revoke the current access token and the refresh token paired with it, for every process."""
    claims = token_claims()
    expires = datetime.fromtimestamp(claims["exp"], UTC)
    refresh_expires = expires + token_keys().refresh_lifetime
    _revoke(claims["jti"], user.id, expires)
    if REFRESH_JTI_CLAIM in claims:
        _revoke(claims[REFRESH_JTI_CLAIM], user.id, refresh_expires)
    audit.record(AuditAction.LOGOUT, user)
    get_session().commit()
