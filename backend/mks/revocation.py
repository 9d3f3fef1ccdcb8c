"""The revocation list: token ids and token families refused until they expire, shared by every process."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from .models import RevokedToken, utcnow
from .tokens import family

# Both dialects spell "insert unless the key exists" the same way, each in its own module.
_INSERTS: dict[str, Callable[[type[RevokedToken]], postgresql.Insert | sqlite.Insert]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


def revoke(session: Session, key: str, user_id: int, expires_at: datetime) -> bool:
    """List a token id or family id in the session's transaction; False when it is listed already.

    A concurrent transaction listing the same key makes this one wait for it and then add nothing:
    racing revocations never fail on the duplicate key.
    """
    statement = (
        _INSERTS[session.get_bind().dialect.name](RevokedToken)
        .values(jti=key, user_id=user_id, expires_at=expires_at, revoked_at=utcnow())
        .on_conflict_do_nothing()
        .returning(RevokedToken.jti)  # rowcount is not reported for an INSERT by every driver
    )
    return session.connection().execute(statement).first() is not None


def revoke_family(session: Session, claims: dict[str, Any], user_id: int, refresh_lifetime: timedelta) -> bool:
    """List the family of the verified token; False when it is listed already."""
    # No token of a revoked family can be minted any more, so none outlives a refresh lifetime from now.
    return revoke(session, family(claims), user_id, utcnow() + refresh_lifetime)


def purge_expired(session: Session) -> int:
    """Delete, in the session's transaction, the entries whose tokens have all expired; how many."""
    statement = delete(RevokedToken).where(RevokedToken.expires_at < utcnow())
    return session.connection().execute(statement).rowcount
