"""The admin's pages of what entries are filed under and start from: categories and templates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import redirect, render_template, request, url_for
from pydantic import ValidationError

from ..api import ADMINS
from ..context import service_context
from ..models import CurrentUser, KnowledgeTemplate, Priority
from ..schemas.categories import CategoryCreate
from ..schemas.templates import TemplateIn
from ..services import categories, templates
from ..services.errors import Conflict, InvalidField
from . import forms
from .common import bp, chrome, signed_in
from .labels import PRIORITIES

# TemplateIn's fields but the tags, which are typed in one box.
TEMPLATE_FIELDS = ("name", "category", "title", "summary", "content", "priority")


@bp.route("/admin/categories", methods=["GET", "POST"])
@signed_in(ADMINS)
def admin_categories(user: CurrentUser) -> Any:
    ctx = service_context()
    name = request.form.get("name", "")
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        try:
            data = CategoryCreate.model_validate({"name": name})
            categories.create_category(ctx, data.name, user)
        except ValidationError as refused:
            errors, status = forms.messages(refused), 422
        except Conflict as refused:
            errors, status = {"name": refused.message}, 409  # the API's status for a name taken
        else:
            return redirect(url_for("pages.admin_categories"))
    page = render_template(
        "categories.html", **chrome(user), categories=categories.list_categories(ctx, user), name=name, errors=errors
    )
    return page, status


@bp.route("/admin/templates", methods=["GET", "POST"])
@signed_in(ADMINS)
def admin_templates(user: CurrentUser) -> Any:
    ctx = service_context()
    values: dict[str, Any] = {name: "" for name in TEMPLATE_FIELDS} | {"tags": [], "priority": Priority.NORMAL}
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        values = _sent_values()
        errors, status = _save(lambda data: templates.create_template(ctx, data, user), values)
        if not errors:
            return redirect(url_for("pages.admin_templates"))
    page = _template_page(
        "template_list.html", user, values, errors, templates=templates.list_templates(ctx), labels=dict(PRIORITIES)
    )
    return page, status


@bp.route("/admin/templates/<id:template_id>", methods=["GET", "POST"])
@signed_in(ADMINS)
def admin_template(user: CurrentUser, template_id: int) -> Any:
    ctx = service_context()
    found = templates.get_template(ctx, template_id)
    values = {name: getattr(found, name) for name in TEMPLATE_FIELDS if name != "category"}
    values |= {"category": found.category.name, "tags": found.tags}
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        values = _sent_values()
        errors, status = _save(lambda data: templates.update_template(ctx, template_id, data, user), values)
        if not errors:
            return redirect(url_for("pages.admin_templates"))
    return _template_page("template_edit.html", user, values, errors, template=found), status


@bp.post("/admin/templates/<id:template_id>/delete")
@signed_in(ADMINS)
def admin_template_delete(user: CurrentUser, template_id: int) -> Any:
    templates.delete_template(service_context(), template_id, user)
    return redirect(url_for("pages.admin_templates"))


def _sent_values() -> dict[str, Any]:
    """The template form's fields, tags as a list."""
    values: dict[str, Any] = {name: request.form.get(name, "") for name in TEMPLATE_FIELDS}
    values["tags"] = forms.tag_names(request.form.get("tags", ""))
    return values


def _save(save: Callable[[TemplateIn], KnowledgeTemplate], values: dict[str, Any]) -> tuple[dict[str, str], int]:
    """Check the form as the API's body and save it: the refused fields' messages and the page's status."""
    try:
        save(TemplateIn.model_validate(values))
    except ValidationError as refused:
        return forms.messages(refused), 422
    except InvalidField as refused:
        return {refused.field: refused.message}, 422
    except Conflict as refused:
        # The service rolled back: what the page shows next is what is saved.
        return {"name": refused.message}, 409
    return {}, 200


def _template_page(name: str, user: CurrentUser, values: dict[str, Any], errors: dict[str, str], **context: Any) -> str:
    names = [category.name for category, _count in categories.list_categories(service_context(), user)]
    return render_template(
        name, **chrome(user), values=values, errors=errors, categories=names, priorities=PRIORITIES, **context
    )
