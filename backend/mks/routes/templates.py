"""Entry templates: editors list and read them to start an entry, admins keep them."""

from __future__ import annotations

from flask import Blueprint

from ..api import ADMINS, EDITORS, endpoint
from ..context import service_context
from ..models import KnowledgeTemplate, Priority
from ..schemas.templates import TemplateIn, TemplateList, TemplateOut, TemplateQuery
from ..security import current_actor
from ..services import templates

bp = Blueprint("templates", __name__, url_prefix="/api/v1")


def _out(template: KnowledgeTemplate) -> TemplateOut:
    return TemplateOut(
        id=template.id,
        name=template.name,
        category=template.category.name,
        title=template.title,
        summary=template.summary,
        content=template.content,
        tags=template.tags,
        priority=Priority(template.priority),
        created_at=template.created_at,
        updated_at=template.updated_at,
    )


@bp.get("/templates")
@endpoint(
    summary="テンプレート一覧（新しいナレッジの書き出し。編集者・管理者）",
    tag="templates",
    roles=EDITORS,
    query=TemplateQuery,
    response=TemplateList,
)
def list_templates(query: TemplateQuery) -> TemplateList:
    return TemplateList(items=[_out(item) for item in templates.list_templates(service_context(), query.category)])


@bp.get("/templates/<id:template_id>")
@endpoint(summary="テンプレートの取得", tag="templates", roles=EDITORS, response=TemplateOut, errors=(404,))
def get_template(template_id: int) -> TemplateOut:
    return _out(templates.get_template(service_context(), template_id))


@bp.post("/templates")
@endpoint(
    summary="テンプレートの追加（管理者のみ）",
    tag="templates",
    roles=ADMINS,
    body=TemplateIn,
    response=TemplateOut,
    status=201,
    errors=(409,),
)
def create_template(body: TemplateIn) -> TemplateOut:
    return _out(templates.create_template(service_context(), body, current_actor()))


@bp.put("/templates/<id:template_id>")
@endpoint(
    summary="テンプレートの置き換え（管理者のみ）",
    tag="templates",
    roles=ADMINS,
    body=TemplateIn,
    response=TemplateOut,
    errors=(404, 409),
)
def update_template(template_id: int, body: TemplateIn) -> TemplateOut:
    return _out(templates.update_template(service_context(), template_id, body, current_actor()))


@bp.delete("/templates/<id:template_id>")
@endpoint(summary="テンプレートの削除（管理者のみ）", tag="templates", roles=ADMINS, status=204, errors=(404,))
def delete_template(template_id: int) -> None:
    templates.delete_template(service_context(), template_id, current_actor())
