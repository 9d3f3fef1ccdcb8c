"""Knowledge routes: list, search, read, write, revisions, tags (the review workflow: routes.reviews)."""

from __future__ import annotations

from flask import Blueprint, request

from ..api import ADMINS, ANY_ROLE, EDITORS, endpoint
from ..context import service_context
from ..ratelimit import search_limit
from ..schemas.knowledge import (
    KnowledgeCreate,
    KnowledgeListQuery,
    KnowledgeOut,
    KnowledgePage,
    KnowledgeSummary,
    KnowledgeUpdate,
    RestoreIn,
    RevisionDiffOut,
    RevisionDiffQuery,
    RevisionList,
    RevisionOut,
    RevisionSummary,
    SearchFacetsOut,
    SearchHitOut,
    SearchPage,
    SearchQuery,
    SortKey,
    TagCount,
    TagCountList,
)
from ..security import current_actor
from ..services.knowledge import reads, revisions, searches, writes
from ..services.knowledge.queries import INDEXED_SORTS

bp = Blueprint("knowledge", __name__, url_prefix="/api/v1/knowledge")


def _sorted_by_index() -> bool:
    # Read before the query is validated: an unknown sort counts against the budget, then answers 422.
    return request.args.get("sort", SortKey.UPDATED_DESC.value) in INDEXED_SORTS


@bp.get("")
@search_limit(exempt_when=_sorted_by_index)
@endpoint(
    summary="ナレッジ一覧（絞り込み・並べ替え・ページング）",
    tag="knowledge",
    roles=ANY_ROLE,
    query=KnowledgeListQuery,
    response=KnowledgePage,
)
def list_knowledge(query: KnowledgeListQuery) -> KnowledgePage:
    entries, total, next_cursor = reads.list_knowledge(service_context(), query, current_actor())
    items = [KnowledgeSummary.model_validate(entry) for entry in entries]
    return KnowledgePage(items=items, total=total, limit=query.limit, offset=query.offset, next_cursor=next_cursor)


@bp.post("")
@endpoint(
    summary="ナレッジ作成", tag="knowledge", roles=EDITORS, body=KnowledgeCreate, response=KnowledgeOut, status=201
)
def create_knowledge(body: KnowledgeCreate) -> KnowledgeOut:
    return KnowledgeOut.model_validate(writes.create_knowledge(service_context(), body, current_actor()))


@bp.get("/search")
@search_limit()
@endpoint(
    summary="全文検索（日本語対応、全語一致、関連度順、抜粋付き）",
    tag="knowledge",
    roles=ANY_ROLE,
    query=SearchQuery,
    response=SearchPage,
)
def search(query: SearchQuery) -> SearchPage:
    results = searches.search(service_context(), query, current_actor())
    return SearchPage(
        items=[SearchHitOut.model_validate(hit) for hit in results.hits],
        total=results.total,
        total_relation="eq" if results.total_is_exact else "gte",
        facets=SearchFacetsOut.model_validate(results.facets) if results.facets is not None else None,
        limit=query.limit,
        offset=query.offset,
        terms=results.terms,
        ignored_terms=results.ignored_terms,
    )


@bp.get("/tags")
@endpoint(summary="使用中のタグと件数", tag="knowledge", roles=ANY_ROLE, response=TagCountList)
def tags() -> TagCountList:
    counts = reads.tag_counts(service_context(), current_actor())
    return TagCountList(items=[TagCount(name=name, count=count) for name, count in counts])


@bp.get("/<id:knowledge_id>")
@endpoint(
    summary="ナレッジ詳細（GET は閲覧数を加算、HEAD は加算しない）",
    tag="knowledge",
    roles=ANY_ROLE,
    response=KnowledgeOut,
    errors=(404,),
)
def get_knowledge(knowledge_id: int) -> KnowledgeOut:
    # A probe (a link checker, a cache) is not a reader: HEAD reads without counting a view.
    use_case = reads.read if request.method == "HEAD" else reads.view
    return KnowledgeOut.model_validate(use_case(service_context(), knowledge_id, current_actor()))


@bp.put("/<id:knowledge_id>")
@endpoint(
    summary="ナレッジ更新（指定した項目のみ。変更があれば版を記録）",
    tag="knowledge",
    roles=EDITORS,
    body=KnowledgeUpdate,
    response=KnowledgeOut,
    errors=(404, 409),
)
def update_knowledge(knowledge_id: int, body: KnowledgeUpdate) -> KnowledgeOut:
    updated = writes.update_knowledge(service_context(), knowledge_id, body, current_actor())
    return KnowledgeOut.model_validate(updated)


@bp.delete("/<id:knowledge_id>")
@endpoint(summary="ナレッジ削除（管理者のみ）", tag="knowledge", roles=ADMINS, status=204, errors=(404,))
def delete_knowledge(knowledge_id: int) -> None:
    writes.delete_knowledge(service_context(), knowledge_id, current_actor())


@bp.get("/<id:knowledge_id>/revisions")
@endpoint(summary="版の一覧（新しい順）", tag="knowledge", roles=ANY_ROLE, response=RevisionList, errors=(404,))
def list_revisions(knowledge_id: int) -> RevisionList:
    found = revisions.list_revisions(service_context(), knowledge_id, current_actor())
    return RevisionList(items=[RevisionSummary.from_revision(item.record, item.changed_fields) for item in found])


@bp.get("/<id:knowledge_id>/revisions/<id:revision>")
@endpoint(summary="特定の版の内容", tag="knowledge", roles=ANY_ROLE, response=RevisionOut, errors=(404,))
def get_revision(knowledge_id: int, revision: int) -> RevisionOut:
    found = revisions.revision(service_context(), knowledge_id, revision, current_actor())
    return RevisionOut.from_revision(found.record, found.changed_fields)


@bp.get("/<id:knowledge_id>/revisions/<id:revision>/diff")
@endpoint(
    summary="版の差分（項目ごと、本文は行ごと。against=approved で最後に承認された版と比べる）",
    tag="knowledge",
    roles=ANY_ROLE,
    query=RevisionDiffQuery,
    response=RevisionDiffOut,
    errors=(404,),
)
def diff_revision(knowledge_id: int, revision: int, query: RevisionDiffQuery) -> RevisionDiffOut:
    found = revisions.diff(service_context(), knowledge_id, revision, query.base, current_actor())
    return RevisionDiffOut.model_validate(found)


@bp.post("/<id:knowledge_id>/revisions/<id:revision>/restore")
@endpoint(
    summary="この版に戻す（ステータス以外の項目を新しい版として記録）",
    tag="knowledge",
    roles=EDITORS,
    body=RestoreIn,
    response=KnowledgeOut,
    errors=(404, 409),
)
def restore_revision(knowledge_id: int, revision: int, body: RestoreIn) -> KnowledgeOut:
    restored = revisions.restore(service_context(), knowledge_id, revision, body.version, current_actor())
    return KnowledgeOut.model_validate(restored)
