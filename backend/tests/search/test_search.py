"""Japanese full-text search on real SQLite FTS5 and real PostgreSQL pg_trgm."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from mks.db import current_db, get_session
from mks.search.base import FIELD_NAMES, score_sql
from mks.search.postgresql import DOCUMENT, PostgresSearch
from mks.search.text import escape_like, parse_query

from ..envelopes import field_error
from ..plans import statements_sent
from ..routes.test_knowledge import create

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
def corpus(client: FlaskClient, admin: dict[str, str]) -> dict[str, int]:
    ids = {}
    for body in ENTRIES:
        ids[body["title"]] = create(client, admin, category="品質", status="approved", **body)["id"]
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
        # 1-2 character punctuation no index holds: it filters what the other terms found
        ('記号 "', ['OR と NEAR を含む "記号" のメモ']),
        ("表記 %", ['OR と NEAR を含む "記号" のメモ']),
        ("_ 表記", ['OR と NEAR を含む "記号" のメモ']),
        ("養生 %", []),
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


def test_snippet_escapes_html(client: FlaskClient, admin: dict[str, str]) -> None:
    create(client, admin, title="注意書き", summary="<script>alert(1)</script> 足場の注意", tags=[], status="approved")
    hit = search(client, admin, "足場")["items"][0]
    assert hit["snippet"] == "&lt;script&gt;alert(1)&lt;/script&gt; <mark>足場</mark>の注意"


def test_index_follows_updates(client: FlaskClient, admin: dict[str, str], corpus: dict[str, int]) -> None:
    entry_id = corpus["杭の支持層確認"]
    client.put(
        f"/api/v1/knowledge/{entry_id}", json={"title": "場所打ち杭の先端処理", "tags": ["床付け"]}, headers=admin
    )
    assert titles(search(client, admin, "支持層")) == ["場所打ち杭の先端処理"]  # still in the summary
    assert titles(search(client, admin, "先端処理")) == ["場所打ち杭の先端処理"]
    assert titles(search(client, admin, "床付")) == ["場所打ち杭の先端処理"]
    assert search(client, admin, "基礎")["total"] == 0  # the old tag is gone from the index


def test_viewer_and_category_filters(
    client: FlaskClient, admin: dict[str, str], viewer: dict[str, str], corpus: dict[str, int]
) -> None:
    create(client, admin, title="養生シートの下書き", status="draft", category="安全", tags=[])
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
        long_plan = _plan(app, "SELECT rowid FROM knowledge_fts WHERE knowledge_fts MATCH :q", q='"加熱養生"')
        short_plan = _plan(app, "SELECT rowid FROM knowledge_fts_grams WHERE knowledge_fts_grams MATCH :q", q='"養生"')
        assert "VIRTUAL TABLE INDEX" in long_plan and "M" in long_plan.split("INDEX")[1]
        assert "VIRTUAL TABLE INDEX" in short_plan
    else:
        long_plan = _plan(
            app,
            f"SELECT knowledge_id FROM knowledge_search s WHERE {DOCUMENT} LIKE :q",
            q="%加熱養生%",
        )
        short_plan = _plan(
            app, "SELECT knowledge_id FROM knowledge_search s WHERE s.grams @> CAST(:g AS text[])", g=["養生"]
        )
        assert "Bitmap Index Scan on ix_knowledge_search_trgm" in long_plan
        assert "Bitmap Index Scan on ix_knowledge_search_grams" in short_plan


@pytest.fixture
def window_of_three(app: Flask) -> None:
    app.extensions["mks_settings"] = app.extensions["mks_settings"].model_copy(update={"search_window": 3})


def test_search_ranks_the_newest_window_of_matches(
    client: FlaskClient, admin: dict[str, str], corpus: dict[str, int], window_of_three: None
) -> None:
    newer = [create(client, admin, title=f"型枠 {n}", content="養生 期間", tags=[])["id"] for n in range(3)]
    result = search(client, admin, "養生")
    # Five entries match; the window holds the three newest, so the title hits of older ones drop out.
    assert [item["id"] for item in result["items"]] == newer[::-1]
    assert [item["score"] for item in result["items"]] == [3.0, 3.0, 3.0]  # 1 + the default summary
    assert (result["total"], result["total_relation"]) == (3, "gte")
    below = search(client, admin, "加熱養生")
    assert (below["total"], below["total_relation"]) == (1, "eq")


def test_pages_stop_at_the_window(
    client: FlaskClient, admin: dict[str, str], corpus: dict[str, int], window_of_three: None
) -> None:
    newer = [create(client, admin, title=f"型枠 {n}", content="養生", tags=[])["id"] for n in range(3)]
    oldest_in_window = newer[0]
    last_page = search(client, admin, "養生", limit=20, offset=2)
    assert [item["id"] for item in last_page["items"]] == [oldest_in_window]
    response = client.get(SEARCH, query_string={"q": "養生", "offset": 3}, headers=admin)
    assert response.status_code == 422
    detail = response.json["error"]["details"][0]
    assert (detail["field"], detail["type"]) == ("offset", "search_window")
    assert "上位 3 件まで" in detail["message"]


def test_scores_weigh_title_tags_summary(client: FlaskClient, admin: dict[str, str], corpus: dict[str, int]) -> None:
    # Both: title 5 + tags 3 + summary 2 + match 1; the tie goes to the newer entry.
    result = search(client, admin, "養生")
    assert [(item["title"], item["score"]) for item in result["items"]] == [
        ("散水養生の期間", 11.0),
        ("寒中コンクリートの加熱養生", 11.0),
    ]
    assert search(client, admin, "温度")["items"][1]["score"] == 1.0  # 生コン受入検査: body only


def test_postgres_document_holds_every_searchable_field() -> None:
    """The trigram index's expression, spelled as its migration does, covers exactly the searchable fields."""
    assert sorted(re.findall(r"s\.(\w+)", DOCUMENT)) == sorted(FIELD_NAMES)


def test_postgres_walks_newest_first_for_common_terms(app: Flask, client: FlaskClient, admin: dict[str, str]) -> None:
    """A term in most entries is found by walking the newest entries, a rare one through the GIN index;
    both give the same window."""
    with app.app_context():
        if current_db().dialect != "postgresql":
            pytest.skip("PostgreSQL only: SQLite's FTS5 walks newest first for every term")
    for n in range(12):
        create(client, admin, title=f"生コンクリート 打設 {n}", content="記録" if n % 2 else "鋲打機", tags=[])
    with app.app_context():
        connection = get_session().connection()
        connection.execute(text("ANALYZE knowledge_search"))
        backend = PostgresSearch()
        for query, walks in (("コンクリート", True), ("鋲打機", False)):
            terms = parse_query(query).terms
            params: dict[str, Any] = {"window": 3}
            score_sql(terms, params, find="strpos")
            walked = backend._newest_by_walk(connection, terms, [], dict(params))
            indexed = backend._newest_by_index(connection, terms, [], dict(params))
            assert (walked is not None) is walks
            if walked is not None:
                assert walked == indexed
            assert len(indexed) == 3
        # Which of the two a term takes is decided per query: a cached generic plan must not decide it.
        assert connection.execute(text("SHOW plan_cache_mode")).scalar_one() == "force_custom_plan"


UNINDEXABLE_QUERY = field_error(
    "query",
    "q",
    "unindexable_query",
    "記号だけの 1〜2 文字の語（% や _ など）は索引で検索できないため、"
    "それだけでは検索できません。文字・数字を含む語か 3 文字以上の語を加えてください。",
)


@pytest.mark.parametrize("query", ["%", "_", '"', "% _", "-- ++", "℃", "±"])
def test_queries_of_unindexable_terms_only_are_refused(
    client: FlaskClient, viewer: dict[str, str], corpus: dict[str, int], query: str
) -> None:
    """Every row would be read for them (340-640 ms at 100k entries): refused before touching the database."""
    response = client.get(SEARCH, query_string={"q": query}, headers=viewer)
    assert response.status_code == 422
    assert response.json == UNINDEXABLE_QUERY


def test_unindexable_terms_filter_the_window_of_the_indexed_terms(
    client: FlaskClient, admin: dict[str, str], corpus: dict[str, int], window_of_three: None
) -> None:
    """The indexed terms find their newest window of candidates; a punctuation term only filters those,
    so it reads at most the window, never every row."""
    older = create(client, admin, title="型枠 旧", content="養生 ±0", tags=[])["id"]
    for n in range(2):
        create(client, admin, title=f"型枠 {n}", content="養生", tags=[])
    newest = create(client, admin, title="型枠 新", content="養生 ±1", tags=[])["id"]
    found = search(client, admin, "養生 ±")
    # 養生's window holds the three newest entries: older, outside it, is not read for ±, and the
    # total is a lower bound.
    assert [(item["id"], item["score"]) for item in found["items"]] == [(newest, 3.0 + 1.0)]  # 養生 in the summary
    assert (found["total"], found["total_relation"], found["terms"]) == (1, "gte", ["養生", "±"])
    rare = search(client, admin, "旧 ±")
    assert ([item["id"] for item in rare["items"]], rare["total"], rare["total_relation"]) == ([older], 1, "eq")


def _explained(app: Flask, client: FlaskClient, headers: dict[str, str], query: str) -> str:
    """The plans of every statement one search request sends, as the planner would run them with no
    table scan allowed where an index can do (tiny tables would be scanned anyway)."""
    engine = app.extensions["mks_db"].engine
    with statements_sent(engine) as sent:
        assert client.get(SEARCH, query_string={"q": query}, headers=headers).status_code == 200
    plans = []
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("SET enable_seqscan = off")
        explain = "EXPLAIN" if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN"
        for statement, parameters in sent:
            if "knowledge_fts" in statement or "knowledge_search s" in statement:
                plans.extend(str(row[-1]) for row in connection.exec_driver_sql(f"{explain} {statement}", parameters))
    return "\n".join(plans)


@pytest.mark.parametrize(
    ("query", "index"),
    [("表記 %", "ix_knowledge_search_grams"), ("near _", "ix_knowledge_search_trgm")],
)
def test_unindexable_terms_read_only_the_candidates_of_an_index(
    app: Flask, client: FlaskClient, admin: dict[str, str], corpus: dict[str, int], query: str, index: str
) -> None:
    """EXPLAIN of what a mixed search sends: the candidates come from an index; the punctuation term
    is never a condition an index or a scan would have to answer for every entry."""
    plan = _explained(app, client, admin, query)
    scan_term = query.split()[1]
    if app.extensions["mks_db"].engine.dialect.name == "sqlite":
        # FTS5's idxStr: M for a MATCH, = for a rowid lookup; an empty one reads the whole table.
        lookups = re.findall(r"VIRTUAL TABLE INDEX \d+:(\S*)", plan)
        assert lookups and all("M" in found or "=" in found for found in lookups), plan
    else:
        assert f"Bitmap Index Scan on {index}" in plan
        assert "Seq Scan" not in plan
        assert escape_like(scan_term) not in plan, plan  # no LIKE on the term: pg_trgm would read the whole index
        assert "Index Cond: (knowledge_id = ANY" in plan  # the term is checked on the candidates only


def test_terms_after_the_eighth_are_reported_as_ignored(
    client: FlaskClient, admin: dict[str, str], corpus: dict[str, int]
) -> None:
    query = "寒中 コンクリート 加熱 養生 ジェット ヒーター 温度 冬期 量子暗号 ＳＬＡＢ 養生"
    result = search(client, admin, query)
    assert titles(result) == ["寒中コンクリートの加熱養生"]
    assert result["terms"] == ["寒中", "コンクリート", "加熱", "養生", "ジェット", "ヒーター", "温度", "冬期"]
    assert result["ignored_terms"] == ["量子暗号", "slab"]
    assert search(client, admin, "養生")["ignored_terms"] == []
