"""Bulk import and export through their services, on both databases: every row checked first, nothing
half-imported, idempotent by external_id, indexed for search in the same run, and an export that imports again."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from mks.dialects import BULK_CACHE_KIB, bulk_load
from mks.models import AuditEntry, Knowledge, KnowledgeRevision, Role, User
from mks.schemas.knowledge import KnowledgeUpdate, SearchQuery
from mks.schemas.transfer import FileFormat
from mks.schemas.users import UserCreate
from mks.services import users
from mks.services.context import Context
from mks.services.knowledge import searches, writes
from mks.services.transfer.exports import export_records
from mks.services.transfer.formats import write_records
from mks.services.transfer.imports import InvalidRows, check_file, import_file

HEADER = "title,summary,category,owner,content,tags,status,priority,project,external_id\n"
VALID = (
    "鉄筋のかぶり厚さ確認,配筋検査の要点,品質,工事部,"
    '"## 手順\nスペーサーの間隔を測る。",鉄筋、かぶり厚さ,approved,high,P-001,old-1\n'
    "足場の始業前点検,,安全,,手すりを確認する。,足場;点検,,,,old-2\n"
)
INVALID = (
    ",要約だけ,品質,,,,,,,old-3\n"  # row 4: no title
    "型枠の解体時期,,未登録,,,,draft,urgent,,old-4\n"  # row 5: unknown priority (the schema answers first)
    "型枠の存置期間,,未登録,,,,,,,old-5\n"  # row 6: unknown category
    "重複,,品質,,,,,,,old-1\n"  # row 7: external_id of row 2
)


@pytest.fixture
def admin(ctx: Context) -> User:
    data = UserCreate(username="admin", display_name="管理者", password="admin-pass-1", role=Role.ADMIN)
    return users.create_user(ctx, data)


def csv_file(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "upstream.csv"
    path.write_bytes(text.encode(encoding))
    return path


def entries(ctx: Context) -> list[dict[str, Any]]:
    return [
        {
            name: record[name]
            for name in ("external_id", "title", "category", "owner", "tags", "status", "priority", "project")
        }
        for record in export_records(ctx)
    ]


def imports_audited(ctx: Context) -> list[dict[str, Any]]:
    return [
        entry.details
        for entry in ctx.session.scalars(select(AuditEntry).where(AuditEntry.action == "knowledge.import"))
    ]


def test_every_invalid_row_is_reported_by_its_number_and_nothing_is_imported(
    ctx: Context, admin: User, tmp_path: Path
) -> None:
    path = csv_file(tmp_path, HEADER + VALID + INVALID)
    with pytest.raises(InvalidRows) as refused:
        import_file(ctx, path, FileFormat.CSV, admin)
    assert refused.value.code == "invalid_rows"
    assert refused.value.message == "4 行が不正なため、何も取り込んでいません（全 6 行）。"
    assert refused.value.details == [
        {"row": 4, "field": "title", "type": "missing", "message": "必須項目です。"},
        {"row": 5, "field": "priority", "type": "enum", "message": "許可されていない値です。"},
        {
            "row": 6,
            "field": "category",
            "type": "unknown_category",
            "message": "未登録のカテゴリです（先にカテゴリを登録してください）。",
        },
        {
            "row": 7,
            "field": "external_id",
            "type": "duplicate_external_id",
            "message": "同じ external_id の行が前にあります。",
        },
    ]
    assert ctx.session.scalar(select(func.count()).select_from(Knowledge)) == 0
    assert imports_audited(ctx) == []


def test_skipping_invalid_rows_imports_the_others_with_their_fields_status_revision_and_one_audit_entry(
    ctx: Context, admin: User, tmp_path: Path
) -> None:
    path = csv_file(tmp_path, HEADER + VALID + INVALID)
    done = import_file(ctx, path, FileFormat.CSV, admin, skip_invalid=True)
    assert (done.imported, done.already_imported, done.invalid) == (2, 0, 4)
    assert entries(ctx) == [
        {"external_id": "old-1", "title": "鉄筋のかぶり厚さ確認", "category": "品質", "owner": "工事部",
         "tags": ["かぶり厚さ", "鉄筋"], "status": "approved", "priority": "high", "project": "P-001"},
        {"external_id": "old-2", "title": "足場の始業前点検", "category": "安全", "owner": None,
         "tags": ["点検", "足場"], "status": "draft", "priority": "normal", "project": None},
    ]  # fmt: skip
    first = ctx.session.scalars(select(Knowledge).order_by(Knowledge.id)).first()
    assert first is not None and first.content == "## 手順\nスペーサーの間隔を測る。"
    revisions = ctx.session.scalars(select(KnowledgeRevision).order_by(KnowledgeRevision.id)).all()
    assert [(record.revision, record.changed_by_id, record.snapshot["status"]) for record in revisions] == [
        (1, admin.id, "approved"),
        (1, admin.id, "draft"),
    ]
    assert imports_audited(ctx) == [{"file": "upstream.csv", "imported": 2, "already_imported": 0, "invalid": 4}]


def test_importing_the_same_file_again_adds_nothing(ctx: Context, admin: User, tmp_path: Path) -> None:
    path = csv_file(tmp_path, HEADER + VALID)
    assert import_file(ctx, path, FileFormat.CSV, admin).imported == 2
    again = import_file(ctx, path, FileFormat.CSV, admin)
    assert (again.imported, again.already_imported) == (0, 2)
    assert ctx.session.scalar(select(func.count()).select_from(Knowledge)) == 2


def test_imported_entries_are_searchable_in_the_same_run(ctx: Context, admin: User, tmp_path: Path) -> None:
    import_file(ctx, csv_file(tmp_path, HEADER + VALID), FileFormat.CSV, admin)
    found = searches.search(ctx, SearchQuery(q="かぶり厚さ"), admin)
    assert [(hit.title, found.total) for hit in found.hits] == [("鉄筋のかぶり厚さ確認", 1)]


@pytest.mark.parametrize("encoding", ["cp932", "utf-8-sig"])
def test_a_csv_saved_by_japanese_excel_is_read(ctx: Context, admin: User, tmp_path: Path, encoding: str) -> None:
    path = csv_file(tmp_path, (HEADER + VALID).replace("\n", "\r\n"), encoding)
    assert import_file(ctx, path, FileFormat.CSV, admin).imported == 2
    assert [entry["title"] for entry in entries(ctx)] == ["鉄筋のかぶり厚さ確認", "足場の始業前点検"]


def test_unreadable_files_and_lines_are_reported(ctx: Context, tmp_path: Path) -> None:
    lines = tmp_path / "rows.jsonl"
    lines.write_text(
        '{"title": "a", "category": "品質"}\n\nnot json\n[1, 2]\n{"title": "b", "category": "品質", "color": "red"}\n'
    )
    checked = check_file(ctx, lines, FileFormat.JSONL)
    assert (checked.rows, checked.invalid) == (4, 3)
    assert [(error["row"], error["field"], error["type"]) for error in checked.errors] == [
        (3, "row", "invalid_json"),
        (4, "row", "object_expected"),
        (5, "color", "extra_forbidden"),
    ]
    header = csv_file(tmp_path, "title,colour\nx,y\n")
    assert check_file(ctx, header, FileFormat.CSV).errors == [
        {"row": 1, "field": "header", "type": "unknown_column", "message": "不明な列があります: colour"}
    ]


def test_an_export_holds_every_entry_with_its_revisions_and_imports_again(
    ctx: Context, admin: User, tmp_path: Path
) -> None:
    import_file(ctx, csv_file(tmp_path, HEADER + VALID), FileFormat.CSV, admin)
    draft = ctx.session.scalars(select(Knowledge).where(Knowledge.external_id == "old-2")).one()
    writes.update_knowledge(ctx, draft.id, KnowledgeUpdate(summary="手すりと筋かい"), admin)

    stream = io.StringIO()
    assert write_records(stream, FileFormat.JSONL, export_records(ctx, with_revisions=True)) == 2
    exported = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(record["summary"], [revision["revision"] for revision in record["revisions"]]) for record in exported] == [
        ("配筋検査の要点", [1]),
        ("手すりと筋かい", [1, 2]),
    ]
    assert exported[1]["revisions"][1] | {"changed_at": None} == {
        "revision": 2, "changed_by": "admin", "changed_at": None, "changed_fields": ["summary"], "comment": None,
        "title": "足場の始業前点検", "summary": "手すりと筋かい", "content": "手すりを確認する。", "category": "安全",
        "tags": ["点検", "足場"], "status": "draft", "priority": "normal", "project_code": None,
        "owner_department": None, "review_due": None,
    }  # fmt: skip

    for file_format in FileFormat:
        path = tmp_path / f"export.{file_format}"
        with path.open("w", encoding="utf-8", newline="") as written:
            write_records(written, file_format, export_records(ctx))
        again = import_file(ctx, path, file_format, admin)
        assert (again.imported, again.already_imported, again.invalid) == (0, 2, 0)


def test_a_bulk_load_enlarges_the_sqlite_page_cache_and_restores_it(ctx: Context) -> None:
    connection = ctx.session.connection()
    if connection.dialect.name != "sqlite":
        pytest.skip("a setting of SQLite's connections")
    before = connection.exec_driver_sql("PRAGMA cache_size").scalar_one()
    with bulk_load(ctx.session):
        assert connection.exec_driver_sql("PRAGMA cache_size").scalar_one() == -BULK_CACHE_KIB
    assert connection.exec_driver_sql("PRAGMA cache_size").scalar_one() == before == -2000
