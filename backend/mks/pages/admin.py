"""The admin's pages: users, the audit log, monitoring and its runbook."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app, redirect, render_template, request, url_for
from pydantic import ValidationError

from ..api import ADMINS
from ..context import service_context
from ..doctor.grafana import GRAFANA_DASHBOARDS
from ..errors import ApiError
from ..models import CurrentUser
from ..schemas.audit import AuditQuery
from ..schemas.users import UserCreate, UserUpdate
from ..services import alerts, audit, trends, users
from ..services.errors import Conflict
from ..services.metrics_summary import summarize
from . import forms
from .charts import Sparkline, sparkline
from .common import PAGE_SIZE, bp, chrome, request_offset, signed_in
from .labels import ACTION_LABELS, ROLE_LABELS
from .markdown import document_html


@bp.route("/admin/users", methods=["GET", "POST"])
@signed_in(ADMINS)
def admin_users(user: CurrentUser) -> Any:
    ctx = service_context()
    errors: dict[str, str] = {}
    values = {name: request.form.get(name, "") for name in ("username", "display_name", "role")}
    if request.method == "POST":
        try:
            data = UserCreate.model_validate({**values, "password": request.form.get("password", "")})
            users.create_user(ctx, data, user)
        except ValidationError as refused:
            errors = forms.messages(refused)
        except Conflict as refused:
            errors = {"username": refused.message}
        else:
            return redirect(url_for("pages.admin_users"))
    page = render_template(
        "users.html", **chrome(user), users=users.list_users(ctx), values=values, errors=errors, roles=ROLE_LABELS
    )
    return page, 422 if errors else 200


@bp.post("/admin/users/<id:user_id>")
@signed_in(ADMINS)
def admin_user(user: CurrentUser, user_id: int) -> Any:
    changes: dict[str, Any] = {}
    if "role" in request.form:
        changes["role"] = request.form["role"]
    if "is_active" in request.form:
        changes["is_active"] = request.form["is_active"] == "true"
    if request.form.get("password"):
        changes["password"] = request.form["password"]
    try:
        data = UserUpdate.model_validate(changes)
    except ValidationError as refused:
        raise ApiError(422, message="・".join(forms.messages(refused).values())) from None
    users.update_user(service_context(), user_id, data, user)
    return redirect(url_for("pages.admin_users"))


@bp.get("/admin/audit")
@signed_in(ADMINS)
def audit_log(user: CurrentUser) -> Any:
    asked = {name: value for name in ("actor", "action") if (value := request.args.get(name, "").strip())}
    try:
        query = AuditQuery.model_validate({**asked, "limit": PAGE_SIZE * 5, "offset": request_offset()})
    except ValidationError:
        raise ApiError(422, message="絞り込みの条件が正しくありません。") from None
    found, total = audit.search(service_context(), query)
    return render_template(
        "audit.html", **chrome(user), entries=found, total=total, asked=asked, actions=ACTION_LABELS, query=query
    )


# The charts of the figures of trends.QUERIES, in this order: name, and how the latest value is written
# (as the figures above them, /api/metrics/summary, write it; requests per second with the dashboard's 2 decimals).
TREND_CHARTS: dict[str, tuple[str, Callable[[float], str]]] = {
    "requests_per_second": ("リクエスト数（毎秒）", lambda value: f"{value:.2f}"),
    "error_ratio": ("エラー率（5xx）", lambda value: f"{value * 100:.2f}%"),
    "latency_p95_seconds": ("応答時間 p95", lambda value: f"{value * 1000:.0f} ms"),
    "active_users": ("アクティブユーザー", lambda value: f"{value:.0f}人"),
}


def trend_charts(found: trends.Trends) -> list[Sparkline]:
    """The small charts of the figures read (none when they could not be read)."""
    if found.error:
        return []
    return [
        sparkline(title, found.series.get(name, []), found.start, found.end, found.step, written)
        for name, (title, written) in TREND_CHARTS.items()
    ]


@bp.get("/admin/monitoring")
@signed_in(ADMINS)
def monitoring(user: CurrentUser) -> Any:
    settings = service_context().settings
    registry = current_app.extensions.get("mks_scrape_registry")
    found = trends.last_hour(settings.prometheus_url) if settings.prometheus_url else None
    return render_template(
        "monitoring.html",
        **chrome(user),
        summary=summarize(registry) if registry is not None else None,
        trends=found,
        charts=trend_charts(found) if found is not None else [],
        alerts=alerts.current_alerts(settings.prometheus_url) if settings.prometheus_url else None,
        grafana=settings.grafana_url.rstrip("/") if settings.grafana_url else None,
        dashboards=GRAFANA_DASHBOARDS,
    )


@bp.get("/admin/runbook")
@signed_in(ADMINS)
def runbook(user: CurrentUser) -> Any:
    """The operators' runbook (docs/runbook.md): every alert's runbook_url links to its section here."""
    path = service_context().settings.runbook_file
    try:
        html = document_html(path.read_text(encoding="utf-8"))
    except OSError:
        html = None
    return render_template("runbook.html", **chrome(user), runbook=html, path=path)
