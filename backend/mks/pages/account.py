"""Signing in and out, and the user's own page (their entries, their password)."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for
from pydantic import ValidationError

from ..api import ANY_ROLE, EDITORS
from ..context import service_context
from ..models import CurrentUser
from ..ratelimit import login_per_client, login_per_username
from ..schemas.knowledge import KnowledgeListQuery
from ..schemas.users import UserUpdate
from ..security import token_claims
from ..services import auth, users
from ..services.errors import InvalidField, Unauthenticated
from ..services.knowledge import reads, reviews
from . import forms, session
from .common import bp, chrome, signed_in


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
    sent_back: dict[int, str] = {}
    if user.role in EDITORS:
        query = KnowledgeListQuery(created_by=user.username, limit=100)
        mine, _total, _cursor = reads.list_knowledge(ctx, query, user)
        sent_back = reviews.send_back_reasons(ctx, [entry.id for entry in mine])
    page = render_template(
        "account.html", **chrome(user), mine=mine, sent_back=sent_back, errors=errors, changed=changed
    )
    return page, 422 if errors else 200
