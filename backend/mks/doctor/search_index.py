"""The search index check: it holds exactly the knowledge entries, read from the database itself."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from ..config import Settings
from ..db import Database
from ..search.drift import IndexDrift, index_drift
from .base import Check, CheckStatus, Result

REINDEX_FIX = "mks search reindex を実行してください。"
DATABASE_FIX = (
    "バックエンドと同じ設定（MKS_DATABASE_URL、未設定なら MKS_INSTANCE_PATH の mks.sqlite3）で実行しているか、"
    "データベースが起動していてスキーマが最新か（mks db current）を確認してください。"
)


def check_search_index(settings: Settings) -> Result:
    """Every knowledge entry has its index row, holding the entry's values where it copies them; none outlives it."""
    url = make_url(settings.effective_database_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").exists():
        # Connecting would create an empty database file where the operator expects theirs.
        return Result(
            Check.SEARCH_INDEX, CheckStatus.ERROR, f"データベースのファイルがありません: {url.database}", DATABASE_FIX
        )
    database = Database(settings)
    try:
        with database.engine.connect() as connection:
            drift = index_drift(connection, database.search)
    except SQLAlchemyError as exc:
        return Result(
            Check.SEARCH_INDEX, CheckStatus.ERROR, f"データベースを読めません（{_reason(exc)}）", DATABASE_FIX
        )
    finally:
        database.engine.dispose()
    if drift.in_step:
        return Result(Check.SEARCH_INDEX, CheckStatus.OK, f"索引済み {drift.entries} 件（ナレッジと一致）")
    return Result(Check.SEARCH_INDEX, CheckStatus.ERROR, "ナレッジと一致しません: " + _differences(drift), REINDEX_FIX)


def _differences(drift: IndexDrift) -> str:
    kinds = (
        ("索引にない", drift.missing, drift.missing_sample),
        ("削除済みなのに索引にある", drift.orphaned, drift.orphaned_sample),
        ("索引の分類・状態が古い", drift.stale, drift.stale_sample),
    )
    found = [f"{label} {count} 件（例: {', '.join(map(str, sample))}）" for label, count, sample in kinds if count]
    if drift.lengths_off:
        found.append("索引の項目の長さの合計が各行の合計と違う")
    return "、".join(found)


def _reason(exc: SQLAlchemyError) -> str:
    # The driver's own first line (no such table, connection refused), without SQLAlchemy's SQL and links.
    cause = getattr(exc, "orig", None) or exc
    return str(cause).strip().partition("\n")[0]
