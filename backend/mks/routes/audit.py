"""The audit log, for admins."""

from __future__ import annotations

from flask import Blueprint

from ..api import ADMINS, endpoint
from ..context import service_context
from ..schemas.audit import AuditEntryOut, AuditPage, AuditQuery
from ..services import audit

bp = Blueprint("audit", __name__, url_prefix="/api/v1")


@bp.get("/audit")
@endpoint(
    summary="監査ログ（作成・更新・削除・ログイン・ログアウト・ロール変更。管理者のみ）",
    tag="audit",
    roles=ADMINS,
    query=AuditQuery,
    response=AuditPage,
)
def audit_log(query: AuditQuery) -> AuditPage:
    entries, total = audit.search(service_context(), query)
    items = [AuditEntryOut.model_validate(entry) for entry in entries]
    return AuditPage(items=items, total=total, limit=query.limit, offset=query.offset)
