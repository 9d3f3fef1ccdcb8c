"""Liveness and readiness probes."""

from __future__ import annotations

from flask import Blueprint
from sqlalchemy import text

from .. import __version__, ratelimit
from ..api import endpoint
from ..db import current_db
from ..dialects import can_write
from ..errors import ApiError
from ..schemas.health import DependencyStatus, HealthOut, ReadyOut

bp = Blueprint("health", __name__)


@bp.get("/health")
@endpoint(summary="プロセスの生存確認（データベースに触れない）", tag="health", response=HealthOut)
def health() -> HealthOut:
    return HealthOut(status="ok", version=__version__)


@bp.get("/ready")
@endpoint(
    summary="受付可能か（データベースに接続でき、スキーマがあり、書き込みを始められるか）と依存先ごとの状態",
    tag="health",
    response=ReadyOut,
    errors=(503,),
)
def ready() -> ReadyOut:
    database = current_db()
    reachable, writable = _database_state()
    dependencies: dict[str, DependencyStatus] = {
        "database": "ok" if reachable else "unavailable",
        "database_writes": "ok" if writable else "unavailable",
        "rate_limit_storage": "ok" if ratelimit.storage_available() else "unavailable",
    }
    if not (reachable and writable):
        details = [{"dependency": name, "status": status} for name, status in dependencies.items()]
        message = "データベースに接続できません。" if not reachable else WRITES_BLOCKED
        raise ApiError(503, "database_unavailable", message, details=details)
    # Without its counter storage the API still serves (rate limits fail open), so it stays ready.
    status = "ok" if dependencies["rate_limit_storage"] == "ok" else "degraded"
    return ReadyOut.model_validate({"status": status, "database": database.dialect, "dependencies": dependencies})


# How long the readiness probe waits for the lock a write takes. A write waits up to
# MKS_DATABASE_LOCK_TIMEOUT_SECONDS, but a probe must answer within a load balancer's timeout.
WRITE_WAIT_SECONDS = 0.5
WRITES_BLOCKED = "データベースがロックされていて、書き込みを始められません。"


def _database_state() -> tuple[bool, bool]:
    """Whether the database answers with its schema, and whether a write could start within WRITE_WAIT_SECONDS.

    A held lock used to leave /ready at 200 while every write failed after its lock timeout.
    """
    try:
        with current_db().engine.connect() as connection:
            connection.execute(text("SELECT version_num FROM alembic_version"))
            connection.rollback()
            return True, can_write(connection, WRITE_WAIT_SECONDS)
    except Exception:  # any failure to reach the database means not ready
        return False, False
