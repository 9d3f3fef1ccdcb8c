"""Attachment routes: upload to an entry, list an entry's, download (or its thumbnail), delete."""

from __future__ import annotations

from flask import Blueprint, Response, send_file

from ..api import ANY_ROLE, EDITORS, Upload, endpoint
from ..context import service_context
from ..models import Actor
from ..schemas.knowledge import AttachmentList, AttachmentOut
from ..security import current_actor
from ..services.knowledge import attachments

bp = Blueprint("attachments", __name__, url_prefix="/api/v1")
# A stored file is never a page: nothing in it runs, even when opened directly.
FILE_POLICY = "default-src 'none'; sandbox"


@bp.post("/knowledge/<id:knowledge_id>/attachments")
@endpoint(
    summary="添付ファイルの追加（multipart の file。写真 JPEG・PNG・WebP・HEIC と PDF。種類は内容で判定し、"
    "写真は向きを直し位置情報を除いて保存。承認済みナレッジでは次の承認まで閲覧者に非公開）",
    tag="attachments",
    roles=EDITORS,
    upload="file",
    response=AttachmentOut,
    status=201,
    errors=(404, 409),
)
def add_attachment(knowledge_id: int, upload: Upload) -> AttachmentOut:
    files = [(upload.filename, upload.data)]
    (added,) = attachments.add_attachments(service_context(), knowledge_id, files, current_actor())
    return AttachmentOut.model_validate(added)


@bp.get("/knowledge/<id:knowledge_id>/attachments")
@endpoint(
    summary="ナレッジの添付ファイル一覧（閲覧者には最後の承認の時点の添付だけ）",
    tag="attachments",
    roles=ANY_ROLE,
    response=AttachmentList,
    errors=(404,),
)
def list_attachments(knowledge_id: int) -> AttachmentList:
    found = attachments.list_attachments(service_context(), knowledge_id, current_actor())
    return AttachmentList(items=[AttachmentOut.model_validate(item) for item in found])


def file_response(attachment_id: int, actor: Actor, *, thumbnail: bool) -> Response:
    """The attachment (or its thumbnail) as the actor may see it; the pages send it the same way."""
    info, stream = attachments.open_attachment(service_context(), attachment_id, actor, thumbnail=thumbnail)
    response = send_file(
        stream,
        mimetype="image/jpeg" if thumbnail else info.content_type,
        # Photos may show in the page; anything else (PDF) is only ever downloaded.
        as_attachment=not (thumbnail or info.content_type.startswith("image/")),
        download_name=info.filename,
        conditional=False,
        etag=False,
    )
    response.headers["Cache-Control"] = "private, max-age=300"
    response.headers["Content-Security-Policy"] = FILE_POLICY
    return response


@bp.get("/attachments/<id:attachment_id>")
@endpoint(
    summary="添付ファイルのダウンロード（写真は inline、PDF は attachment。nosniff・sandbox 付き）",
    tag="attachments",
    roles=ANY_ROLE,
    produces="application/octet-stream",
    errors=(404,),
)
def download(attachment_id: int) -> Response:
    return file_response(attachment_id, current_actor(), thumbnail=False)


@bp.get("/attachments/<id:attachment_id>/thumbnail")
@endpoint(
    summary="写真の縮小画像（JPEG、長辺 320 ピクセル）",
    tag="attachments",
    roles=ANY_ROLE,
    produces="image/jpeg",
    errors=(404,),
)
def thumbnail(attachment_id: int) -> Response:
    return file_response(attachment_id, current_actor(), thumbnail=True)


@bp.delete("/attachments/<id:attachment_id>")
@endpoint(
    summary="添付ファイルの削除（閲覧者からも直ちに消える）",
    tag="attachments",
    roles=EDITORS,
    status=204,
    errors=(404,),
)
def delete_attachment(attachment_id: int) -> None:
    attachments.delete_attachment(service_context(), attachment_id, current_actor())
