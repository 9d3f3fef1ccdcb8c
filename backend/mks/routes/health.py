"""Liveness and readiness probes."""

from __future__ import annotations

from flask import Blueprint
from sqlalchemy import text

from .. import __version__
from ..api import endpoint
from ..db import current_db
from ..errors import ApiError
from ..schemas import HealthOut, ReadyOut

bp = Blueprint("health", __name__)


@bp.get("/health")
@endpoint(summary="プロセスの生存確認（データベースに触れない）", tag="health", response=HealthOut)
def health() -> HealthOut:
    return HealthOut(status="ok", version=__version__)


@bp.get("/ready")
@endpoint(
    summary="受付可能か（データベースに接続でき、スキーマがあるか）", tag="health", response=ReadyOut, errors=(503,)
)
def ready() -> ReadyOut:
    database = current_db()
    try:
        with database.engine.connect() as connection:
            connection.execute(text("SELECT version_num FROM alembic_version"))
    except Exception:  # any failure to reach the database means not ready
        raise ApiError(503, "database_unavailable", "データベースに接続できません。") from None
    return ReadyOut(status="ok", database=database.dialect)
