"""Use cases of entry templates: list and read them to start an entry; admins add, replace and delete them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..models import Actor, AuditAction, Category, KnowledgeTemplate
from ..schemas.templates import TemplateIn
from . import audit
from .context import Context
from .errors import Conflict, NotFound
from .knowledge.queries import category


def list_templates(ctx: Context, category_name: str | None = None) -> list[KnowledgeTemplate]:
    """The templates, of one category when named, by category then name."""
    statement = select(KnowledgeTemplate).join(Category).order_by(Category.id, KnowledgeTemplate.name)
    if category_name is not None:
        statement = statement.where(Category.name == category_name)
    return list(ctx.session.scalars(statement))


def get_template(ctx: Context, template_id: int) -> KnowledgeTemplate:
    found = ctx.session.get(KnowledgeTemplate, template_id)
    if found is None:
        raise NotFound("template_not_found", "テンプレートが見つかりません。")
    return found


def create_template(ctx: Context, data: TemplateIn, actor: Actor) -> KnowledgeTemplate:
    """Add a template; Conflict when its name is taken."""
    template = KnowledgeTemplate()
    _fill(ctx, template, data)
    ctx.session.add(template)
    _flush(ctx, data.name)
    audit.record(
        ctx, AuditAction.TEMPLATE_CREATE, actor, target_type="template", target_id=template.id, name=template.name
    )
    ctx.session.commit()
    return template


def update_template(ctx: Context, template_id: int, data: TemplateIn, actor: Actor) -> KnowledgeTemplate:
    """Replace every field of the template; Conflict when its new name is another's."""
    template = get_template(ctx, template_id)
    before = _fields(template)
    _fill(ctx, template, data)
    _flush(ctx, data.name)
    after = _fields(template)
    audit.record(
        ctx,
        AuditAction.TEMPLATE_UPDATE,
        actor,
        target_type="template",
        target_id=template.id,
        name=template.name,
        changed_fields=[name for name in after if after[name] != before[name]],
    )
    ctx.session.commit()
    return template


def delete_template(ctx: Context, template_id: int, actor: Actor) -> None:
    """Delete the template; entries started from it keep their text."""
    template = get_template(ctx, template_id)
    audit.record(
        ctx, AuditAction.TEMPLATE_DELETE, actor, target_type="template", target_id=template.id, name=template.name
    )
    ctx.session.delete(template)
    ctx.session.commit()


def _fields(template: KnowledgeTemplate) -> dict[str, object]:
    """The template's fields as TemplateIn names them."""
    return {name: getattr(template, name) for name in TemplateIn.model_fields if name != "category"} | {
        "category": template.category.name
    }


def _fill(ctx: Context, template: KnowledgeTemplate, data: TemplateIn) -> None:
    # The category first: its query would autoflush a half-filled template.
    template.category = category(ctx, data.category)
    template.name = data.name
    template.title = data.title
    template.summary = data.summary
    template.content = data.content
    template.tags = data.tags
    template.priority = data.priority


def _flush(ctx: Context, name: str) -> None:
    """Write the template; Conflict when another template has the name (a concurrent one too)."""
    try:
        ctx.session.flush()
    except IntegrityError:
        ctx.session.rollback()
        raise Conflict("template_exists", f"テンプレート「{name}」は既に存在します。") from None
