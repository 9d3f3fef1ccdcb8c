"""The search index against the knowledge table, after the index is changed behind the app's back."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from mks import migrate
from mks.db import Database, current_db
from mks.search import backend_for
from mks.search.drift import IndexDrift, index_drift
from mks.search.rebuild import reindex

from ..routes.test_knowledge import create


def break_index(database_url: str, unindexed: list[int], deleted: list[int]) -> None:
    """Drop the index rows of ``unindexed``; delete the ``deleted`` entries leaving their index rows.

    The entries are deleted as by hand with foreign keys off (SQLite checks them only on a connection
    that turns them on, which this plain engine does not; PostgreSQL skips them for a replica), so
    their tag links are left behind too.
    """
    engine = create_engine(database_url)
    table = backend_for(engine.dialect.name).indexed_table
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        for knowledge_id in unindexed:
            connection.execute(text(f"DELETE FROM {table} WHERE knowledge_id = :id"), {"id": knowledge_id})
        for knowledge_id in deleted:
            connection.execute(text("DELETE FROM knowledge WHERE id = :id"), {"id": knowledge_id})
    engine.dispose()


def make_stale(database_url: str, assignments: dict[int, str]) -> None:
    """Set columns of entries' knowledge_search rows (PostgreSQL) behind the triggers that copy them from the
    entry, as a data-only restore with triggers disabled could: the facets would count the old values."""
    engine = create_engine(database_url)
    with engine.begin() as connection:
        for knowledge_id, assignment in assignments.items():
            connection.execute(
                text(f"UPDATE knowledge_search SET {assignment} WHERE knowledge_id = :id"), {"id": knowledge_id}
            )
    engine.dispose()


def drift(database: Database) -> IndexDrift:
    with database.engine.connect() as connection:
        return index_drift(connection, database.search)


def test_drift_counts_and_names_the_entries_out_of_step_until_reindexed(
    app: Flask, client: FlaskClient, admin: dict[str, str], database_url: str
) -> None:
    ids = [create(client, admin, title=f"足場の点検 {number}")["id"] for number in range(10)]
    with app.app_context():
        database = current_db()
        assert drift(database) == IndexDrift(entries=10, missing=0, missing_sample=(), orphaned=0, orphaned_sample=())
        break_index(database_url, unindexed=ids[1:7], deleted=[ids[7], ids[9]])
        found = drift(database)
        # PostgreSQL: the rows went with the triggers off (a replica), so the fields' totals kept no account of them.
        assert found == IndexDrift(
            entries=8,
            missing=6,
            missing_sample=tuple(ids[1:6]),
            orphaned=2,
            orphaned_sample=(ids[7], ids[9]),
            lengths_off=database_url.startswith("postgresql"),
        )
        with database.engine.begin() as connection:
            assert reindex(connection, database.search, lambda _done, _total: None).entries == 8
        assert drift(database) == IndexDrift(entries=8, missing=0, missing_sample=(), orphaned=0, orphaned_sample=())


def test_drift_counts_entries_whose_impact_lists_are_out_of_step(
    app: Flask, client: FlaskClient, admin: dict[str, str], database_url: str
) -> None:
    ids = [create(client, admin, title=f"型枠の解体 {number}")["id"] for number in range(4)]
    # No letter or digit in the title or tags: the entry has no impacts, and needs none.
    create(client, admin, title="！？", tags=[])
    engine = create_engine(database_url)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        connection.execute(text("DELETE FROM knowledge_head_impacts WHERE knowledge_id = :id"), {"id": ids[1]})
        connection.execute(text("DELETE FROM knowledge WHERE id = :id"), {"id": ids[3]})
        connection.execute(
            text(f"DELETE FROM {backend_for(engine.dialect.name).indexed_table} WHERE knowledge_id = :id"),
            {"id": ids[3]},
        )
    engine.dispose()
    with app.app_context():
        database = current_db()
        assert drift(database) == IndexDrift(
            entries=4,
            missing=1,
            missing_sample=(ids[1],),
            orphaned=1,
            orphaned_sample=(ids[3],),
            lengths_off=database_url.startswith("postgresql"),
        )
        with database.engine.begin() as connection:
            assert reindex(connection, database.search, lambda _done, _total: None).entries == 4
        assert drift(database) == IndexDrift(entries=4, missing=0, missing_sample=(), orphaned=0, orphaned_sample=())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_tokens_of_an_entry_deleted_before_its_index_are_orphaned_until_the_upgrade_rebuilds_the_index(
    app: Flask, client: FlaskClient, admin: dict[str, str], database_url: str
) -> None:
    ids = [create(client, admin, title=f"足場の点検 {number}")["id"] for number in range(3)]
    # As deletes went before migration 0011: the entry's row first, whose foreign key takes its
    # normalized text along, so the contentless FTS5 table could not be told the tokens to remove.
    engine = create_engine(database_url)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA foreign_keys = ON")
        connection.execute(text("DELETE FROM knowledge WHERE id = :id"), {"id": ids[1]})
        connection.commit()
        assert connection.execute(text("SELECT rowid FROM knowledge_tokens ORDER BY rowid")).scalars().all() == ids
    with app.app_context():
        database = current_db()
        assert drift(database) == IndexDrift(
            entries=2, missing=0, missing_sample=(), orphaned=1, orphaned_sample=(ids[1],)
        )
        migrate.downgrade(database.engine, "0010")
        migrate.upgrade(database.engine)
        assert drift(database) == IndexDrift(entries=2, missing=0, missing_sample=(), orphaned=0, orphaned_sample=())
    engine.dispose()
    found = client.get("/api/v1/knowledge/search", query_string={"q": "足場の点検"}, headers=admin).json
    assert (found["total"], [item["id"] for item in found["items"]]) == (2, [ids[2], ids[0]])


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_drift_counts_entries_whose_indexed_category_or_status_is_stale_until_reindexed(
    app: Flask, client: FlaskClient, admin: dict[str, str], database_url: str
) -> None:
    ids = [create(client, admin, title=f"鉄筋の結束 {number}")["id"] for number in range(3)]
    make_stale(database_url, {ids[2]: "status = 'approved'", ids[0]: "category_id = category_id + 1"})
    with app.app_context():
        database = current_db()
        assert drift(database) == IndexDrift(
            entries=3,
            missing=0,
            missing_sample=(),
            orphaned=0,
            orphaned_sample=(),
            stale=2,
            stale_sample=(ids[0], ids[2]),
        )
        with database.engine.begin() as connection:
            assert reindex(connection, database.search, lambda _done, _total: None).entries == 3
        assert drift(database) == IndexDrift(entries=3, missing=0, missing_sample=(), orphaned=0, orphaned_sample=())


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_drift_tells_totals_of_the_fields_lengths_that_differ_from_the_rows_until_reindexed(
    app: Flask, client: FlaskClient, admin: dict[str, str], database_url: str
) -> None:
    """Migration 0023's totals, changed behind the triggers (as a data-only restore could): BM25F's averages
    would be off; a rebuild counts them afresh."""
    create(client, admin, title="鉄筋の結束", content="結束線で留める")
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE knowledge_search_lengths SET content = content + 7"))
    engine.dispose()
    with app.app_context():
        database = current_db()
        off = drift(database)
        with database.engine.begin() as connection:
            reindex(connection, database.search, lambda _done, _total: None)
        mended = drift(database)
    assert (off.lengths_off, off.in_step) == (True, False)
    assert (off.missing, off.orphaned, off.stale) == (0, 0, 0)
    assert mended == IndexDrift(entries=1, missing=0, missing_sample=(), orphaned=0, orphaned_sample=())
