"""The pages' blueprint and what every page shares: the session's user by role, the header, errors.

Thin, as the API's routes: the services decide.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec

from flask import Blueprint, Response, current_app, redirect, render_template, request, send_from_directory, url_for

from ..api import ADMINS, EDITORS
from ..config import Settings
from ..errors import ApiError
from ..models import CurrentUser, Role
from ..tokens import PAGES_BLUEPRINT
from . import session
from .labels import FIELD_LABELS, ROLE_LABELS, STATUS_LABELS, local_time

P = ParamSpec("P")
PAGE_SIZE = 20
# Pages run scripts and styles of their own origin only; the API's policy (http_security.py) forbids all.
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

bp = Blueprint(
    PAGES_BLUEPRINT, __name__, template_folder="templates", static_folder="static", static_url_path="/static"
)
# Files one form may send: a phone's few site photos at a time, each within MKS_ATTACHMENT_MAX_BYTES.
MAX_FILES_PER_SEND = 5


@bp.before_request
def _allow_photo_uploads() -> None:
    # Raised before the CSRF check reads the form: the photo form is far larger than any other.
    if request.endpoint == "pages.add_attachments":
        settings: Settings = current_app.extensions["mks_settings"]
        request.max_content_length = MAX_FILES_PER_SEND * settings.attachment_max_bytes + 64 * 1024


bp.before_request(session.check_csrf)
bp.add_app_template_filter(local_time, "local")


@bp.after_request
def _finish(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", PAGE_POLICY)  # a stored file keeps its stricter one
    response.headers.setdefault("Cache-Control", "no-store")  # pages show what only this user may read
    return session.save(response)


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
                return redirect(url_for("pages.login", next=back_after_sign_in()))
            if user.role not in roles:
                raise ApiError(403)
            return view(user, *args, **kwargs)

        return wrapper

    return decorate


def back_after_sign_in() -> str:
    """Where signing in leads back to: this page; after a form sent once the session had ended, the start page
    (the form's address answers POST only, and its content is not kept)."""
    return request.full_path.rstrip("?") if request.method == "GET" else ""


def chrome(user: CurrentUser) -> dict[str, Any]:
    """What the page's header shows of the user: the name, the role, and the links the role may follow."""
    return {
        "user": user,
        "role_label": ROLE_LABELS[Role(user.role)],
        "writer": user.role in EDITORS,
        "admin": user.role in ADMINS,
    }


def request_offset() -> int:
    """The page's ?offset=, or 0 for anything that is not a small number."""
    value = request.args.get("offset", "0")
    return int(value) if value.isascii() and value.isdecimal() and len(value) <= 7 else 0


@bp.get("/sw.js")
def service_worker() -> Response:
    # Served from the root, so that its scope is every page (a worker controls only pages below its path).
    response = send_from_directory(bp.static_folder or "", "sw.js", mimetype="text/javascript", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response


def error_page(error: ApiError) -> Response:
    """A page request's error as a Japanese page; without a valid session, the way to sign in."""
    if error.status == 401:
        response = Response(status=302, headers={"Location": url_for("pages.login", next=back_after_sign_in())})
        session.end(response)
        return response
    response = Response(render_template("error.html", error=error), status=error.status)
    response.headers.update(error.headers)
    # Also for an address outside the blueprint, which _finish does not see: its own style sheet must load.
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    return response
