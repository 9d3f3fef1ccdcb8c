"""Use cases of authentication: log in, refresh (rotating the refresh token), log out, purge revocations."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from flask import current_app
from sqlalchemy import case, or_, select, update
from sqlalchemy.orm import Session

from ..config import Settings
from ..db import get_session
from ..errors import error_kind
from ..instrumentation import count_auth_attempt
from ..models import Actor, AuditAction, CurrentUser, User, utcnow
from ..revocation import purge_expired, revoke, revoke_family
from ..security import TOKEN_REVOKED, hash_password, token_claims, verify_password
from ..tokens import ACCESS, FAMILY, GENERATION, REFRESH, family, issue, new_jti, token_keys
from . import audit

INVALID_CREDENTIALS = error_kind(401, "invalid_credentials", "ユーザー名またはパスワードが正しくありません。")
# Logout and refresh purge expired revocations on the way, at most this often per process.
_PURGE_INTERVAL_SECONDS = 60.0


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
    if user is None:
        _refuse(session, username, "failure")
    succeeded = password_ok and user.is_active
    if not _record_attempt(session, user, succeeded):
        _refuse(session, username, "locked")
    if not succeeded:
        _refuse(session, username, "failure")
    audit.record(AuditAction.LOGIN, user)
    session.commit()
    count_auth_attempt("success")
    return user


def _refuse(session: Session, username: str, status: str) -> NoReturn:
    audit.record(AuditAction.LOGIN_FAILED, None, actor_username=username[:64], reason=status)
    session.commit()
    count_auth_attempt(status)
    raise INVALID_CREDENTIALS()


def _record_attempt(session: Session, user: User, succeeded: bool) -> bool:
    """Count the attempt against the lockout in one conditional UPDATE; False when the account is locked.

    The row lock orders concurrent attempts and each sees the one before: exactly the threshold's
    failure locks (and restarts the count), and attempts after it are refused without counting.
    """
    settings: Settings = current_app.extensions["mks_settings"]
    now = utcnow()
    failures = User.failed_logins + 1
    locks = failures >= settings.login_lockout_threshold
    values = (
        {"failed_logins": 0, "locked_until": None}
        if succeeded
        else {
            "failed_logins": case((locks, 0), else_=failures),
            "locked_until": case((locks, now + timedelta(minutes=settings.login_lockout_minutes)), else_=None),
        }
    )
    unlocked = or_(User.locked_until.is_(None), User.locked_until <= now)
    statement = update(User).where(User.id == user.id, unlocked).values(values)
    return session.connection().execute(statement).rowcount == 1


def access_token_seconds() -> int:
    """Lifetime of an access token in seconds."""
    return int(token_keys().access_lifetime.total_seconds())


def issue_tokens(user: User | CurrentUser, family_id: str | None = None) -> tuple[str, str]:
    """A new access token and refresh token of the family (None: a new family, for a login)."""
    claims: dict[str, Any] = {GENERATION: user.token_generation, FAMILY: family_id or new_jti()}
    return issue(user.id, ACCESS, role=user.role, **claims), issue(user.id, REFRESH, **claims)


def rotate_tokens(user: CurrentUser) -> tuple[str, str]:
    """Spend the request's refresh token for a new pair of its family; 401 when it was spent already.

    Spent concurrently by another request counts as reuse too: the family is revoked.
    """
    claims = token_claims()
    session = get_session()
    if not revoke(claims["jti"], user.id, datetime.fromtimestamp(claims["exp"], UTC)):
        revoke_family(claims, user.id)
        session.commit()
        raise TOKEN_REVOKED()
    tokens = issue_tokens(user, family(claims))
    session.commit()
    _purge_now_and_then()
    return tokens


def logout(user: Actor) -> None:
    """Revoke every token of the current token's family (its login and refreshes), for every process.

    Of concurrent logouts with one token, the one that revokes the family answers; the others find
    the token revoked (401), as they would a moment later.
    """
    if not revoke_family(token_claims(), user.id):
        raise TOKEN_REVOKED()
    audit.record(AuditAction.LOGOUT, user)
    get_session().commit()
    _purge_now_and_then()


def purge_expired_tokens() -> int:
    """Delete the revocations whose tokens have all expired (nobody can present them); how many."""
    deleted = purge_expired()
    get_session().commit()
    return deleted


def _purge_now_and_then() -> None:
    extensions = current_app.extensions
    now = time.monotonic()
    last = extensions.get("mks_revocations_purged_at")
    if last is not None and now - last < _PURGE_INTERVAL_SECONDS:
        return
    extensions["mks_revocations_purged_at"] = now
    purge_expired_tokens()
