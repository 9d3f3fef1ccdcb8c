"""The review workflow's routes: the queue, and the steps that move an entry through review."""

from __future__ import annotations

from flask import Blueprint

from ..api import EDITORS, STEP_ROLES, endpoint
from ..context import service_context
from ..schemas.common import Page
from ..schemas.knowledge import KnowledgeOut, ReviewQueueItem, ReviewQueuePage, SendBackIn, WorkflowStepIn
from ..security import current_actor
from ..services.knowledge import reviews, workflow

bp = Blueprint("reviews", __name__, url_prefix="/api/v1/knowledge")


@bp.get("/review-queue")
@endpoint(
    summary="レビュー待ちの一覧（レビュー中のナレッジ、待っている時間の長い順）",
    tag="reviews",
    roles=EDITORS,
    query=Page,
    response=ReviewQueuePage,
)
def review_queue(query: Page) -> ReviewQueuePage:
    entries, total = reviews.review_queue(service_context(), limit=query.limit, offset=query.offset)
    items = [ReviewQueueItem.model_validate(entry) for entry in entries]
    return ReviewQueuePage(items=items, total=total, limit=query.limit, offset=query.offset)


def _step(knowledge_id: int, step: workflow.Step, version: int, comment: str | None) -> KnowledgeOut:
    found = workflow.take_step(service_context(), knowledge_id, step, version, comment, current_actor())
    return KnowledgeOut.model_validate(found)


@bp.post("/<id:knowledge_id>/submit")
@endpoint(
    summary="レビュー依頼（下書き → レビュー中。承認者に通知）",
    tag="reviews",
    roles=STEP_ROLES[workflow.SUBMIT],
    body=WorkflowStepIn,
    response=KnowledgeOut,
    errors=(404, 409),
)
def submit(knowledge_id: int, body: WorkflowStepIn) -> KnowledgeOut:
    return _step(knowledge_id, workflow.SUBMIT, body.version, body.comment)


@bp.post("/<id:knowledge_id>/approve")
@endpoint(
    summary="承認（レビュー中 → 承認済み。閲覧者に公開。自分が書いた変更は承認できない）",
    tag="reviews",
    roles=STEP_ROLES[workflow.APPROVE],
    body=WorkflowStepIn,
    response=KnowledgeOut,
    errors=(404, 409),
)
def approve(knowledge_id: int, body: WorkflowStepIn) -> KnowledgeOut:
    return _step(knowledge_id, workflow.APPROVE, body.version, body.comment)


@bp.post("/<id:knowledge_id>/send-back")
@endpoint(
    summary="差し戻し（レビュー中 → 下書き。理由は必須で、作成者に通知）",
    tag="reviews",
    roles=STEP_ROLES[workflow.SEND_BACK],
    body=SendBackIn,
    response=KnowledgeOut,
    errors=(404, 409),
)
def send_back(knowledge_id: int, body: SendBackIn) -> KnowledgeOut:
    return _step(knowledge_id, workflow.SEND_BACK, body.version, body.reason)


@bp.post("/<id:knowledge_id>/archive")
@endpoint(
    summary="アーカイブ（閲覧者に非公開。未承認の変更案は破棄し、版には残る）",
    tag="reviews",
    roles=STEP_ROLES[workflow.ARCHIVE],
    body=WorkflowStepIn,
    response=KnowledgeOut,
    errors=(404, 409),
)
def archive(knowledge_id: int, body: WorkflowStepIn) -> KnowledgeOut:
    return _step(knowledge_id, workflow.ARCHIVE, body.version, body.comment)


@bp.post("/<id:knowledge_id>/unarchive")
@endpoint(
    summary="アーカイブから戻す（下書きに戻る。公開には再度の承認が必要）",
    tag="reviews",
    roles=STEP_ROLES[workflow.UNARCHIVE],
    body=WorkflowStepIn,
    response=KnowledgeOut,
    errors=(404, 409),
)
def unarchive(knowledge_id: int, body: WorkflowStepIn) -> KnowledgeOut:
    return _step(knowledge_id, workflow.UNARCHIVE, body.version, body.comment)
