"""The pages' routes: sign in and out, search, an entry, its print view and history, the review queue.

Thin: the services decide, as for the API.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any, Concatenate, ParamSpec
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, redirect, render_template, request, url_for
from pydantic import ValidationError

from ..api import ANY_ROLE, EDITORS
from ..context import service_context
from ..errors import ApiError
from ..models import CurrentUser, Role, Status, as_utc
from ..ratelimit import login_per_client, login_per_username, search_limit
from ..schemas.knowledge import SearchQuery
from ..security import token_claims
from ..services import auth
from ..services.errors import InvalidField, Unauthenticated
from ..services.knowledge import reads, reviews, revisions, searches
from ..tokens import PAGES_BLUEPRINT
from . import session
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
    return render_template("entry.html", **_chrome(user), entry=found, body=to_html(found.content))


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


@bp.get("/reviews")
@signed_in(EDITORS)
def review_queue(user: CurrentUser) -> Any:
    offset = _offset()
    waiting, total = reviews.review_queue(service_context(), limit=PAGE_SIZE, offset=offset)
    return render_template(
        "reviews.html", **_chrome(user), waiting=waiting, total=total, offset=offset, page_size=PAGE_SIZE
    )


def _chrome(user: CurrentUser) -> dict[str, Any]:
    """What the page's header shows of the user: the name, the role, and the links the role may follow."""
    return {"user": user, "role_label": ROLE_LABELS[Role(user.role)], "writer": user.role in EDITORS}


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
