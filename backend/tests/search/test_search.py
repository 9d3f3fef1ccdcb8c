"""Japanese full-text search on real SQLite FTS5 and real PostgreSQL tsvector GIN indexes."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from mks.db import current_db, get_session
from mks.models import Category, Knowledge
from mks.search.base import FIELD_NAMES
from mks.search.postgresql import tsvector

from ..envelopes import field_error
from ..routes.test_knowledge import create, entry
from ..workflow import publish, step

SEARCH = "/api/v1/knowledge/search"

ENTRIES = [
    {
        "title": "寒中コンクリートの加熱養生",
        "summary": "ジェットヒーターで養生温度を保つ",
        "tags": ["養生", "冬期"],
        "content": "加熱養生では温度を 5℃ 以上に保ち、温度記録を残す。",
    },
    {
        "title": "散水養生の期間",
        "summary": "夏期の湿潤養生",
        "tags": ["養生"],
        "content": "打設後 5 日間は散水を続ける。",
    },
    {
        "title": "杭の支持層確認",
        "summary": "オーガー電流値で支持層を判定する",
        "tags": ["杭", "基礎"],
        "content": "既製杭の施工記録と試験杭の結果を照合する。",
    },
    {
        "title": "生コン受入検査",
        "summary": "スランプと空気量の許容差",
        "tags": ["品質"],
        "content": "スランプ 18cm の許容差は ±2.5cm。温度も記録する。",
    },
    {
        "title": 'OR と NEAR を含む "記号" のメモ',
        "summary": "検索語の記号テスト",
        "tags": ["記号"],
        "content": "50% 割増 と a_b の表記。",
    },
]


@pytest.fixture
def corpus(client: FlaskClient, admin: dict[str, str], approver: dict[str, str]) -> dict[str, int]:
    ids = {}
    for body in ENTRIES:
        ids[body["title"]] = publish(client, admin, approver, **entry(category="品質", **body))["id"]
    return ids


def search(client: FlaskClient, headers: dict[str, str], q: str, **params: Any) -> dict[str, Any]:
    response = client.get(SEARCH, query_string={"q": q, **params}, headers=headers)
    assert response.status_code == 200, response.json
    return response.json  # type: ignore[no-any-return]


def titles(result: dict[str, Any]) -> list[str]:
    return [item["title"] for item in result["items"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # 1 character
        ("杭", ["杭の支持層確認"]),
        # 2 characters: served by the gram index (a trigram index cannot)
        ("養生", ["寒中コンクリートの加熱養生", "散水養生の期間"]),
        ("温度", ["寒中コンクリートの加熱養生", "生コン受入検査"]),
        # 3 characters
        ("支持層", ["杭の支持層確認"]),
        # 6 characters
        ("寒中コンクリ", ["寒中コンクリートの加熱養生"]),
        # multi-term: every term must match
        ("養生 温度", ["寒中コンクリートの加熱養生"]),
        ("スランプ 温度", ["生コン受入検査"]),
        ("養生 スランプ", []),
        # normalization: full-width and case
        ("１８ＣＭ", ["生コン受入検査"]),
        ("スランプ　許容差", ["生コン受入検査"]),
        ("or", ['OR と NEAR を含む "記号" のメモ']),
    ],
)
def test_japanese_queries(
    client: FlaskClient, admin: dict[str, str], corpus: dict[str, int], query: str, expected: list[str]
) -> None:
    result = search(client, admin, query)
    assert sorted(titles(result)) == sorted(expected)
    assert result["total"] == len(expected)


def test_title_match_ranks_first_with_snippet(
    client: FlaskClient, admin: dict[str, str], corpus: dict[str, int]
) -> None:
    result = search(client, admin, "加熱養生")
    assert titles(result) == ["寒中コンクリートの加熱養生"]
    hit = result["items"][0]
    assert hit["snippet"] == "加熱養生では温度を 5℃ 以上に保ち、温度記録を残す。".replace(
        "加熱養生", "<mark>加熱養生</mark>"
    )
    assert hit["score"] > 0
    assert result["terms"] == ["加熱養生"]


def test_ranking_prefers_title_over_body(client: FlaskClient, admin: dict[str, str], corpus: dict[str, int]) -> None:
    result = search(client, admin, "温度")
    assert titles(result)[0] == "寒中コンクリートの加熱養生"
    assert result["items"][0]["score"] > result["items"][1]["score"]
    assert result["items"][0]["snippet"].count("<mark>温度</mark>") == 1


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('"記号"', ['OR と NEAR を含む "記号" のメモ']),
        ("NEAR", ['OR と NEAR を含む "記号" のメモ']),
        ("50%", ['OR と NEAR を含む "記号" のメモ']),
        ("a_b", ['OR と NEAR を含む "記号" のメモ']),
        # punctuation-only words are ignored (see test_punctuation_words_beside_searchable_ones_are_ignored)
        ('記号 "', ['OR と NEAR を含む "記号" のメモ']),
        ("表記 %", ['OR と NEAR を含む "記号" のメモ']),
        ("_ 表記", ['OR と NEAR を含む "記号" のメモ']),
        # a word with punctuation matches as written: 18cm holds c, but not °c
        ("温度 ℃", ["寒中コンクリートの加熱養生"]),  # NFKC: ℃ is °c, in the text as in the query
        ("養生*", []),
        ("'; DROP TABLE knowledge; --", []),
        ("NEAR(養生 温度)", []),
    ],
)
def test_query_syntax_is_searched_as_text(
    client: FlaskClient, admin: dict[str, str], corpus: dict[str, int], query: str, expected: list[str]
) -> None:
    assert titles(search(client, admin, query)) == expected


def test_snippet_escapes_html(client: FlaskClient, admin: dict[str, str], approver: dict[str, str]) -> None:
    publish(client, admin, approver, **entry(title="注意書き", summary="<script>alert(1)</script> 足場の注意", tags=[]))
    hit = search(client, admin, "足場")["items"][0]
    assert hit["snippet"] == "&lt;script&gt;alert(1)&lt;/script&gt; <mark>足場</mark>の注意"


def test_index_follows_updates(
    client: FlaskClient, admin: dict[str, str], approver: dict[str, str], corpus: dict[str, int]
) -> None:
    entry_id = corpus["杭の支持層確認"]
    # The entry is approved: the change is pending until it is submitted and approved.
    pending = client.put(
        f"/api/v1/knowledge/{entry_id}", json={"title": "場所打ち杭の先端処理", "tags": ["床付け"]}, headers=admin
    )
    assert pending.status_code == 200, pending.json
    step(client, approver, step(client, admin, pending.json, "submit"), "approve")
    assert titles(search(client, admin, "支持層")) == ["場所打ち杭の先端処理"]  # still in the summary
    assert titles(search(client, admin, "先端処理")) == ["場所打ち杭の先端処理"]
    assert titles(search(client, admin, "床付")) == ["場所打ち杭の先端処理"]
    assert search(client, admin, "基礎")["total"] == 0  # the old tag is gone from the index


def test_viewer_and_category_filters(
    client: FlaskClient, admin: dict[str, str], viewer: dict[str, str], corpus: dict[str, int]
) -> None:
    create(client, admin, title="養生シートの下書き", category="安全", tags=[])  # a draft, as every new entry
    assert "養生シートの下書き" in titles(search(client, admin, "養生"))
    assert "養生シートの下書き" not in titles(search(client, viewer, "養生"))
    assert titles(search(client, admin, "養生", category="安全")) == ["養生シートの下書き"]


def test_pagination_and_total(client: FlaskClient, admin: dict[str, str], corpus: dict[str, int]) -> None:
    first = search(client, admin, "養生", limit=1)
    second = search(client, admin, "養生", limit=1, offset=1)
    assert first["total"] == second["total"] == 2
    assert {*titles(first), *titles(second)} == {"寒中コンクリートの加熱養生", "散水養生の期間"}


@pytest.mark.parametrize("query", ["", "   ", "x" * 201])
def test_bad_queries(client: FlaskClient, admin: dict[str, str], query: str) -> None:
    response = client.get(SEARCH, query_string={"q": query}, headers=admin)
    assert response.status_code == 422
    assert response.json["error"]["details"][0]["field"] == "q"


def _plan(app: Flask, sql: str, **params: Any) -> str:
    with app.app_context():
        session = get_session()
        if current_db().dialect == "postgresql":
            session.execute(text("SET enable_seqscan = off"))  # tiny tables: ask whether an index *can* answer
            rows = session.execute(text(f"EXPLAIN {sql}"), params).scalars()
        else:
            rows = (row[-1] for row in session.execute(text(f"EXPLAIN QUERY PLAN {sql}"), params))
        return "\n".join(rows)


def test_indexes_answer_short_and_long_terms(app: Flask, corpus: dict[str, int]) -> None:
    """EXPLAIN, not assumption: each kind of term is answered by an index, not a table scan."""
    with app.app_context():
        dialect = current_db().dialect
    if dialect == "sqlite":
        # One table answers every length: a word as the phrase of its bigrams, one character as a prefix.
        long_plan = _plan(
            app, "SELECT rowid FROM knowledge_tokens WHERE knowledge_tokens MATCH :q", q='"加熱 熱養 養生"'
        )
        short_plan = _plan(app, "SELECT rowid FROM knowledge_tokens WHERE knowledge_tokens MATCH :q", q='"杭" *')
        assert "VIRTUAL TABLE INDEX" in long_plan and "M" in long_plan.split("INDEX")[1]
        assert "VIRTUAL TABLE INDEX" in short_plan and "M" in short_plan.split("INDEX")[1]
    else:
        # The same: a word as the phrase of its bigrams, one character as a prefix, from the GIN indexes.
        for column in ("head", "body"):
            query = f"SELECT knowledge_id FROM knowledge_search WHERE {column} @@ CAST(:q AS tsquery)"
            long_plan = _plan(app, query, q="'加熱' <-> '熱養' <-> '養生'")
            short_plan = _plan(app, query, q="'杭':*")
            assert f"Bitmap Index Scan on ix_knowledge_search_{column}" in long_plan
            assert f"Bitmap Index Scan on ix_knowledge_search_{column}" in short_plan


def test_pages_reach_the_deepest_result_and_no_further(
    client: FlaskClient, admin: dict[str, str], corpus: dict[str, int], app: Flask
) -> None:
    app.extensions["mks_settings"] = app.extensions["mks_settings"].model_copy(update={"search_max_results": 100})
    last_page = search(client, admin, "養生", limit=20, offset=80)
    assert (last_page["items"], last_page["total"], last_page["total_relation"]) == ([], 2, "eq")
    response = client.get(SEARCH, query_string={"q": "養生", "offset": 81, "limit": 20}, headers=admin)
    assert response.status_code == 422
    detail = response.json["error"]["details"][0]
    assert (detail["field"], detail["type"]) == ("offset", "search_depth")
    assert detail["message"] == (
        "検索結果は上位 100 件まで取得できます（offset + limit ≦ 100）。検索語を追加して絞り込んでください。"
    )


def test_total_is_exact_up_to_the_bound_then_a_lower_bound(
    client: FlaskClient, admin: dict[str, str], approver: dict[str, str], corpus: dict[str, int], app: Flask
) -> None:
    app.extensions["mks_settings"] = app.extensions["mks_settings"].model_copy(update={"search_exact_total": 2})
    at_bound = search(client, admin, "養生")
    assert (at_bound["total"], at_bound["total_relation"], len(at_bound["items"])) == (2, "eq", 2)
    publish(client, admin, approver, **entry(title="型枠の養生", tags=[]))
    above = search(client, admin, "養生")
    # Every match is still ranked: the count alone stops at the bound.
    assert (above["total"], above["total_relation"], len(above["items"])) == (2, "gte", 3)


def test_scores_weigh_title_tags_summary(
    app: Flask, client: FlaskClient, admin: dict[str, str], corpus: dict[str, int]
) -> None:
    # Both hold 養生 in title, tags and summary; the shorter fields of 散水養生の期間 weigh more.
    result = search(client, admin, "養生")
    assert titles(result) == ["散水養生の期間", "寒中コンクリートの加熱養生"]
    assert result["items"][0]["score"] > result["items"][1]["score"]
    body_only = search(client, admin, "温度")["items"]
    assert [item["title"] for item in body_only] == ["寒中コンクリートの加熱養生", "生コン受入検査"]
    assert body_only[0]["score"] > body_only[1]["score"] > 0


def test_postgres_vectors_label_fields_and_keep_phrases_within_one() -> None:
    """Each token quoted and labelled by its field's weight; positions skip one between fields. A character
    that is no token of its own (鉄, inside a run) follows without positions: a word of one character."""
    normalized = {"title": "鉄筋", "tags": "杭 a", "summary": "", "content": "鉄筋"}
    assert tsvector(normalized, ("title", "tags")) == "'鉄筋':1A '筋':2A '杭':4B 'a':5B '鉄'"
    assert tsvector(normalized, FIELD_NAMES) == "'鉄筋':1A,8D '筋':2A,9D '杭':4B 'a':5B '鉄'"
    assert tsvector({"title": "杭", "tags": "", "summary": "", "content": ""}, ("title", "tags")) == "'杭':1A"


UNINDEXABLE_QUERY = field_error(
    "query",
    "q",
    "unindexable_query",
    "文字・数字を含まない語（% や _ など記号だけの語）では検索できません。文字・数字を含む語を指定してください。",
)


@pytest.mark.parametrize("query", ["%", "_", '"', "% _", "-- ++", "±", "%%%"])
def test_queries_of_unindexable_terms_only_are_refused(
    client: FlaskClient, viewer: dict[str, str], corpus: dict[str, int], query: str
) -> None:
    """No index holds a word without a letter or digit: refused before touching the database."""
    response = client.get(SEARCH, query_string={"q": query}, headers=viewer)
    assert response.status_code == 422
    assert response.json == UNINDEXABLE_QUERY


@pytest.mark.parametrize(("query", "ignored"), [("養生 %", ["%"]), ("-- 養生 ±", ["--", "±"])])
def test_punctuation_words_beside_searchable_ones_are_ignored(
    client: FlaskClient, admin: dict[str, str], corpus: dict[str, int], query: str, ignored: list[str]
) -> None:
    result = search(client, admin, query)
    assert sorted(titles(result)) == ["寒中コンクリートの加熱養生", "散水養生の期間"]
    assert (result["terms"], result["ignored_terms"]) == (["養生"], ignored)


def test_terms_after_the_eighth_are_reported_as_ignored(
    client: FlaskClient, admin: dict[str, str], corpus: dict[str, int]
) -> None:
    query = "寒中 コンクリート 加熱 養生 ジェット ヒーター 温度 冬期 量子暗号 ＳＬＡＢ 養生"
    result = search(client, admin, query)
    assert titles(result) == ["寒中コンクリートの加熱養生"]
    # Normalized: katakana as hiragana, a final long-vowel mark dropped.
    assert result["terms"] == ["寒中", "こんくりーと", "加熱", "養生", "じぇっと", "ひーた", "温度", "冬期"]
    assert result["ignored_terms"] == ["量子暗号", "slab"]
    assert search(client, admin, "養生")["ignored_terms"] == []


CROWD = 2_000


def _crowd(app: Flask, content: str) -> None:
    """CROWD entries newer than everything before, each holding ``content`` in its body only."""
    with app.app_context():
        session = get_session()
        category_id = session.scalars(select(Category.id).where(Category.name == "品質")).one()
        session.add_all(
            Knowledge(title=f"日報 {n}", content=content, category_id=category_id, status="approved")
            for n in range(CROWD)
        )
        session.commit()


def test_every_word_in_title_or_tags_outranks_any_body_whatever_its_age(
    client: FlaskClient, admin: dict[str, str], approver: dict[str, str]
) -> None:
    in_title = publish(client, admin, approver, **entry(title="鉄筋のかぶり厚さ不足を防ぐ確認手順", tags=[]))["id"]
    in_tags = publish(client, admin, approver, **entry(title="配筋検査の記録", tags=["鉄筋", "かぶり厚さ"]))["id"]
    split = publish(client, admin, approver, **entry(title="鉄筋の加工", content="かぶり厚さ", tags=[]))["id"]
    _crowd(client.application, "鉄筋 かぶり厚さ 鉄筋 かぶり厚さ 鉄筋 かぶり厚さ")
    result = search(client, admin, "鉄筋 かぶり厚さ")
    assert {item["id"] for item in result["items"][:2]} == {in_title, in_tags}
    assert split not in [item["id"] for item in result["items"][:2]]
    assert (result["total"], result["total_relation"]) == (CROWD + 3, "eq")
    assert search(client, admin, "カブリ厚さ 鉄筋")["items"][0]["id"] in {in_title, in_tags}


def test_the_whole_query_as_a_phrase_outranks_the_words_scattered(
    app: Flask, client: FlaskClient, admin: dict[str, str], approver: dict[str, str]
) -> None:
    phrase = publish(
        client, admin, approver, **entry(title="日報", content="本日は鉄筋かぶり厚さを測定した。", tags=[])
    )
    _crowd(app, "鉄筋を組み、翌日かぶり厚さを測った。")
    result = search(client, admin, "鉄筋 かぶり厚さ")
    assert result["items"][0]["id"] == phrase["id"]


def test_a_rare_word_outranks_a_common_one(
    app: Flask, client: FlaskClient, admin: dict[str, str], approver: dict[str, str]
) -> None:
    rare_in_title = publish(client, admin, approver, **entry(title="鋲打機の点検", content="足場", tags=[]))["id"]
    _crowd(app, "足場")
    common_in_title = publish(client, admin, approver, **entry(title="足場の点検", content="鋲打機", tags=[]))["id"]
    result = search(client, admin, "足場 鋲打機")
    assert [item["id"] for item in result["items"]] == [rare_in_title, common_in_title]


@pytest.mark.parametrize(
    ("query", "snippet"),
    [
        ("カブリ", "鉄筋の<mark>かぶり</mark>厚さと<mark>カブリ</mark>の記録。コンピューターで管理"),
        ("コンピュータ", "鉄筋のかぶり厚さとカブリの記録。<mark>コンピューター</mark>で管理"),
        ("ｺﾝﾋﾟｭｰﾀｰ", "鉄筋のかぶり厚さとカブリの記録。<mark>コンピューター</mark>で管理"),
        ("こんぴゅーた", "鉄筋のかぶり厚さとカブリの記録。<mark>コンピューター</mark>で管理"),
    ],
)
def test_kana_and_long_vowel_variants_match_and_are_highlighted(
    client: FlaskClient, admin: dict[str, str], query: str, snippet: str
) -> None:
    found = create(
        client, admin, title="記録", summary="鉄筋のかぶり厚さとカブリの記録。コンピューターで管理", tags=[]
    )["id"]
    result = search(client, admin, query)
    assert [(item["id"], item["snippet"]) for item in result["items"]] == [(found, snippet)]


def test_the_synonym_list_widens_a_search_and_its_highlight(client: FlaskClient, admin: dict[str, str]) -> None:
    ready_mixed = create(client, admin, title="受入検査", summary="レディーミクストコンクリートの受入", tags=[])["id"]
    written_short = create(client, admin, title="生コンの手配", summary="前日までに発注", tags=[])["id"]
    assert [item["id"] for item in search(client, admin, "生コン")["items"]] == [written_short]
    response = client.post(
        "/api/v1/search/synonyms", json={"words": ["生コン", "レディーミクストコンクリート"]}, headers=admin
    )
    assert response.status_code == 201, response.json
    result = search(client, admin, "生コン")
    assert sorted((item["id"], item["snippet"]) for item in result["items"]) == [
        (ready_mixed, "<mark>レディーミクストコンクリート</mark>の受入"),
        (written_short, "<mark>生コン</mark>の手配"),
    ]
