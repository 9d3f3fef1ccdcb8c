"""The pages' routes: sign in and out, search, an entry and its print view. Thin: the services decide."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec

from flask import Blueprint, Response, redirect, render_template, request, url_for
from pydantic import ValidationError

from ..context import service_context
from ..errors import ApiError
from ..models import CurrentUser, Role, Status
from ..ratelimit import login_per_client, login_per_username, search_limit
from ..schemas.knowledge import SearchQuery
from ..security import token_claims
from ..services import auth
from ..services.errors import InvalidField, Unauthenticated
from ..services.knowledge import reads, searches
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


@bp.app_context_processor
def _page_globals() -> dict[str, Any]:
    return {"csrf_token": session.csrf_token, "csrf_field": session.CSRF_FIELD, "status_labels": STATUS_LABELS}


def signed_in(view: Callable[Concatenate[CurrentUser, P], Any]) -> Callable[P, Any]:
    """The view for a signed-in user (passed first); anyone else goes to the sign-in page and back."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
        user = session.signed_in_user()
        if user is None:
            return redirect(url_for("pages.login", next=request.full_path.rstrip("?")))
        return view(user, *args, **kwargs)

    return wrapper


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
@signed_in
def logout(user: CurrentUser) -> Any:
    auth.logout(service_context(), user, token_claims())
    response = redirect(url_for("pages.login"))
    session.end(response)
    return response


@bp.get("/")
@search_limit()  # the API's search budget, shared: the same user, the same searches
@signed_in
def search(user: CurrentUser) -> Any:
    q = request.args.get("q", "").strip()
    context: dict[str, Any] = {"user": user, "role_label": ROLE_LABELS[Role(user.role)], "q": q}
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
@signed_in
def entry(user: CurrentUser, knowledge_id: int) -> Any:
    found = reads.view(service_context(), knowledge_id, user)
    return render_template(
        "entry.html", user=user, role_label=ROLE_LABELS[Role(user.role)], entry=found, body=to_html(found.content)
    )


@bp.get("/knowledge/<id:knowledge_id>/print")
@signed_in
def print_view(user: CurrentUser, knowledge_id: int) -> Any:
    found = reads.read(service_context(), knowledge_id, user)
    return render_template("print.html", entry=found, body=to_html(found.content))


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
