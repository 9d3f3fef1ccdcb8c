"""Searching, reading, writing and reviewing entries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, Literal
from urllib.parse import quote_plus

from flask import Response, redirect, render_template, request, url_for
from pydantic import ValidationError

from ..api import ANY_ROLE, EDITORS, STEP_ROLES
from ..context import service_context
from ..errors import ApiError
from ..models import CurrentUser, KnowledgeTemplate, Status
from ..ratelimit import search_limit
from ..schemas.knowledge import KnowledgeCreate, KnowledgeUpdate, SearchQuery, SendBackIn, WorkflowStepIn
from ..services import categories, templates
from ..services.errors import Conflict, InvalidField
from ..services.knowledge import attachments, reads, reviews, revisions, searches, workflow, writes
from ..services.knowledge.entries import EntryDetail
from . import forms
from .common import MAX_FILES_PER_SEND, PAGE_SIZE, bp, chrome, request_offset, signed_in
from .labels import PRIORITIES
from .markdown import entry_html, to_html

# The search page's filter chips and order, as the search API's parameters of the same names.
SEARCH_CHOICES = ("category", "status", "tag", "sort")
# What url_for leaves unquoted in a query string (werkzeug.urls._urlencode), so links read as url_for's did.
URL_SAFE = "!$'()*,/:;?@"


@bp.get("/")
@search_limit()  # the API's search budget, shared: the same user, the same searches
@signed_in(ANY_ROLE)
def search(user: CurrentUser) -> Any:
    q = request.args.get("q", "").strip()
    chosen = {name: value for name in SEARCH_CHOICES if (value := request.args.get(name, "").strip())}
    context: dict[str, Any] = {**chrome(user), "q": q, "chosen": chosen, "search_url": _search_url(q, chosen)}
    if not q:
        return render_template("search.html", **context, results=None, error=None)
    try:
        query = SearchQuery.model_validate(
            {"q": q, **chosen, "facets": True, "limit": PAGE_SIZE, "offset": request_offset()}
        )
        results = searches.search(service_context(), query, user)
    except ValidationError as refused:
        messages = forms.messages(refused)
        error = "検索語は 200 文字以内で指定してください。" if "q" in messages else "絞り込みの条件が正しくありません。"
        return render_template("search.html", **context, results=None, error=error)
    except InvalidField as refused:
        return render_template("search.html", **context, results=None, error=refused.message)
    return render_template("search.html", **context, results=results, offset=query.offset, page_size=PAGE_SIZE)


def _search_url(q: str, chosen: dict[str, str]) -> Callable[..., str]:
    """The search page's address with some filters changed (a value of None or "" leaves one out), for links."""
    # A page links to itself a hundred times or more (a chip per tag of every hit, the same tags on
    # many hits): url_for once, and each value quoted once, as urlencode would quote it.
    quoted: dict[str, str] = {}

    def quote(value: object) -> str:
        written = str(value)
        if written not in quoted:
            quoted[written] = quote_plus(written, safe=URL_SAFE)
        return quoted[written]

    base = f"{url_for('pages.search')}?q={quote(q)}"

    def url(**changes: str | int | None) -> str:
        params = {name: value for name, value in {**chosen, **changes}.items() if value not in (None, "", 0)}
        return "&".join([base, *(f"{name}={quote(value)}" for name, value in params.items())])

    return url


@bp.get("/knowledge/<id:knowledge_id>")
@signed_in(ANY_ROLE)
def entry(user: CurrentUser, knowledge_id: int) -> Any:
    ctx = service_context()
    found = reads.view(ctx, knowledge_id, user)
    return render_template(
        "entry.html",
        **chrome(user),
        entry=found,
        body=entry_html(found.content),
        steps=_offered_steps(user, found),
        files=attachments.attachments_of(ctx, knowledge_id, found.updated_at, user),
        max_files=MAX_FILES_PER_SEND,
        # A partner never reads a draft, nor why it went back: only writers are told.
        sent_back=reviews.send_back_reason(ctx, found) if user.role in EDITORS else None,
    )


@bp.get("/knowledge/<id:knowledge_id>/print")
@signed_in(ANY_ROLE)
def print_view(user: CurrentUser, knowledge_id: int) -> Any:
    ctx = service_context()
    found = reads.read(ctx, knowledge_id, user)
    files = attachments.attachments_of(ctx, knowledge_id, found.updated_at, user)
    return render_template("print.html", entry=found, body=entry_html(found.content), files=files)


@bp.get("/knowledge/<id:knowledge_id>/history")
@signed_in(ANY_ROLE)
def history(user: CurrentUser, knowledge_id: int) -> Any:
    ctx = service_context()
    found = reads.read(ctx, knowledge_id, user)
    return render_template(
        "history.html", **chrome(user), entry=found, revisions=revisions.list_revisions(ctx, knowledge_id, user)
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
    return render_template("diff.html", **chrome(user), entry=found, diff=compared)


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
    offset = request_offset()
    waiting, total = reviews.review_queue(service_context(), limit=PAGE_SIZE, offset=offset)
    return render_template(
        "reviews.html", **chrome(user), waiting=waiting, total=total, offset=offset, page_size=PAGE_SIZE
    )


# The most used tags the editor offers as the writer types one (the typeahead).
TAG_SUGGESTIONS = 200

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


@bp.post("/preview")
@signed_in(EDITORS)
def preview(user: CurrentUser) -> Any:
    """The editor's live preview: the Markdown as the entry page will show it, sanitized the same way."""
    return Response(to_html(request.form.get("content", "")), mimetype="text/html")


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
    ctx = service_context()
    names = [category.name for category, _count in categories.list_categories(ctx, user)]
    return render_template(
        "edit.html",
        preview=to_html(values["content"]),
        tag_suggestions=[name for name, _count in reads.tag_counts(ctx, user, TAG_SUGGESTIONS)],
        **chrome(user),
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
