"""Bulk import and export for admins: upload a file to import (a job), follow the job, download every entry."""

from __future__ import annotations

from flask import Blueprint, Response

from ..api import ADMINS, Upload, endpoint
from ..context import in_background, service_context, streamed
from ..schemas.transfer import ExportQuery, FileFormat, ImportJobOut, ImportUploadQuery
from ..security import current_actor
from ..services.transfer import jobs
from ..services.transfer.exports import export_records
from ..services.transfer.formats import rendered

bp = Blueprint("transfer", __name__, url_prefix="/api/v1")
MEDIA_TYPES = {FileFormat.CSV: "text/csv", FileFormat.JSONL: "application/x-ndjson"}


@bp.post("/imports")
@endpoint(
    summary="ナレッジの一括取り込み（multipart の file。CSV は上流 MKS のテンプレートの列、または JSON Lines。"
    "全行を検証してから 1 トランザクションで取り込む。同時に 1 つだけ。状態は GET /imports/{id}）",
    tag="transfer",
    roles=ADMINS,
    upload="file",
    upload_max_bytes=lambda settings: settings.import_max_bytes,
    query=ImportUploadQuery,
    response=ImportJobOut,
    status=202,
    errors=(409,),
)
def start_import(upload: Upload, query: ImportUploadQuery) -> ImportJobOut:
    job = jobs.start_import(
        service_context(), upload.filename, upload.data, current_actor(), skip_invalid=query.skip_invalid
    )
    in_background(lambda ctx: jobs.run_import(ctx, job.id), name=f"mks-import-{job.id}")
    return ImportJobOut.model_validate(job)


@bp.get("/imports/<id:job_id>")
@endpoint(
    summary="一括取り込みの状態（検証の結果、不正な行の理由、取り込んだ件数）",
    tag="transfer",
    roles=ADMINS,
    response=ImportJobOut,
    errors=(404,),
)
def import_status(job_id: int) -> ImportJobOut:
    return ImportJobOut.model_validate(jobs.get_import(service_context(), job_id))


@bp.get("/export")
@endpoint(
    summary="全ナレッジの書き出し（取り込みと同じ列。format=csv または jsonl、revisions=true で履歴も（jsonl のみ））",
    tag="transfer",
    roles=ADMINS,
    query=ExportQuery,
    produces=", ".join(MEDIA_TYPES.values()),
)
def export(query: ExportQuery) -> Response:
    body = streamed(lambda ctx: rendered(query.format, export_records(ctx, with_revisions=query.revisions)))
    response = Response(body, mimetype=MEDIA_TYPES[query.format])
    response.headers["Content-Disposition"] = f'attachment; filename="mks-export.{query.format}"'
    return response
