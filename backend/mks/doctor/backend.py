"""Checks of the backend itself: /metrics as Prometheus reads it, and the dependencies /ready reports."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from ..config import Settings
from .base import TIMEOUT_SECONDS, Check, CheckStatus, Endpoints, HttpError, Result, get


def check_backend_metrics(endpoints: Endpoints) -> Result:
    """The backend's /metrics answers and parses as the Prometheus text format with the MKS metrics."""
    try:
        text = get(f"{endpoints.backend}/metrics", endpoints.metrics_headers).decode()
    except HttpError as exc:
        return Result(
            Check.BACKEND_METRICS,
            CheckStatus.ERROR,
            f"{endpoints.backend}/metrics に接続できません（{exc}）",
            _backend_fix(str(exc)),
        )
    try:
        families = {family.name for family in text_string_to_metric_families(text)}
    except ValueError as exc:
        return Result(
            Check.BACKEND_METRICS,
            CheckStatus.ERROR,
            f"Prometheus 形式として読めません（{exc}）",
            "バックエンドのログを確認してください。",
        )
    if "mks_http_requests" not in families:
        return Result(
            Check.BACKEND_METRICS,
            CheckStatus.ERROR,
            "mks_http_requests_total がありません",
            "MKS_METRICS_ENABLED=true で起動してください。",
        )
    return Result(Check.BACKEND_METRICS, CheckStatus.OK, f"{len(families)} 種類のメトリクスを取得")


# What each dependency named by /ready is, for people, and what to do when it is unavailable.
DEPENDENCIES = {
    "database": (
        "データベース",
        "データベースを起動し、MKS_DATABASE_URL を確認してください（復旧すれば再起動は不要）。",
    ),
    "database_writes": (
        "データベースへの書き込み",
        "ロックを持ったままのセッションを探して終わらせてください"
        "（PostgreSQL: pg_stat_activity の state = 'idle in transaction'、SQLite: ファイルを開いている別のプロセス）。",
    ),
    "rate_limit_storage": (
        "レート制限のストレージ",
        "Redis を起動し、MKS_RATELIMIT_STORAGE_URI を確認してください。"
        "停止中は制限なしで受け付けています（mks_rate_limit_storage_errors_total が増えます）。",
    ),
}


def _ready_body(url: str) -> Any:
    # /ready answers 503 with a body that still lists each dependency, so read the body of errors too.
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return json.loads(exc.read())


def check_backend_dependencies(endpoints: Endpoints) -> Result:
    """The backend's /ready: the database down or locked against writes is NG, the rate-limit storage down is 警告
    (it fails open)."""
    try:
        body = _ready_body(f"{endpoints.backend}/ready")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        error = str(getattr(exc, "reason", exc))
        return Result(
            Check.BACKEND_DEPENDENCIES,
            CheckStatus.ERROR,
            f"{endpoints.backend}/ready に接続できません（{error}）",
            _backend_fix(error),
        )
    if "error" in body:
        statuses = {item["dependency"]: item["status"] for item in body["error"].get("details") or []}
    else:
        statuses = body["dependencies"]
    down = [dependency for dependency, status in statuses.items() if status != "ok"]
    summary = "、".join(f"{DEPENDENCIES.get(d, (d, ''))[0]}: {status}" for d, status in statuses.items())
    if not down:
        return Result(Check.BACKEND_DEPENDENCIES, CheckStatus.OK, summary)
    # An unreachable database has nothing to say about its locks.
    advised = [d for d in down if not (d == "database_writes" and "database" in down)]
    fix = " ".join(DEPENDENCIES.get(d, (d, "バックエンドのログを確認してください。"))[1] for d in advised)
    blocking = {"database", "database_writes"} & set(down)
    return Result(Check.BACKEND_DEPENDENCIES, CheckStatus.ERROR if blocking else CheckStatus.WARNING, summary, fix)


def _backend_fix(error: str) -> str:
    if "401" in error:
        return (
            "/metrics が保護されています。"
            "MKS_METRICS_BASIC_AUTH_* / MKS_METRICS_BEARER_TOKEN と同じ認証情報を渡してください。"
        )
    return "バックエンドを起動してください（./scripts/start.sh または mks serve）。"


def metrics_headers(settings: Settings) -> dict[str, str]:
    """The Authorization header /metrics expects, from the backend's own settings (none when open)."""
    if settings.metrics_bearer_token is not None:
        return {"Authorization": f"Bearer {settings.metrics_bearer_token.get_secret_value()}"}
    if settings.metrics_basic_auth_password is not None:
        pair = f"{settings.metrics_basic_auth_username or ''}:{settings.metrics_basic_auth_password.get_secret_value()}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
    return {}
