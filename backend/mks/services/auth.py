"""Use cases of authentication: log in, refresh (rotating the refresh token), log out, purge revocations."""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy import case, or_, select, update

from ..models import Actor, AuditAction, CurrentUser, User, utcnow
from ..revocation import purge_expired, revoke, revoke_family
from ..tokens import ACCESS, FAMILY, GENERATION, REFRESH, family, issue, new_jti
from . import audit
from .context import Context
from .errors import Unauthenticated

INVALID_CREDENTIALS = functools.partial(
    Unauthenticated, "invalid_credentials", "ユーザー名またはパスワードが正しくありません。"
)
TOKEN_REVOKED = functools.partial(Unauthenticated, "token_revoked", "このトークンは失効しています。")
# Logout and refresh purge expired revocations on the way, at most this often per process.
_PURGE_INTERVAL_SECONDS = 60.0


def check_credentials(ctx: Context, username: str, password: str) -> User:
    """The active, unlocked user with these credentials; one indistinguishable Unauthenticated otherwise.

    Unknown user, wrong password, disabled or locked account: same refusal and (one argon2
    verification each) timing, so the answer does not tell whether the username exists.
    """
    passwords = ctx.dependencies.passwords
    user = ctx.session.scalar(select(User).where(User.username == username))
    # Verifying against a real hash when the user does not exist keeps both answers equally slow.
    password_ok = passwords.verify(user.password_hash if user is not None else passwords.dummy_hash, password)
    if user is None:
        _refuse(ctx, username, "failure")
    succeeded = password_ok and user.is_active
    if not _record_attempt(ctx, user, succeeded):
        _refuse(ctx, username, "locked")
    if not succeeded:
        _refuse(ctx, username, "failure")
    audit.record(ctx, AuditAction.LOGIN, user)
    ctx.session.commit()
    ctx.dependencies.count_login("success")
    return user


def _refuse(ctx: Context, username: str, status: str) -> NoReturn:
    audit.record(ctx, AuditAction.LOGIN_FAILED, None, actor_username=username[:64], reason=status)
    ctx.session.commit()
    ctx.dependencies.count_login(status)
    raise INVALID_CREDENTIALS()


def _record_attempt(ctx: Context, user: User, succeeded: bool) -> bool:
    """Count the attempt against the lockout in one conditional UPDATE; False when the account is locked.

    The row lock orders concurrent attempts and each sees the one before: exactly the threshold's
    failure locks (and restarts the count), and attempts after it are refused without counting.
    """
    settings = ctx.settings
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
    return ctx.session.connection().execute(statement).rowcount == 1


def access_token_seconds(ctx: Context) -> int:
    """Lifetime of an access token in seconds."""
    return int(ctx.dependencies.token_keys.access_lifetime.total_seconds())


def issue_tokens(ctx: Context, user: User | CurrentUser, family_id: str | None = None) -> tuple[str, str]:
    """A new access token and refresh token of the family (None: a new family, for a login)."""
    keys = ctx.dependencies.token_keys
    claims: dict[str, Any] = {GENERATION: user.token_generation, FAMILY: family_id or new_jti()}
    return issue(keys, user.id, ACCESS, role=user.role, **claims), issue(keys, user.id, REFRESH, **claims)


def rotate_tokens(ctx: Context, actor: User | CurrentUser, claims: dict[str, Any]) -> tuple[str, str]:
    """Spend the verified refresh token (its claims) for a new pair of its family; Unauthenticated when spent already.

    Spent concurrently by another request counts as reuse too: the family is revoked.
    """
    session = ctx.session
    if not revoke(session, claims["jti"], actor.id, datetime.fromtimestamp(claims["exp"], UTC)):
        _revoke_family(ctx, claims, actor)
        session.commit()
        raise TOKEN_REVOKED()
    tokens = issue_tokens(ctx, actor, family(claims))
    session.commit()
    _purge_now_and_then(ctx)
    return tokens


def logout(ctx: Context, actor: Actor, claims: dict[str, Any]) -> None:
    """Revoke every token of the verified token's family (its login and refreshes), for every process.

    Of concurrent logouts with one token, the one that revokes the family answers; the others find
    the token revoked (Unauthenticated), as they would a moment later.
    """
    if not _revoke_family(ctx, claims, actor):
        raise TOKEN_REVOKED()
    audit.record(ctx, AuditAction.LOGOUT, actor)
    ctx.session.commit()
    _purge_now_and_then(ctx)


def _revoke_family(ctx: Context, claims: dict[str, Any], actor: Actor) -> bool:
    return revoke_family(ctx.session, claims, actor.id, ctx.dependencies.token_keys.refresh_lifetime)


def purge_expired_tokens(ctx: Context, actor: Actor | None) -> int:
    """Delete the revocations whose tokens have all expired (nobody can present them), audited; how many."""
    deleted = purge_expired(ctx.session)
    audit.record(ctx, AuditAction.TOKENS_PURGE, actor, deleted=deleted)
    ctx.session.commit()
    return deleted


def _purge_now_and_then(ctx: Context) -> None:
    # Housekeeping on the way, not an action of the user: not audited.
    dependencies = ctx.dependencies
    now = time.monotonic()
    last = dependencies.revocations_purged_at
    if last is not None and now - last < _PURGE_INTERVAL_SECONDS:
        return
    dependencies.revocations_purged_at = now
    purge_expired(ctx.session)
    ctx.session.commit()
