"""Synonym sets of the search: every role lists them, admins edit them."""

from __future__ import annotations

from flask import Blueprint

from ..api import ADMINS, ANY_ROLE, endpoint
from ..context import service_context
from ..models import SynonymSet
from ..schemas.synonyms import SynonymSetIn, SynonymSetList, SynonymSetOut
from ..security import current_actor
from ..services import synonyms

bp = Blueprint("synonyms", __name__, url_prefix="/api/v1")


def _out(synonym_set: SynonymSet) -> SynonymSetOut:
    return SynonymSetOut(
        id=synonym_set.id,
        words=[word.word for word in synonym_set.words],
        created_at=synonym_set.created_at,
        updated_at=synonym_set.updated_at,
    )


@bp.get("/search/synonyms")
@endpoint(summary="同義語の組の一覧", tag="search", roles=ANY_ROLE, response=SynonymSetList)
def list_synonym_sets() -> SynonymSetList:
    return SynonymSetList(items=[_out(item) for item in synonyms.list_synonym_sets(service_context())])


@bp.post("/search/synonyms")
@endpoint(
    summary="同義語の組の追加（管理者のみ）",
    tag="search",
    roles=ADMINS,
    body=SynonymSetIn,
    response=SynonymSetOut,
    status=201,
    errors=(409,),
)
def create_synonym_set(body: SynonymSetIn) -> SynonymSetOut:
    return _out(synonyms.create_synonym_set(service_context(), body.words, current_actor()))


@bp.put("/search/synonyms/<id:set_id>")
@endpoint(
    summary="同義語の組の語を置き換える（管理者のみ）",
    tag="search",
    roles=ADMINS,
    body=SynonymSetIn,
    response=SynonymSetOut,
    errors=(404, 409),
)
def update_synonym_set(set_id: int, body: SynonymSetIn) -> SynonymSetOut:
    return _out(synonyms.update_synonym_set(service_context(), set_id, body.words, current_actor()))


@bp.delete("/search/synonyms/<id:set_id>")
@endpoint(summary="同義語の組の削除（管理者のみ）", tag="search", roles=ADMINS, status=204, errors=(404,))
def delete_synonym_set(set_id: int) -> None:
    synonyms.delete_synonym_set(service_context(), set_id, current_actor())
