"""Photos and PDFs on the pages: several added at once from a phone, all or none, shown only to who may see them."""

from __future__ import annotations

import io
import random
from typing import Any

import pytest
from flask.testing import FlaskClient
from PIL import Image
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from tests.pages.test_pages import csrf_of, sign_in
from tests.test_files import photo
from tests.workflow import publish

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

BASE = "/api/v1/knowledge"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def attach(client: FlaskClient, entry_id: int, *files: tuple[bytes, str], csrf: str | None = None) -> Any:
    token = csrf if csrf is not None else csrf_of(client, f"/knowledge/{entry_id}")
    form = MultiDict([("csrf_token", token), *(("files", FileStorage(io.BytesIO(data), name)) for data, name in files)])
    # Encoded in memory: the test client would spool a large body to a file it never closes.
    boundary, body = encode_multipart(form)
    content_type = f"multipart/form-data; boundary={boundary}"
    return client.post(f"/knowledge/{entry_id}/attachments", data=body, content_type=content_type)


def listed(client: FlaskClient, headers: dict[str, str], entry_id: int) -> list[str]:
    return [item["filename"] for item in client.get(f"{BASE}/{entry_id}/attachments", headers=headers).json["items"]]


def revisions(client: FlaskClient, headers: dict[str, str], entry_id: int) -> list[list[str]]:
    """Each revision's changed fields, newest first; the creation's as ["created"]."""
    items = client.get(f"{BASE}/{entry_id}/revisions", headers=headers).json["items"]
    return [item["changed_fields"] if item["revision"] > 1 else ["created"] for item in items]


def noisy_photo(size: tuple[int, int]) -> bytes:
    """A photo that compresses badly, as a site photo does: larger than every form but the photo form may send."""
    noise = random.Random(7).randbytes(size[0] * size[1] * 3)
    output = io.BytesIO()
    Image.frombytes("RGB", size, noise).save(output, format="JPEG", quality=95)
    return output.getvalue()


def test_two_photos_from_a_phone_are_added_at_once_as_one_change_without_their_location(
    client: FlaskClient, editor: dict[str, str]
) -> None:
    entry = client.post(BASE, json={"title": "足場の手すり外れ", "category": "安全"}, headers=editor).json
    sign_in(client, "yamada")
    large = noisy_photo((1200, 960))
    assert len(large) > 1024 * 1024  # over the 1 MiB every other request may send
    response = attach(client, entry["id"], (photo(turned=True), "DCIM/北側.jpg"), (large, "南側.jpg"))
    assert (response.status_code, response.headers["Location"]) == (302, f"/knowledge/{entry['id']}#attachments")
    assert listed(client, editor, entry["id"]) == ["北側.jpg", "南側.jpg"]
    assert revisions(client, editor, entry["id"]) == [["attachments"], ["created"]]  # one revision for the two files

    page = client.get(f"/knowledge/{entry['id']}").get_data(as_text=True)
    ids = [item["id"] for item in client.get(f"{BASE}/{entry['id']}/attachments", headers=editor).json["items"]]
    assert f'<img src="/attachments/{ids[0]}/thumbnail" alt="写真: 北側.jpg" width="160" loading="lazy">' in page
    with client.get(f"/attachments/{ids[0]}") as served:
        assert (served.status_code, served.headers["Content-Security-Policy"]) == (200, "default-src 'none'; sandbox")
        image = Image.open(io.BytesIO(served.get_data()))
    assert (image.size, 0x8825 in image.getexif()) == ((300, 400), False)  # upright, no GPS
    with client.get(f"/attachments/{ids[1]}/thumbnail") as thumbnail:
        assert (thumbnail.status_code, thumbnail.headers["Content-Type"]) == (200, "image/jpeg")
        assert Image.open(io.BytesIO(thumbnail.get_data())).size == (320, 256)


def test_one_refused_file_keeps_all_of_them_out(client: FlaskClient, editor: dict[str, str]) -> None:
    entry = client.post(BASE, json={"title": "型枠の点検記録", "category": "品質"}, headers=editor).json
    sign_in(client, "yamada")
    response = attach(client, entry["id"], (photo(), "正面.jpg"), (b"MZ\x90\x00 not a photo", "setup.exe"))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "setup.exe: " in page and "正面.jpg" not in page
    assert (listed(client, editor, entry["id"]), revisions(client, editor, entry["id"])) == ([], [["created"]])

    too_many = attach(client, entry["id"], *[(photo(), f"{number}.jpg") for number in range(6)])
    assert too_many.status_code == 422
    assert "一度に追加できるのは 5 個までです。" in too_many.get_data(as_text=True)
    nothing = attach(client, entry["id"])
    assert (nothing.status_code, "追加する写真か PDF を選んでください。" in nothing.get_data(as_text=True)) == (
        422,
        True,
    )
    assert listed(client, editor, entry["id"]) == []


def test_a_photo_form_without_its_csrf_token_changes_nothing(client: FlaskClient, editor: dict[str, str]) -> None:
    entry = client.post(BASE, json={"title": "型枠の点検記録", "category": "品質"}, headers=editor).json
    sign_in(client, "yamada")
    csrf_of(client, f"/knowledge/{entry['id']}")
    assert attach(client, entry["id"], (photo(), "正面.jpg"), csrf="forged").status_code == 403
    assert listed(client, editor, entry["id"]) == []


def test_a_partner_sees_the_photos_of_the_approved_version_only(
    client: FlaskClient, editor: dict[str, str], approver: dict[str, str]
) -> None:
    entry = publish(client, editor, approver, title="足場の点検手順", summary="点検", content="手すりを確かめる")
    sign_in(client, "yamada")
    attach(client, entry["id"], (photo(), "未承認.jpg"), (PDF, "点検表.pdf"))
    (pending, pdf) = client.get(f"{BASE}/{entry['id']}/attachments", headers=editor).json["items"]
    assert "未承認.jpg" in client.get(f"/knowledge/{entry['id']}").get_data(as_text=True)
    with client.get(f"/attachments/{pdf['id']}") as downloaded:
        assert downloaded.headers["Content-Disposition"].startswith("attachment;")

    client.delete_cookie("mks_session")
    sign_in(client, "partner")
    page = client.get(f"/knowledge/{entry['id']}").get_data(as_text=True)
    assert "未承認.jpg" not in page and "添付ファイル" not in page  # nothing to show, no form to add
    printed = client.get(f"/knowledge/{entry['id']}/print").get_data(as_text=True)
    assert "未承認.jpg" not in printed
    for path in (f"/attachments/{pending['id']}", f"/attachments/{pending['id']}/thumbnail"):
        with client.get(path) as refused:
            assert refused.status_code == 404
    assert attach(client, entry["id"], (photo(), "x.jpg")).status_code == 403


def test_a_writer_deletes_an_attachment_from_the_entry_page(client: FlaskClient, editor: dict[str, str]) -> None:
    entry = client.post(BASE, json={"title": "配筋検査の記録", "category": "品質"}, headers=editor).json
    sign_in(client, "yamada")
    attach(client, entry["id"], (photo(), "配筋.jpg"), (PDF, "検査表.pdf"))
    (first, _second) = client.get(f"{BASE}/{entry['id']}/attachments", headers=editor).json["items"]
    token = csrf_of(client, f"/knowledge/{entry['id']}")
    response = client.post(f"/attachments/{first['id']}/delete", data={"csrf_token": token})
    assert (response.status_code, response.headers["Location"]) == (302, f"/knowledge/{entry['id']}#attachments")
    assert listed(client, editor, entry["id"]) == ["検査表.pdf"]
    with client.get(f"/attachments/{first['id']}") as gone:
        assert gone.status_code == 404
