"""Liveness and readiness probes."""

from __future__ import annotations

from flask import Blueprint
from sqlalchemy import text

from .. import __version__, ratelimit
from ..api import endpoint
from ..db import current_db
from ..errors import ApiError
from ..schemas.health import DependencyStatus, HealthOut, ReadyOut

bp = Blueprint("health", __name__)


@bp.get("/health")
@endpoint(summary="プロセスの生存確認（データベースに触れない）", tag="health", response=HealthOut)
def health() -> HealthOut:
    return HealthOut(status="ok", version=__version__)


@bp.get("/ready")
@endpoint(
    summary="受付可能か（データベースに接続でき、スキーマがあるか）と依存先ごとの状態",
    tag="health",
    response=ReadyOut,
    errors=(503,),
)
def ready() -> ReadyOut:
    database = current_db()
    dependencies: dict[str, DependencyStatus] = {
        "database": "ok" if _database_ready() else "unavailable",
        "rate_limit_storage": "ok" if ratelimit.storage_available() else "unavailable",
    }
    if dependencies["database"] != "ok":
        details = [{"dependency": name, "status": status} for name, status in dependencies.items()]
        raise ApiError(503, "database_unavailable", "データベースに接続できません。", details=details)
    # Without its counter storage the API still serves (rate limits fail open), so it stays ready.
    status = "ok" if dependencies["rate_limit_storage"] == "ok" else "degraded"
    return ReadyOut.model_validate({"status": status, "database": database.dialect, "dependencies": dependencies})


def _database_ready() -> bool:
    try:
        with current_db().engine.connect() as connection:
            connection.execute(text("SELECT version_num FROM alembic_version"))
    except Exception:  # any failure to reach the database means not ready
        return False
    return True
