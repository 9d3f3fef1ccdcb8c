"""Search facets: the matches counted per category and per status, on real SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ..plans import statements_sent
from ..routes.test_knowledge import entry
from ..workflow import created_in
from .test_search import search as search_without_facets

# Matches of 足場, in the order they are created (and so found: see test_facets_above_the_bound_are_lower_bounds).
MATCHES = [
    ("安全", "approved"),
    ("品質", "archived"),
    ("安全", "draft"),
    ("施工計画", "draft"),
    ("安全", "approved"),
    ("品質", "approved"),
    ("安全", "review"),
    ("施工計画", "draft"),
    ("安全", "approved"),
]


@pytest.fixture
def corpus(client: FlaskClient, admin: dict[str, str], approver: dict[str, str]) -> None:
    for number, (category, status) in enumerate(MATCHES, start=1):
        created_in(client, admin, approver, status, **entry(title=f"足場の点検 {number}", tags=[], category=category))
    created_in(client, admin, approver, "approved", **entry(title="鉄筋の定着長さ", tags=[], category="原価"))


def search(client: FlaskClient, headers: dict[str, str], q: str, **params: Any) -> dict[str, Any]:
    return search_without_facets(client, headers, q, facets="true", **params)


def test_facets_are_counted_only_when_asked_for(
    client: FlaskClient, admin: dict[str, str], corpus: None, app: Flask
) -> None:
    engine = app.extensions["mks_db"].engine
    with statements_sent(engine) as sent:
        result = search_without_facets(client, admin, "足場")
    assert (result["total"], result["total_relation"], result["facets"]) == (9, "eq", None)
    assert not [statement for statement, _ in sent if "GROUP BY category_id, status" in statement]


def facets(categories: dict[str, int], statuses: dict[str, int], *, exact: bool) -> dict[str, Any]:
    """The facets as the response writes them, each list in the order given."""
    return {
        "categories": [{"name": name, "count": count} for name, count in categories.items()],
        "statuses": [{"status": status, "count": count} for status, count in statuses.items()],
        "exact": exact,
    }


def found(result: dict[str, Any]) -> tuple[int, str, dict[str, Any]]:
    """The total, its relation and the facets, category ids left out (they depend on the database)."""
    answered = result["facets"]
    categories = [{"name": item["name"], "count": item["count"]} for item in answered["categories"]]
    return result["total"], result["total_relation"], {**answered, "categories": categories}


def test_facets_count_every_match_by_category_and_status(
    client: FlaskClient, admin: dict[str, str], corpus: None
) -> None:
    result = search(client, admin, "足場")
    # Categories by count, ties by name (品 U+54C1 before 施 U+65BD); statuses in workflow order.
    assert found(result) == (
        9,
        "eq",
        facets(
            {"安全": 5, "品質": 2, "施工計画": 2}, {"draft": 3, "review": 1, "approved": 4, "archived": 1}, exact=True
        ),
    )


def test_facets_name_each_category_by_its_id(client: FlaskClient, admin: dict[str, str], corpus: None) -> None:
    ids = {item["name"]: item["id"] for item in client.get("/api/v1/categories", headers=admin).json["items"]}
    result = search(client, admin, "足場")
    assert [(item["id"], item["name"]) for item in result["facets"]["categories"]] == [
        (ids["安全"], "安全"),
        (ids["品質"], "品質"),
        (ids["施工計画"], "施工計画"),
    ]


def test_a_viewer_counts_approved_entries_only(client: FlaskClient, viewer: dict[str, str], corpus: None) -> None:
    # 施工計画 holds drafts only: a partner is not told it matches at all.
    assert found(search(client, viewer, "足場")) == (
        4,
        "eq",
        facets({"安全": 3, "品質": 1}, {"approved": 4}, exact=True),
    )
    assert found(search(client, viewer, "足場", category="施工計画")) == (
        0,
        "eq",
        facets({"安全": 3, "品質": 1}, {}, exact=True),
    )


def test_a_category_filter_counts_its_statuses_and_still_lists_the_others(
    client: FlaskClient, admin: dict[str, str], corpus: None
) -> None:
    result = search(client, admin, "足場", category="品質")
    assert len(result["items"]) == 2
    assert found(result) == (
        2,
        "eq",
        facets({"安全": 5, "品質": 2, "施工計画": 2}, {"approved": 1, "archived": 1}, exact=True),
    )


def test_no_match_has_empty_facets(client: FlaskClient, admin: dict[str, str], corpus: None) -> None:
    assert found(search(client, admin, "型枠")) == (0, "eq", facets({}, {}, exact=True))


def test_facets_and_total_take_one_pass_over_the_matches(
    client: FlaskClient, admin: dict[str, str], corpus: None, app: Flask
) -> None:
    engine = app.extensions["mks_db"].engine
    with statements_sent(engine) as sent:
        search(client, admin, "足場")
    tallies = [(statement, parameters) for statement, parameters in sent if "GROUP BY category_id, status" in statement]
    counts = [statement for statement, _ in sent if "SELECT 1 AS one" in statement]
    # The facets with the total, and no count of its own: the head tier's ranking finds its size.
    assert (len(tallies), len(counts)) == (1, 0)
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            plan = "\n".join(
                row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {tallies[0][0]}", tallies[0][1])
            )
        # Category and status come from the index the filters already read, not from each entry's row.
        assert "SEARCH knowledge USING COVERING INDEX ix_knowledge_search_filter" in plan
    else:
        # The matches with their category and status, from a bitmap of the GIN index under that
        # function's own planner settings: the knowledge table is not read (migration 0022).
        assert tallies[0][0] == (
            "SELECT category_id, status, count(*) AS matches "
            "FROM mks_body_match_facets(CAST(%(query)s AS tsquery), %(bound)s) AS found GROUP BY category_id, status"
        )


def test_facets_above_the_bound_are_lower_bounds(
    client: FlaskClient, admin: dict[str, str], corpus: None, app: Flask
) -> None:
    """Above MKS_SEARCH_EXACT_TOTAL the facets count the first exact_total + 1 matches found.

    Both databases find the matches of an index this small in the order they were indexed (FTS5 in
    rowid order, PostgreSQL in heap order): the first four of MATCHES.
    """
    settings = app.extensions["mks_settings"]
    app.extensions["mks_settings"] = settings.model_copy(update={"search_exact_total": 9})
    assert found(search(client, admin, "足場"))[2]["exact"] is True
    app.extensions["mks_settings"] = settings.model_copy(update={"search_exact_total": 3})
    first_four = facets({"安全": 2, "品質": 1, "施工計画": 1}, {"draft": 2, "approved": 1, "archived": 1}, exact=False)
    assert found(search(client, admin, "足場")) == (3, "gte", first_four)
    # The category filtered on is counted alone, exactly up to the bound, though the facets are not.
    assert found(search(client, admin, "足場", category="施工計画")) == (
        2,
        "eq",
        {**first_four, "statuses": [{"status": "draft", "count": 1}]},
    )
    # 安全 holds more matches than the bound: its own total is a lower bound too.
    assert found(search(client, admin, "足場", category="安全"))[:2] == (3, "gte")


def test_a_status_and_a_tag_narrow_the_matches_as_the_page_chips_do(
    client: FlaskClient, admin: dict[str, str], approver: dict[str, str], viewer: dict[str, str], corpus: None
) -> None:
    tagged = created_in(
        client, admin, approver, "approved", **entry(title="足場の点検 10", tags=["朝礼"], category="安全")
    )
    created_in(client, admin, approver, "draft", **entry(title="足場の点検 11", tags=["朝礼"], category="品質"))
    approved = search(client, admin, "足場", status="approved")
    assert found(approved) == (5, "eq", facets({"安全": 4, "品質": 1}, {"approved": 5}, exact=True))
    assert {item["status"] for item in approved["items"]} == {"approved"}
    by_tag = search(client, admin, "足場", tag="朝礼")
    assert found(by_tag) == (2, "eq", facets({"品質": 1, "安全": 1}, {"draft": 1, "approved": 1}, exact=True))
    both = search(client, admin, "足場", tag="朝礼", status="approved", category="安全")
    assert [item["id"] for item in both["items"]] == [tagged["id"]]
    # A partner asking for drafts is told of none, and an unknown tag matches nothing.
    assert found(search(client, viewer, "足場", status="draft")) == (0, "eq", facets({}, {}, exact=True))
    assert search(client, admin, "足場", tag="存在しないタグ")["total"] == 0


def test_newest_first_lists_every_match_by_its_last_update_with_the_same_count(
    client: FlaskClient, admin: dict[str, str], corpus: None
) -> None:
    ranked = search(client, admin, "足場", limit="20")
    newest = search(client, admin, "足場", sort="newest", limit="4")
    by_update = sorted(ranked["items"], key=lambda item: (item["updated_at"], item["id"]), reverse=True)
    assert [item["id"] for item in newest["items"]] == [item["id"] for item in by_update[:4]]
    assert (newest["total"], newest["facets"]) == (ranked["total"], ranked["facets"])
    assert {item["score"] for item in newest["items"]} == {0.0}
    second = search(client, admin, "足場", sort="newest", limit="4", offset="4", category="安全")
    in_safety = [item["id"] for item in by_update if item["category"] == "安全"]
    assert ([item["id"] for item in second["items"]], second["total"]) == (in_safety[4:8], 5)
