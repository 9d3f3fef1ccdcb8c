"""The synonym API: exact bodies, the audit entries re-read, conflicts and validation envelopes."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from ..envelopes import field_error

SYNONYMS = "/api/v1/search/synonyms"
AUDIT = "/api/v1/audit"


def created(client: FlaskClient, admin: dict[str, str], words: list[str]) -> dict[str, Any]:
    response = client.post(SYNONYMS, json={"words": words}, headers=admin)
    assert response.status_code == 201, response.json
    return response.json  # type: ignore[no-any-return]


def test_admin_edits_and_everyone_reads(client: FlaskClient, admin: dict[str, str], viewer: dict[str, str]) -> None:
    namakon = created(client, admin, ["生コン", " レディーミクストコンクリート "])
    assert set(namakon) == {"id", "words", "created_at", "updated_at"}
    assert namakon["words"] == ["生コン", "レディーミクストコンクリート"]
    assert namakon["created_at"].endswith("Z")
    ky = created(client, admin, ["ＫＹ", "危険予知"])
    assert ky["words"] == ["KY", "危険予知"]

    response = client.put(f"{SYNONYMS}/{ky['id']}", json={"words": ["KY", "危険予知", "危険予知活動"]}, headers=admin)
    assert response.status_code == 200
    assert response.json == {
        **ky,
        "words": ["KY", "危険予知", "危険予知活動"],
        "updated_at": response.json["updated_at"],
    }
    assert response.json["updated_at"] >= ky["updated_at"]

    listed = client.get(SYNONYMS, headers=viewer)
    assert listed.status_code == 200
    assert [item["words"] for item in listed.json["items"]] == [
        ["生コン", "レディーミクストコンクリート"],
        ["KY", "危険予知", "危険予知活動"],
    ]

    response = client.delete(f"{SYNONYMS}/{namakon['id']}", headers=admin)
    assert (response.status_code, response.data) == (204, b"")
    assert [item["id"] for item in client.get(SYNONYMS, headers=viewer).json["items"]] == [ky["id"]]

    log = client.get(AUDIT, query_string={"limit": 100}, headers=admin).json["items"]
    assert [
        (item["action"], item["actor_username"], item["target_type"], item["target_id"], item["details"])
        for item in log
        if item["action"].startswith("synonym.")
    ] == [
        (
            "synonym.delete",
            "admin",
            "synonym_set",
            namakon["id"],
            {"words": ["生コン", "レディーミクストコンクリート"]},
        ),
        (
            "synonym.update",
            "admin",
            "synonym_set",
            ky["id"],
            {"old": ["KY", "危険予知"], "new": ["KY", "危険予知", "危険予知活動"]},
        ),
        ("synonym.create", "admin", "synonym_set", ky["id"], {"words": ["KY", "危険予知"]}),
        (
            "synonym.create",
            "admin",
            "synonym_set",
            namakon["id"],
            {"words": ["生コン", "レディーミクストコンクリート"]},
        ),
    ]


def test_a_word_of_another_set_conflicts(client: FlaskClient, admin: dict[str, str]) -> None:
    namakon = created(client, admin, ["生コン", "レディーミクストコンクリート"])
    ky = created(client, admin, ["KY", "危険予知"])
    conflict = {
        "error": {
            "code": "synonym_word_taken",
            "message": "「生コン」は既に別の同義語の組にあります。",
            "status": 409,
            "details": [{"word": "生コン", "synonym_set_id": namakon["id"]}],
        }
    }
    response = client.post(SYNONYMS, json={"words": ["生コン", "生コンクリート"]}, headers=admin)
    assert (response.status_code, response.json) == (409, conflict)
    response = client.put(f"{SYNONYMS}/{ky['id']}", json={"words": ["KY", "生コン"]}, headers=admin)
    assert (response.status_code, response.json) == (409, conflict)
    # Its own words are no conflict.
    response = client.put(f"{SYNONYMS}/{ky['id']}", json={"words": ["危険予知", "ky"]}, headers=admin)
    assert (response.status_code, response.json["words"]) == (200, ["危険予知", "ky"])
    assert [item["words"] for item in client.get(SYNONYMS, headers=admin).json["items"]] == [
        ["生コン", "レディーミクストコンクリート"],
        ["危険予知", "ky"],
    ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, field_error("body", "words", "missing", "必須項目です。")),
        (
            {"words": ["生コン"]},
            field_error("body", "words", "synonym_words_too_few", "異なる語を 2 つ以上指定してください。"),
        ),
        (
            {"words": ["KY", "ｋｙ"]},
            field_error("body", "words", "synonym_words_too_few", "異なる語を 2 つ以上指定してください。"),
        ),
        ({"words": ["生コン", ""]}, field_error("body", "words.1", "string_too_short", "短すぎます。")),
        ({"words": ["生コン", "あ" * 51]}, field_error("body", "words.1", "string_too_long", "長すぎます。")),
        (
            {"words": ["生 コン", "生コン"]},
            field_error(
                "body",
                "words.0",
                "string_pattern_mismatch",
                "使用できない文字が含まれているか、形式が正しくありません。",
            ),
        ),
        ({"words": ["a", "b"], "note": "x"}, field_error("body", "note", "extra_forbidden", "不明な項目です。")),
        ({"words": [f"語{n}" for n in range(21)]}, field_error("body", "words", "too_long", "要素が多すぎます。")),
    ],
)
def test_invalid_bodies(client: FlaskClient, admin: dict[str, str], body: dict[str, Any], expected: Any) -> None:
    response = client.post(SYNONYMS, json=body, headers=admin)
    assert (response.status_code, response.json) == (422, expected)
    assert client.get(SYNONYMS, headers=admin).json == {"items": []}


def test_missing_set_is_404(client: FlaskClient, admin: dict[str, str]) -> None:
    missing = {"error": {"code": "synonym_set_not_found", "message": "同義語の組が見つかりません。", "status": 404}}
    response = client.put(f"{SYNONYMS}/999", json={"words": ["KY", "危険予知"]}, headers=admin)
    assert (response.status_code, response.json) == (404, missing)
    response = client.delete(f"{SYNONYMS}/999", headers=admin)
    assert (response.status_code, response.json) == (404, missing)
