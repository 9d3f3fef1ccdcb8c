"""The pages' routes: sign in and out, search, an entry, its print view and history, the review queue.

Thin: the services decide, as for the API.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any, Concatenate, Literal, ParamSpec
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, redirect, render_template, request, send_from_directory, url_for
from pydantic import ValidationError

from ..api import ADMINS, ANY_ROLE, EDITORS, STEP_ROLES
from ..context import service_context
from ..errors import ApiError
from ..models import AuditAction, CurrentUser, KnowledgeTemplate, Priority, Role, Status, as_utc
from ..ratelimit import login_per_client, login_per_username, search_limit
from ..schemas.audit import AuditQuery
from ..schemas.knowledge import (
    KnowledgeCreate,
    KnowledgeListQuery,
    KnowledgeUpdate,
    SearchQuery,
    SendBackIn,
    WorkflowStepIn,
)
from ..schemas.users import UserCreate, UserUpdate
from ..security import token_claims
from ..services import alerts, audit, auth, categories, templates, users
from ..services.errors import Conflict, InvalidField, Unauthenticated
from ..services.knowledge import reads, reviews, revisions, searches, workflow, writes
from ..services.knowledge.entries import EntryDetail
from ..services.metrics_summary import summarize
from ..tokens import PAGES_BLUEPRINT
from . import forms, session
from .markdown import to_html

P = ParamSpec("P")
PAGE_SIZE = 20
# Pages run scripts and styles of their own origin only; the API's policy (http_security.py) forbids all.
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
STATUS_LABELS = {
    Status.DRAFT: "下書き",
    Status.REVIEW: "レビュー中",
    Status.APPROVED: "承認済み",
    Status.ARCHIVED: "アーカイブ",
}
ROLE_LABELS = {Role.VIEWER: "閲覧者", Role.EDITOR: "編集者", Role.APPROVER: "承認者", Role.ADMIN: "管理者"}

bp = Blueprint(
    PAGES_BLUEPRINT, __name__, template_folder="templates", static_folder="static", static_url_path="/static"
)
bp.before_request(session.check_csrf)


@bp.after_request
def _finish(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    response.headers.setdefault("Cache-Control", "no-store")  # pages show what only this user may read
    return session.save(response)


FIELD_LABELS = {
    "title": "題名",
    "summary": "要約",
    "content": "本文",
    "category": "カテゴリ",
    "tags": "タグ",
    "status": "ステータス",
    "priority": "優先度",
    "project_code": "プロジェクト",
    "owner_department": "担当部署",
    "review_due": "再確認日",
}


# Stored times are UTC; the people reading them are in Japan.
JAPAN = ZoneInfo("Asia/Tokyo")


@bp.app_template_filter("local")
def _local(moment: datetime, pattern: str = "%Y-%m-%d %H:%M") -> str:
    """A stored (UTC) time as Japan's clock shows it."""
    return as_utc(moment).astimezone(JAPAN).strftime(pattern)


@bp.app_context_processor
def _page_globals() -> dict[str, Any]:
    return {
        "csrf_token": session.csrf_token,
        "csrf_field": session.CSRF_FIELD,
        "status_labels": STATUS_LABELS,
        "field_labels": FIELD_LABELS,
    }


def signed_in(roles: frozenset[Role]) -> Callable[[Callable[Concatenate[CurrentUser, P], Any]], Callable[P, Any]]:
    """The view for a signed-in user of one of the roles (the user passed first), as api.endpoint allows them.

    Anyone not signed in goes to the sign-in page and back; another role gets the 403 page.
    """

    def decorate(view: Callable[Concatenate[CurrentUser, P], Any]) -> Callable[P, Any]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
            user = session.signed_in_user()
            if user is None:
                return redirect(url_for("pages.login", next=request.full_path.rstrip("?")))
            if user.role not in roles:
                raise ApiError(403)
            return view(user, *args, **kwargs)

        return wrapper

    return decorate


def _safe_next(target: str | None) -> str:
    # Only a path of this site: "//host" or "/\host" would send the user elsewhere.
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return url_for("pages.search")


@bp.get("/sw.js")
def service_worker() -> Response:
    # Served from the root, so that its scope is every page (a worker controls only pages below its path).
    response = send_from_directory(bp.static_folder or "", "sw.js", mimetype="text/javascript", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/login")
def login_form() -> Any:
    if session.signed_in_user() is not None:
        return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", next=request.args.get("next", ""), error=None)


@bp.post("/login")
@login_per_client
@login_per_username
def login() -> Any:
    ctx = service_context()
    username = request.form.get("username", "")
    target = request.form.get("next", "")
    try:
        user = auth.check_credentials(ctx, username, request.form.get("password", ""))
    except Unauthenticated as refused:
        # One message for an unknown user, a wrong password, a disabled or a locked account.
        return render_template("login.html", next=target, error=refused.message, username=username), 401
    access_token, _refresh_token = auth.issue_tokens(ctx, user)
    response = redirect(_safe_next(target))
    session.start(response, access_token)
    return response


@bp.post("/logout")
@signed_in(ANY_ROLE)
def logout(user: CurrentUser) -> Any:
    auth.logout(service_context(), user, token_claims())
    response = redirect(url_for("pages.login"))
    session.end(response)
    return response


@bp.get("/")
@search_limit()  # the API's search budget, shared: the same user, the same searches
@signed_in(ANY_ROLE)
def search(user: CurrentUser) -> Any:
    q = request.args.get("q", "").strip()
    context: dict[str, Any] = {**_chrome(user), "q": q}
    if not q:
        return render_template("search.html", **context, results=None, error=None)
    try:
        query = SearchQuery(q=q, limit=PAGE_SIZE, offset=_offset())
        results = searches.search(service_context(), query, user)
    except ValidationError:
        error = "検索語は 200 文字以内で指定してください。"
        return render_template("search.html", **context, results=None, error=error)
    except InvalidField as refused:
        return render_template("search.html", **context, results=None, error=refused.message)
    return render_template("search.html", **context, results=results, offset=query.offset, page_size=PAGE_SIZE)


def _offset() -> int:
    value = request.args.get("offset", "0")
    return int(value) if value.isascii() and value.isdecimal() and len(value) <= 7 else 0


@bp.get("/knowledge/<id:knowledge_id>")
@signed_in(ANY_ROLE)
def entry(user: CurrentUser, knowledge_id: int) -> Any:
    found = reads.view(service_context(), knowledge_id, user)
    return render_template(
        "entry.html", **_chrome(user), entry=found, body=to_html(found.content), steps=_offered_steps(user, found)
    )


@bp.get("/knowledge/<id:knowledge_id>/print")
@signed_in(ANY_ROLE)
def print_view(user: CurrentUser, knowledge_id: int) -> Any:
    found = reads.read(service_context(), knowledge_id, user)
    return render_template("print.html", entry=found, body=to_html(found.content))


@bp.get("/knowledge/<id:knowledge_id>/history")
@signed_in(ANY_ROLE)
def history(user: CurrentUser, knowledge_id: int) -> Any:
    ctx = service_context()
    found = reads.read(ctx, knowledge_id, user)
    return render_template(
        "history.html", **_chrome(user), entry=found, revisions=revisions.list_revisions(ctx, knowledge_id, user)
    )


@bp.get("/knowledge/<id:knowledge_id>/revisions/<id:number>/diff")
@signed_in(ANY_ROLE)
def revision_diff(user: CurrentUser, knowledge_id: int, number: int) -> Any:
    ctx = service_context()
    found = reads.read(ctx, knowledge_id, user)
    asked = request.args.get("against", "")
    against: int | Literal["approved"] | None = None
    if asked == "approved":
        against = "approved"
    elif asked.isascii() and asked.isdecimal() and len(asked) <= 9:
        against = int(asked)
    compared = revisions.diff(ctx, knowledge_id, number, against, user)
    return render_template("diff.html", **_chrome(user), entry=found, diff=compared)


@bp.post("/knowledge/<id:knowledge_id>/revisions/<id:number>/restore")
@signed_in(EDITORS)
def restore_revision(user: CurrentUser, knowledge_id: int, number: int) -> Any:
    version = request.form.get("version", "")
    if not (version.isascii() and version.isdecimal() and len(version) <= 9):
        raise ApiError(422)
    revisions.restore(service_context(), knowledge_id, number, int(version), user)
    return redirect(url_for("pages.entry", knowledge_id=knowledge_id))


@bp.get("/reviews")
@signed_in(EDITORS)
def review_queue(user: CurrentUser) -> Any:
    offset = _offset()
    waiting, total = reviews.review_queue(service_context(), limit=PAGE_SIZE, offset=offset)
    return render_template(
        "reviews.html", **_chrome(user), waiting=waiting, total=total, offset=offset, page_size=PAGE_SIZE
    )


PRIORITIES = [(Priority.LOW, "低"), (Priority.NORMAL, "通常"), (Priority.HIGH, "高"), (Priority.CRITICAL, "緊急")]
# The steps an entry page offers, in the order its buttons show them.
STEPS = {
    "submit": (workflow.SUBMIT, "レビュー依頼"),
    "approve": (workflow.APPROVE, "承認"),
    "send-back": (workflow.SEND_BACK, "差戻し"),
    "archive": (workflow.ARCHIVE, "アーカイブ"),
    "unarchive": (workflow.UNARCHIVE, "アーカイブから戻す"),
}


def _offered_steps(user: CurrentUser, found: EntryDetail) -> list[tuple[str, str]]:
    """The steps the server would allow this user on the entry now: by role, and by the entry's stage."""
    stage = Status(found.pending.status if found.pending is not None else found.status)
    return [
        (name, label)
        for name, (step, label) in STEPS.items()
        if user.role in STEP_ROLES[step] and stage in step.starts_from
    ]


@bp.post("/knowledge/<id:knowledge_id>/steps/<name>")
@signed_in(EDITORS)
def take_step(user: CurrentUser, knowledge_id: int, name: str) -> Any:
    if name not in STEPS:
        raise ApiError(404)
    step, _label = STEPS[name]
    if user.role not in STEP_ROLES[step]:
        raise ApiError(403)
    form = {"version": request.form.get("version", "")}
    comment = request.form.get("comment") or None
    try:
        if step is workflow.SEND_BACK:
            sent = SendBackIn.model_validate({**form, "reason": comment or ""})
            version, comment = sent.version, sent.reason
        else:
            body = WorkflowStepIn.model_validate({**form, "comment": comment})
            version, comment = body.version, body.comment
    except ValidationError:
        message = "差戻しの理由を入力してください（1,000 文字まで）。" if step is workflow.SEND_BACK else None
        raise ApiError(422, message=message) from None
    workflow.take_step(service_context(), knowledge_id, step, version, comment, user)
    return redirect(url_for("pages.entry", knowledge_id=knowledge_id))


@bp.route("/knowledge/new", methods=["GET", "POST"])
@signed_in(EDITORS)
def new_entry(user: CurrentUser) -> Any:
    ctx = service_context()
    values: dict[str, Any] = {
        "title": "",
        "summary": "",
        "content": "",
        "category": "",
        "tags": [],
        "priority": "normal",
    }
    chosen = request.args.get("template", "")
    if chosen.isascii() and chosen.isdecimal() and len(chosen) <= 9:
        found = templates.get_template(ctx, int(chosen))
        values = {name: getattr(found, name) for name in ("title", "summary", "content", "tags", "priority")}
        values["category"] = found.category.name
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = forms.entry_values(request.form)
        try:
            created = writes.create_knowledge(ctx, KnowledgeCreate.model_validate(values), user)
        except ValidationError as refused:
            errors = forms.messages(refused)
        else:
            return redirect(url_for("pages.entry", knowledge_id=created.id))
    page = _editor(
        user,
        "ナレッジの作成",
        values,
        errors,
        version=None,
        draft_key=f"new:{chosen}",
        choices=templates.list_templates(ctx),
    )
    return page, 422 if errors else 200


@bp.route("/knowledge/<id:knowledge_id>/edit", methods=["GET", "POST"])
@signed_in(EDITORS)
def edit_entry(user: CurrentUser, knowledge_id: int) -> Any:
    ctx = service_context()
    found = reads.read(ctx, knowledge_id, user)
    shown = found.pending if found.pending is not None else found  # a writer edits the newest text
    values: dict[str, Any] = {name: getattr(shown, name) for name in (*forms.ENTRY_FIELDS, "tags")}
    errors: dict[str, str] = {}
    conflict = None
    if request.method == "POST":
        values = forms.entry_values(request.form)
        try:
            update = KnowledgeUpdate.model_validate({**values, "version": request.form.get("version", "")})
            writes.update_knowledge(ctx, knowledge_id, update, user)
        except ValidationError as refused:
            errors = forms.messages(refused)
        except Conflict as refused:
            if refused.code != "version_conflict":
                raise
            ctx.session.rollback()
            # Never overwrite silently: show what is saved now beside the user's text, which the form keeps.
            conflict = reads.read(ctx, knowledge_id, user)
            conflict = replace(conflict, **_newest_text(conflict))
        else:
            return redirect(url_for("pages.entry", knowledge_id=knowledge_id))
    version = conflict.version if conflict is not None else found.version
    response = _editor(
        user, f"編集: {found.title}", values, errors, version=version, draft_key=str(knowledge_id), conflict=conflict
    )
    return response, 409 if conflict is not None else 422 if errors else 200


def _newest_text(found: EntryDetail) -> dict[str, Any]:
    """The entry's newest title, summary and body: its pending change's, when it has one."""
    shown = found.pending if found.pending is not None else found
    return {"title": shown.title, "summary": shown.summary, "content": shown.content}


def _editor(
    user: CurrentUser,
    heading: str,
    values: dict[str, Any],
    errors: dict[str, str],
    *,
    version: int | None,
    draft_key: str,
    conflict: EntryDetail | None = None,
    choices: list[KnowledgeTemplate] | None = None,
) -> str:
    names = [category.name for category, _count in categories.list_categories(service_context(), user)]
    return render_template(
        "edit.html",
        **_chrome(user),
        heading=heading,
        values=values,
        errors=errors,
        version=version,
        draft_key=draft_key,
        conflict=conflict,
        templates=choices or [],
        categories=names,
        priorities=PRIORITIES,
    )


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
        "users.html", **_chrome(user), users=users.list_users(ctx), values=values, errors=errors, roles=ROLE_LABELS
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


@bp.route("/account", methods=["GET", "POST"])
@signed_in(ANY_ROLE)
def account(user: CurrentUser) -> Any:
    ctx = service_context()
    errors: dict[str, str] = {}
    changed = False
    if request.method == "POST":
        try:
            data = UserUpdate.model_validate({"password": request.form.get("new_password", "")})
            renewed = users.change_own_password(ctx, user, request.form.get("current_password", ""), data)
        except ValidationError as refused:
            errors = {"new_password": forms.messages(refused)["password"]}
        except InvalidField as refused:
            errors = {refused.field: refused.message}
        else:
            # Every session of the user ended with the change: this browser continues with a new one.
            access_token, _refresh_token = auth.issue_tokens(ctx, renewed)
            response = redirect(url_for("pages.account", changed="1"))
            session.start(response, access_token)
            return response
    changed = request.args.get("changed") == "1"
    mine: list[Any] = []
    if user.role in EDITORS:
        query = KnowledgeListQuery(created_by=user.username, limit=100)
        mine, _total, _cursor = reads.list_knowledge(ctx, query, user)
    page = render_template("account.html", **_chrome(user), mine=mine, errors=errors, changed=changed)
    return page, 422 if errors else 200


ACTION_LABELS = {
    AuditAction.KNOWLEDGE_CREATE: "ナレッジの作成",
    AuditAction.KNOWLEDGE_UPDATE: "ナレッジの編集",
    AuditAction.KNOWLEDGE_DELETE: "ナレッジの削除",
    AuditAction.KNOWLEDGE_SUBMIT: "レビュー依頼",
    AuditAction.KNOWLEDGE_APPROVE: "承認",
    AuditAction.KNOWLEDGE_SEND_BACK: "差戻し",
    AuditAction.KNOWLEDGE_ARCHIVE: "アーカイブ",
    AuditAction.KNOWLEDGE_UNARCHIVE: "アーカイブから戻す",
    AuditAction.KNOWLEDGE_IMPORT: "一括取り込み",
    AuditAction.ATTACHMENT_ADD: "添付ファイルの追加",
    AuditAction.ATTACHMENT_DELETE: "添付ファイルの削除",
    AuditAction.LOGIN: "ログイン",
    AuditAction.LOGIN_FAILED: "ログインの失敗",
    AuditAction.LOGOUT: "ログアウト",
    AuditAction.USER_CREATE: "ユーザーの追加",
    AuditAction.USER_UPDATE: "ユーザーの変更",
    AuditAction.USER_ROLE_CHANGE: "ロールの変更",
    AuditAction.CATEGORY_CREATE: "カテゴリの追加",
    AuditAction.TEMPLATE_CREATE: "テンプレートの追加",
    AuditAction.TEMPLATE_UPDATE: "テンプレートの変更",
    AuditAction.TEMPLATE_DELETE: "テンプレートの削除",
    AuditAction.SYNONYM_CREATE: "同義語の追加",
    AuditAction.SYNONYM_UPDATE: "同義語の変更",
    AuditAction.SYNONYM_DELETE: "同義語の削除",
    AuditAction.TOKENS_PURGE: "失効トークンの削除",
}


@bp.get("/admin/audit")
@signed_in(ADMINS)
def audit_log(user: CurrentUser) -> Any:
    asked = {name: value for name in ("actor", "action") if (value := request.args.get(name, "").strip())}
    try:
        query = AuditQuery.model_validate({**asked, "limit": PAGE_SIZE * 5, "offset": _offset()})
    except ValidationError:
        raise ApiError(422, message="絞り込みの条件が正しくありません。") from None
    found, total = audit.search(service_context(), query)
    return render_template(
        "audit.html", **_chrome(user), entries=found, total=total, asked=asked, actions=ACTION_LABELS, query=query
    )


# The three provisioned Grafana dashboards (backend/monitoring/grafana/dashboards), by uid.
GRAFANA_DASHBOARDS = {
    "mks-app-overview": "アプリケーション概要",
    "mks-api-performance": "APIパフォーマンス",
    "mks-system-resources": "システムリソース",
}


@bp.get("/admin/monitoring")
@signed_in(ADMINS)
def monitoring(user: CurrentUser) -> Any:
    settings = service_context().settings
    registry = current_app.extensions.get("mks_scrape_registry")
    return render_template(
        "monitoring.html",
        **_chrome(user),
        summary=summarize(registry) if registry is not None else None,
        alerts=alerts.current_alerts(settings.prometheus_url) if settings.prometheus_url else None,
        grafana=settings.grafana_url.rstrip("/") if settings.grafana_url else None,
        dashboards=GRAFANA_DASHBOARDS,
    )


def _chrome(user: CurrentUser) -> dict[str, Any]:
    """What the page's header shows of the user: the name, the role, and the links the role may follow."""
    return {
        "user": user,
        "role_label": ROLE_LABELS[Role(user.role)],
        "writer": user.role in EDITORS,
        "admin": user.role in ADMINS,
    }


def error_page(error: ApiError) -> Response:
    """A page request's error as a Japanese page; without a valid session, the way to sign in."""
    if error.status == 401:
        response = Response(
            status=302, headers={"Location": url_for("pages.login", next=request.full_path.rstrip("?"))}
        )
        session.end(response)
        return response
    response = Response(render_template("error.html", error=error), status=error.status)
    response.headers.update(error.headers)
    return response
