"""Attachments through the API: upload, safe download, partner isolation, limits, storage, on both databases."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from mks.config import Settings

from ..conftest import make_settings
from ..test_files import photo, png_header
from ..test_metrics import parse, scrape
from ..workflow import publish, step

BASE = "/api/v1/knowledge"
FILES = "/api/v1/attachments"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def upload(client: FlaskClient, headers: dict[str, str], entry_id: int, data: bytes, name: str) -> Any:
    form = {"file": (io.BytesIO(data), name)}
    return client.post(f"{BASE}/{entry_id}/attachments", data=form, headers=headers, content_type="multipart/form-data")


def fetched(client: FlaskClient, headers: dict[str, str], path: str) -> tuple[int, dict[str, str], bytes]:
    with client.get(path, headers=headers) as response:
        return response.status_code, dict(response.headers), response.get_data()


def draft(client: FlaskClient, headers: dict[str, str]) -> dict[str, Any]:
    return client.post(BASE, json={"title": "配筋検査の記録", "category": "品質"}, headers=headers).json  # type: ignore[no-any-return]


def test_a_photo_is_served_upright_without_its_location_and_never_as_a_page(
    client: FlaskClient, editor: dict[str, str]
) -> None:
    entry = draft(client, editor)
    response = upload(client, editor, entry["id"], photo(turned=True), "DCIM/100APPLE/配筋 北側.jpg")
    assert response.status_code == 201, response.json
    added = response.json
    assert {name: added[name] for name in ("filename", "content_type", "width", "height", "has_thumbnail")} == {
        "filename": "配筋 北側.jpg",  # the folder the client named is dropped
        "content_type": "image/jpeg",
        "width": 300,
        "height": 400,
        "has_thumbnail": True,
    }
    status, headers, body = fetched(client, editor, f"{FILES}/{added['id']}")
    assert (status, headers["Content-Type"], len(body)) == (200, "image/jpeg", added["size"])
    # The ASCII fallback keeps what ASCII it can; browsers take the UTF-8 name (RFC 6266).
    encoded = "%E9%85%8D%E7%AD%8B%20%E5%8C%97%E5%81%B4.jpg"
    assert headers["Content-Disposition"] == f"inline; filename=\" .jpg\"; filename*=UTF-8''{encoded}"
    assert (headers["X-Content-Type-Options"], headers["Content-Security-Policy"]) == (
        "nosniff",
        "default-src 'none'; sandbox",
    )
    assert headers["Cache-Control"] == "private, max-age=300"
    image = Image.open(io.BytesIO(body))
    assert (image.size, 0x8825 in image.getexif()) == ((300, 400), False)  # upright, no GPS
    status, headers, body = fetched(client, editor, f"{FILES}/{added['id']}/thumbnail")
    assert (status, headers["Content-Type"], Image.open(io.BytesIO(body)).size) == (200, "image/jpeg", (240, 320))

    pdf = upload(client, editor, entry["id"], PDF, "施工計画書.pdf").json
    status, headers, body = fetched(client, editor, f"{FILES}/{pdf['id']}")
    assert (status, headers["Content-Type"], body) == (200, "application/pdf", PDF)
    assert headers["Content-Disposition"].startswith("attachment;")  # downloaded, never shown inline
    status, _headers, body = fetched(client, editor, f"{FILES}/{pdf['id']}/thumbnail")
    assert status == 404

    listed = client.get(f"{BASE}/{entry['id']}/attachments", headers=editor).json["items"]
    assert [item["filename"] for item in listed] == ["配筋 北側.jpg", "施工計画書.pdf"]
    history = client.get(f"{BASE}/{entry['id']}/revisions", headers=editor).json["items"]
    assert [item["changed_fields"] for item in history[:2]] == [["attachments"], ["attachments"]]


@pytest.mark.parametrize(
    ("data", "name", "kind"),
    [
        (b"<html><body><script>alert(document.cookie)</script></body></html>", "site.jpg", "unsupported_file_type"),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>',
            "a.png",
            "unsupported_file_type",
        ),
        (b"", "empty.jpg", "empty_file"),
        (png_header(100_000, 100_000), "plan.png", "image_too_large"),
    ],
    ids=["html-named-jpg", "svg-with-script", "zero-bytes", "gigapixels"],
)
def test_a_hostile_file_is_refused_and_nothing_is_stored(
    app: Flask, client: FlaskClient, editor: dict[str, str], settings: Settings, data: bytes, name: str, kind: str
) -> None:
    entry = draft(client, editor)
    response = upload(client, editor, entry["id"], data, name)
    assert (response.status_code, response.json["error"]["details"]) == (
        422,
        [
            {
                "location": "body",
                "field": "file",
                "type": kind,
                "message": response.json["error"]["details"][0]["message"],
            }
        ],
    )
    assert client.get(f"{BASE}/{entry['id']}/attachments", headers=editor).json["items"] == []
    assert client.get(f"{BASE}/{entry['id']}", headers=editor).json["version"] == 1  # no revision either
    assert not settings.attachments_path.exists()


def test_an_upload_needs_a_multipart_file(client: FlaskClient, editor: dict[str, str]) -> None:
    entry = draft(client, editor)
    as_json = client.post(f"{BASE}/{entry['id']}/attachments", json={"file": "x"}, headers=editor)
    assert (as_json.status_code, as_json.json["error"]["code"]) == (415, "unsupported_media_type")
    no_file = client.post(
        f"{BASE}/{entry['id']}/attachments", data={"note": "x"}, headers=editor, content_type="multipart/form-data"
    )
    assert (no_file.status_code, no_file.json["error"]["details"][0]["field"]) == (422, "file")


def test_partners_see_an_attachment_only_once_approved(
    client: FlaskClient, editor: dict[str, str], admin: dict[str, str], viewer: dict[str, str]
) -> None:
    entry = publish(client, editor, admin, title="配筋検査の記録", category="品質")  # version 3
    added = upload(client, editor, entry["id"], photo(), "配筋.jpg").json
    # The file waits like a text change: the approved entry now has a pending change in draft.
    seen_by_writer = client.get(f"{BASE}/{entry['id']}", headers=editor).json
    assert (seen_by_writer["status"], seen_by_writer["pending"]["status"], seen_by_writer["version"]) == (
        "approved",
        "draft",
        4,
    )
    assert client.get(f"{BASE}/{entry['id']}/attachments", headers=viewer).json["items"] == []
    for path in (f"{FILES}/{added['id']}", f"{FILES}/{added['id']}/thumbnail"):
        status, _headers, body = fetched(client, viewer, path)
        assert status == 404 and b"attachment_not_found" in body

    step(client, admin, step(client, editor, seen_by_writer, "submit"), "approve")
    assert [item["id"] for item in client.get(f"{BASE}/{entry['id']}/attachments", headers=viewer).json["items"]] == [
        added["id"]
    ]
    assert fetched(client, viewer, f"{FILES}/{added['id']}")[0] == 200

    # A draft's attachments are as hidden as the draft.
    hidden = draft(client, editor)
    secret = upload(client, editor, hidden["id"], PDF, "見積書.pdf").json
    status, _headers, body = fetched(client, viewer, f"{FILES}/{secret['id']}")
    assert status == 404 and b"attachment_not_found" in body
    listed = client.get(f"{BASE}/{hidden['id']}/attachments", headers=viewer)
    assert (listed.status_code, listed.json["error"]["code"]) == (404, "knowledge_not_found")
    assert client.delete(f"{FILES}/{added['id']}", headers=viewer).status_code == 403


def test_files_are_stored_once_counted_and_removed_with_their_last_attachment(
    client: FlaskClient, editor: dict[str, str], admin: dict[str, str], settings: Settings
) -> None:
    first, second = draft(client, editor), draft(client, editor)
    picture = photo()
    one = upload(client, editor, first["id"], picture, "a.jpg").json
    two = upload(client, editor, second["id"], picture, "b.jpg").json
    stored = sorted(path for path in settings.attachments_path.rglob("*") if path.is_file())
    assert len(stored) == 2  # the photo and its thumbnail, once for both entries
    assert parse(scrape(client))["mks_attachment_storage_bytes"][()] == sum(path.stat().st_size for path in stored)

    assert client.delete(f"{FILES}/{one['id']}", headers=editor).status_code == 204
    assert all(path.exists() for path in stored)  # the second entry still refers to them
    assert client.delete(f"{BASE}/{second['id']}", headers=admin).status_code == 204  # its attachment goes with it
    assert not any(path.exists() for path in stored)
    assert parse(scrape(client))["mks_attachment_storage_bytes"][()] == 0
    status, _headers, _body = fetched(client, editor, f"{FILES}/{two['id']}")
    assert status == 404
    log = client.get("/api/v1/audit", query_string={"action": "attachment.delete"}, headers=admin).json["items"]
    assert [(item["actor_username"], item["details"]["filename"]) for item in log] == [("yamada", "a.jpg")]


class TestLimits:
    @pytest.fixture
    def settings(self, database_url: str, tmp_path: Path) -> Settings:
        return make_settings(
            database_url, tmp_path / "instance", attachment_max_bytes=64 * 1024, attachment_max_per_entry=2
        )

    def test_a_file_over_the_limit_and_one_file_too_many_are_refused(
        self, client: FlaskClient, editor: dict[str, str]
    ) -> None:
        entry = draft(client, editor)
        too_big = upload(client, editor, entry["id"], b"%PDF-1.4\n" + b"0" * 64 * 1024, "大きい.pdf")
        assert (too_big.status_code, too_big.json["error"]["code"]) == (413, "payload_too_large")
        for name in ("1.pdf", "2.pdf"):
            assert upload(client, editor, entry["id"], PDF, name).status_code == 201
        third = upload(client, editor, entry["id"], PDF, "3.pdf")
        assert (third.status_code, third.json["error"]["code"]) == (409, "too_many_attachments")
        listed = client.get(f"{BASE}/{entry['id']}/attachments", headers=editor).json["items"]
        assert [item["filename"] for item in listed] == ["1.pdf", "2.pdf"]
