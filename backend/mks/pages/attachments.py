"""An entry's photos and PDFs on the pages: shown, added (several at once, from a phone), deleted."""

from __future__ import annotations

from typing import Any

from flask import current_app, redirect, request, url_for

from ..api import ANY_ROLE, EDITORS, read_upload
from ..config import Settings
from ..context import service_context
from ..errors import ApiError
from ..models import CurrentUser
from ..routes.attachments import file_response
from ..services.knowledge import attachments
from .common import MAX_FILES_PER_SEND, bp, signed_in

FILES_FIELD = "files"


@bp.get("/attachments/<id:attachment_id>")
@signed_in(ANY_ROLE)
def attachment(user: CurrentUser, attachment_id: int) -> Any:
    return file_response(attachment_id, user, thumbnail=False)


@bp.get("/attachments/<id:attachment_id>/thumbnail")
@signed_in(ANY_ROLE)
def attachment_thumbnail(user: CurrentUser, attachment_id: int) -> Any:
    return file_response(attachment_id, user, thumbnail=True)


@bp.post("/knowledge/<id:knowledge_id>/attachments")
@signed_in(EDITORS)
def add_attachments(user: CurrentUser, knowledge_id: int) -> Any:
    settings: Settings = current_app.extensions["mks_settings"]
    sent = [upload for upload in request.files.getlist(FILES_FIELD) if upload.filename]
    if not sent:
        raise ApiError(422, message="追加する写真か PDF を選んでください。")
    if len(sent) > MAX_FILES_PER_SEND:
        raise ApiError(422, message=f"一度に追加できるのは {MAX_FILES_PER_SEND} 個までです。")
    files = [read_upload(upload, settings.attachment_max_bytes) for upload in sent]
    attachments.add_attachments(service_context(), knowledge_id, [(file.filename, file.data) for file in files], user)
    return redirect(url_for("pages.entry", knowledge_id=knowledge_id, _anchor="attachments"))


@bp.post("/attachments/<id:attachment_id>/delete")
@signed_in(EDITORS)
def delete_attachment(user: CurrentUser, attachment_id: int) -> Any:
    knowledge_id = attachments.delete_attachment(service_context(), attachment_id, user)
    return redirect(url_for("pages.entry", knowledge_id=knowledge_id, _anchor="attachments"))
