"""The revocation list: token ids and token families refused until they expire, shared by every process."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from .dialects import insert_unless_present
from .models import RevokedToken, utcnow
from .tokens import family


def revoke(session: Session, key: str, user_id: int, expires_at: datetime) -> bool:
    """List a token id or family id in the session's transaction; False when it is listed already.

    A concurrent transaction listing the same key makes this one wait for it and then add nothing:
    racing revocations never fail on the duplicate key.
    """
    statement = (
        insert_unless_present(session, RevokedToken)
        .values(jti=key, user_id=user_id, expires_at=expires_at, revoked_at=utcnow())
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
