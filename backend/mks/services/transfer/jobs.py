"""Imports over the API: the uploaded file is kept in the instance folder and imported outside the request,
one job at a time, its progress and outcome in its row (``import_jobs``) for any process to answer.

While a job checks its file, each step is committed; the import itself is one transaction (imports.py),
so the row says ``importing`` until it commits or fails. A job whose process died stays ``importing``
with an old ``updated_at``: a new job may replace it after STALE.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ...models import Actor, ImportJob, ImportState, User, utcnow
from ...schemas.transfer import FileFormat
from ..context import Context
from ..errors import Conflict, NotFound
from .formats import format_of
from .imports import InvalidRows, check_file, import_file

log = logging.getLogger(__name__)

# Longer than any import of a file the API accepts (MKS_IMPORT_MAX_BYTES) takes, even on SQLite.
STALE = timedelta(minutes=30)
ERRORS_SHOWN = 100


def upload_path(ctx: Context, job: ImportJob) -> Path:
    return ctx.settings.instance_path / "imports" / f"job-{job.id}.{job.file_format}"


def _retire_stale(ctx: Context) -> None:
    """Mark a running job whose process stopped moving it on as failed, freeing the slot."""
    ctx.session.execute(
        update(ImportJob)
        .where(ImportJob.running.is_not(None), ImportJob.updated_at < utcnow() - STALE)
        .values(
            running=None,
            state=ImportState.FAILED,
            message="取り込み中に処理が停止しました（再度アップロードしてください）。",
        )
    )


def start_import(ctx: Context, file_name: str, data: bytes, actor: Actor, *, skip_invalid: bool) -> ImportJob:
    """Keep the file and queue its import; Conflict while another job runs."""
    file_format: FileFormat = format_of(file_name)
    _retire_stale(ctx)
    job = ImportJob(file_name=file_name, file_format=file_format, skip_invalid=skip_invalid, created_by_id=actor.id)
    ctx.session.add(job)
    try:
        ctx.session.flush()
    except IntegrityError:
        ctx.session.rollback()
        raise Conflict(
            "import_running", "別の取り込みを実行中です。終わってからもう一度アップロードしてください。"
        ) from None
    path = upload_path(ctx, job)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    ctx.session.commit()
    return job


def get_import(ctx: Context, job_id: int) -> ImportJob:
    job = ctx.session.get(ImportJob, job_id)
    if job is None:
        raise NotFound("import_not_found", "指定された取り込みが見つかりません。")
    return job


def _moved_on(ctx: Context, job: ImportJob, state: ImportState, **values: object) -> None:
    job.state = state
    job.updated_at = utcnow()
    for name, value in values.items():
        setattr(job, name, value)
    if state in (ImportState.DONE, ImportState.FAILED):
        job.running = None
    ctx.session.commit()


def run_import(ctx: Context, job_id: int) -> None:
    """Check and import the job's file, recording each step and the outcome on the job; the file is then deleted."""
    job = get_import(ctx, job_id)
    path = upload_path(ctx, job)
    try:
        actor = ctx.session.scalars(select(User).where(User.id == job.created_by_id)).one()
        _moved_on(ctx, job, ImportState.VALIDATING)
        file_format = FileFormat(job.file_format)
        checked = check_file(ctx, path, file_format)
        errors = checked.errors[:ERRORS_SHOWN]
        _moved_on(ctx, job, ImportState.IMPORTING, rows_total=checked.rows, invalid=checked.invalid, errors=errors)
        try:
            done = import_file(
                ctx,
                path,
                file_format,
                actor,
                skip_invalid=job.skip_invalid,
                checked=checked,
                file_name=job.file_name,
            )
        except InvalidRows as exc:
            _moved_on(ctx, job, ImportState.FAILED, message=exc.message)
            return
        _moved_on(
            ctx,
            job,
            ImportState.DONE,
            rows_done=checked.rows,
            imported=done.imported,
            already_imported=done.already_imported,
            message=f"{done.imported} 件を取り込みました。",
        )
    except Exception:  # the job must end, whatever happened: its row says it failed, the log says why
        log.exception("import job %s failed", job_id)
        ctx.session.rollback()
        job = get_import(ctx, job_id)
        _moved_on(
            ctx,
            job,
            ImportState.FAILED,
            message="取り込みに失敗しました（何も取り込んでいません）。詳細はサーバーのログにあります。",
        )
    finally:
        path.unlink(missing_ok=True)
