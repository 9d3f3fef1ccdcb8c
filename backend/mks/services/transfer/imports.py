"""Importing a file of entries: every row is checked first, then the valid ones are added in one transaction.

Nothing is added when a row is invalid, unless the caller skips invalid rows. A row whose
``external_id`` is already an entry's is left alone, so importing a file again adds nothing twice.
The entries are indexed for search as they are added (search/sync.py), in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from ...dialects import bulk_load
from ...models import Actor, AuditAction, Category, Knowledge
from ...schemas.common import field_errors
from ...schemas.transfer import FileFormat, ImportRow
from .. import audit
from ..context import Context
from ..errors import DomainError
from ..knowledge.writes import NewEntry, add_entries
from .formats import read_records, row_error

# Rows added per flush: one batch of INSERTs each, and the session holds no more entries than this.
BATCH = 1_000
# Errors kept for the report: enough to fix a file, bounded for a file where every row is wrong.
ERRORS_KEPT = 1_000

Progress = Callable[[int, int], None]


def _no_progress(_done: int, _total: int) -> None:
    """Progress goes unreported (an API job reports its state, not its rows, while it imports)."""


@dataclass
class CheckedFile:
    """What the check of every row found: how many rows, how many invalid, and why (the first ERRORS_KEPT)."""

    rows: int = 0
    invalid: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def valid(self) -> int:
        return self.rows - self.invalid


@dataclass(frozen=True)
class Imported:
    imported: int
    already_imported: int  # rows whose external_id an entry already had
    invalid: int  # rows skipped as invalid


class InvalidRows(DomainError):
    """The file has invalid rows and invalid rows are not to be skipped: nothing was imported."""

    def __init__(self, checked: CheckedFile) -> None:
        super().__init__(
            "invalid_rows",
            f"{checked.invalid} 行が不正なため、何も取り込んでいません（全 {checked.rows} 行）。",
            details=checked.errors,
        )


def _rows(
    ctx: Context, path: Path, file_format: FileFormat
) -> Iterator[tuple[int, ImportRow | None, list[dict[str, Any]]]]:
    """Each row of the file: its number, and the row (valid) or its errors (invalid); the same every time it is read."""
    categories = set(ctx.session.scalars(select(Category.name)))
    external_ids: set[str] = set()
    with path.open("rb") as stream:
        for record in read_records(stream, file_format):
            if record.error is not None:
                yield record.row, None, [record.error]
                continue
            try:
                row = ImportRow.model_validate(record.values)
            except ValidationError as exc:
                yield record.row, None, [{"row": record.row, **error} for error in field_errors(exc, "row")]
                continue
            errors = []
            if row.category not in categories:
                errors.append(
                    row_error(
                        record.row,
                        "category",
                        "unknown_category",
                        "未登録のカテゴリです（先にカテゴリを登録してください）。",
                    )
                )
            if row.external_id is not None:
                if row.external_id in external_ids:
                    errors.append(
                        row_error(
                            record.row, "external_id", "duplicate_external_id", "同じ external_id の行が前にあります。"
                        )
                    )
                external_ids.add(row.external_id)
            yield record.row, (None if errors else row), errors


def check_file(ctx: Context, path: Path, file_format: FileFormat) -> CheckedFile:
    """Check every row of the file without importing any."""
    checked = CheckedFile()
    for _row, _valid, errors in _rows(ctx, path, file_format):
        checked.rows += 1
        if errors:
            checked.invalid += 1
            checked.errors.extend(errors[: ERRORS_KEPT - len(checked.errors)])
    return checked


def _already_imported(ctx: Context, rows: list[ImportRow]) -> set[str]:
    wanted = [row.external_id for row in rows if row.external_id is not None]
    if not wanted:
        return set()
    found = ctx.session.scalars(select(Knowledge.external_id).where(Knowledge.external_id.in_(wanted)))
    return {external_id for external_id in found if external_id is not None}


def import_file(
    ctx: Context,
    path: Path,
    file_format: FileFormat,
    actor: Actor,
    *,
    skip_invalid: bool = False,
    checked: CheckedFile | None = None,
    file_name: str | None = None,
    progress: Progress = _no_progress,
) -> Imported:
    """Import the file's valid rows as new entries, with their statuses, in one transaction committed at the end.

    ``checked``: the file's check when the caller ran it already; ``file_name``: the name the audit entry
    gives the file (else the path's). InvalidRows when a row is invalid and
    ``skip_invalid`` is not set. ``progress(done, total)`` counts the valid rows.
    """
    checked = checked or check_file(ctx, path, file_format)
    if checked.invalid and not skip_invalid:
        raise InvalidRows(checked)
    imported = already = done = 0
    progress(done, checked.valid)
    batch: list[ImportRow] = []

    def add_batch() -> None:
        nonlocal imported, already, done
        known = _already_imported(ctx, batch)
        new = [NewEntry(row.knowledge(), row.status, row.external_id) for row in batch if row.external_id not in known]
        if new:
            add_entries(ctx, new, actor)
        imported, already, done = imported + len(new), already + len(batch) - len(new), done + len(batch)
        batch.clear()
        progress(done, checked.valid)

    with bulk_load(ctx.session):
        for _row, valid, _errors in _rows(ctx, path, file_format):
            if valid is not None:
                batch.append(valid)
                if len(batch) == BATCH:
                    add_batch()
        if batch:
            add_batch()
        audit.record(
            ctx,
            AuditAction.KNOWLEDGE_IMPORT,
            actor,
            target_type="knowledge",
            file=file_name or path.name,
            imported=imported,
            already_imported=already,
            invalid=checked.invalid,
        )
        ctx.session.commit()
    return Imported(imported, already, checked.invalid)
