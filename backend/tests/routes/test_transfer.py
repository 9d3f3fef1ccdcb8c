"""Bulk import and export over the API, on both databases: a job per uploaded file, one at a time, its
outcome with the row-numbered errors; the export as a download in the import's columns."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from mks.app import create_app
from mks.context import service_context
from mks.db import get_session
from mks.models import ImportJob, Role, User, utcnow
from mks.schemas.users import UserCreate
from mks.services.transfer import jobs
from mks.services.users import create_user

from ..conftest import PASSWORDS, Auth, make_settings
from ..transfer import CSV, IMPORTS, finished, imported, upload

INVALID_ROW = "型枠の存置期間,,未登録,,,,,,,old-3\n"


def outcome(job: dict[str, Any]) -> dict[str, Any]:
    names = ("state", "file_name", "rows_total", "rows_done", "imported", "already_imported", "invalid", "message")
    return {name: job[name] for name in names}


def test_an_upload_is_imported_by_a_job_and_found_at_once(
    client: FlaskClient, admin: dict[str, str], viewer: dict[str, str]
) -> None:
    response = upload(client, admin, CSV)
    assert response.status_code == 202
    assert (response.json["state"], response.json["created_by"]["username"]) == ("queued", "admin")
    job = finished(client, admin, response.json["id"])
    assert outcome(job) == {
        "state": "done",
        "file_name": "upstream.csv",
        "rows_total": 2,
        "rows_done": 2,
        "imported": 2,
        "already_imported": 0,
        "invalid": 0,
        "message": "2 件を取り込みました。",
    }
    # The partner sees the approved row only, in search as in the list.
    found = client.get("/api/v1/knowledge/search", query_string={"q": "かぶり厚さ"}, headers=viewer).json
    assert [item["title"] for item in found["items"]] == ["鉄筋のかぶり厚さ確認"]
    assert [item["title"] for item in client.get("/api/v1/knowledge", headers=viewer).json["items"]] == [
        "鉄筋のかぶり厚さ確認"
    ]
    again = imported(client, admin)
    assert (again["imported"], again["already_imported"]) == (0, 2)
    audit = client.get("/api/v1/audit", query_string={"action": "knowledge.import"}, headers=admin).json["items"]
    assert [entry["details"]["imported"] for entry in audit] == [0, 2]


def test_a_file_with_an_invalid_row_imports_nothing_unless_invalid_rows_are_skipped(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    refused = imported(client, admin, CSV + INVALID_ROW)
    assert outcome(refused) == {
        "state": "failed",
        "file_name": "upstream.csv",
        "rows_total": 3,
        "rows_done": 0,
        "imported": 0,
        "already_imported": 0,
        "invalid": 1,
        "message": "1 行が不正なため、何も取り込んでいません（全 3 行）。",
    }
    assert refused["errors"] == [
        {
            "row": 4,
            "field": "category",
            "type": "unknown_category",
            "message": "未登録のカテゴリです（先にカテゴリを登録してください）。",
        }
    ]
    assert client.get("/api/v1/knowledge", headers=admin).json["total"] == 0
    response = upload(client, admin, CSV + INVALID_ROW, skip_invalid="true")
    skipped = finished(client, admin, response.json["id"])
    assert (skipped["state"], skipped["imported"], skipped["invalid"]) == ("done", 2, 1)


def test_one_import_runs_at_a_time(app: Flask, client: FlaskClient, admin: dict[str, str]) -> None:
    with app.app_context():
        ctx = service_context()
        actor = get_session().query(User).filter_by(username="admin").one()
        waiting = jobs.start_import(ctx, "waiting.csv", CSV.encode(), actor, skip_invalid=False)
    busy = upload(client, admin, CSV)
    assert (busy.status_code, busy.json["error"]["code"]) == (409, "import_running")
    # A job whose process stopped moving it on for longer than STALE gives up its place.
    with app.app_context():
        get_session().execute(update(ImportJob).values(updated_at=utcnow() - jobs.STALE - timedelta(seconds=1)))
        get_session().commit()
    assert imported(client, admin)["state"] == "done"
    stale = client.get(f"{IMPORTS}/{waiting.id}", headers=admin).json
    assert (stale["state"], stale["message"]) == (
        "failed",
        "取り込み中に処理が停止しました（再度アップロードしてください）。",
    )


def test_an_upload_of_another_kind_is_refused(client: FlaskClient, admin: dict[str, str]) -> None:
    response = upload(client, admin, CSV, name="upstream.xlsx")
    assert (response.status_code, response.json["error"]["details"]) == (
        422,
        [
            {
                "location": "body",
                "field": "file",
                "type": "unsupported_format",
                "message": "CSV（.csv）または JSON Lines（.jsonl）のファイルを指定してください。",
            }
        ],
    )
    assert client.get(f"{IMPORTS}/1", headers=admin).json["error"]["code"] == "import_not_found"


def test_an_upload_over_the_limit_is_refused(database_url: str, tmp_path: Path) -> None:
    app = create_app(make_settings(database_url, tmp_path / "small", import_max_bytes=64 * 1024))
    try:
        with app.app_context():
            admin = UserCreate(username="admin", display_name="admin", password=PASSWORDS["admin"], role=Role.ADMIN)
            create_user(service_context(), admin)
        headers = Auth(app.test_client()).headers("admin")
        response = upload(app.test_client(), headers, CSV * (1 + 64 * 1024 // len(CSV.encode())))
        refused = (response.status_code, response.json["error"]["message"])
        assert refused == (413, "ファイルが大きすぎます（upstream.csv、上限 64 KiB）。")
    finally:
        app.extensions["mks_db"].engine.dispose()


@pytest.mark.parametrize("file_format", ["csv", "jsonl"])
def test_the_export_downloads_every_entry_in_the_import_columns(
    client: FlaskClient, admin: dict[str, str], file_format: str
) -> None:
    imported(client, admin)
    with client.get("/api/v1/export", query_string={"format": file_format}, headers=admin) as response:
        body = response.get_data(as_text=True)
        headers = dict(response.headers)
    assert headers["Content-Disposition"] == f'attachment; filename="mks-export.{file_format}"'
    if file_format == "csv":
        assert headers["Content-Type"] == "text/csv; charset=utf-8"
        lines = body.splitlines()
        header = "external_id,title,summary,category,owner,content,tags,status,priority,project,review_due"
        assert lines[0] == f"\ufeff{header},id,created_at,updated_at"
        first = "old-1,鉄筋のかぶり厚さ確認,配筋検査の要点,品質,工事部,スペーサーの間隔を測る。"
        assert lines[1].startswith(f'{first},"かぶり厚さ,鉄筋",approved,high,P-001,,')
        assert len(lines) == 3
    else:
        assert headers["Content-Type"] == "application/x-ndjson"
        records = [json.loads(line) for line in body.splitlines()]
        assert [(record["external_id"], record["status"], record["tags"]) for record in records] == [
            ("old-1", "approved", ["かぶり厚さ", "鉄筋"]),
            ("old-2", "draft", ["足場"]),
        ]


def test_revisions_are_exported_in_json_lines_only(client: FlaskClient, admin: dict[str, str]) -> None:
    imported(client, admin)
    with client.get("/api/v1/export", query_string={"revisions": "true"}, headers=admin) as response:
        records = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert [[revision["revision"] for revision in record["revisions"]] for record in records] == [[1], [1]]
    refused = client.get("/api/v1/export", query_string={"format": "csv", "revisions": "true"}, headers=admin)
    assert (refused.status_code, refused.json["error"]["details"][0]["type"]) == (422, "revisions_need_jsonl")
