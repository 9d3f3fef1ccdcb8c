"""Indexed words: learned from the tags and the synonym list, held by the index as tokens, kept in step by writes."""

from __future__ import annotations

from dataclasses import replace

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, create_engine, select, text
from sqlalchemy.exc import OperationalError

from mks.db import current_db, get_session
from mks.models import Category, Knowledge, SynonymSet, SynonymWord, Tag
from mks.search import IndexedDocument
from mks.search.rebuild import reindex
from mks.search.text import Phrase, Term
from mks.search.words import learn, substrings

from ..routes.test_knowledge import BASE, create

SEARCH = "/api/v1/knowledge/search"


def test_the_substrings_of_a_text_are_those_of_its_runs_of_three_to_eight_characters() -> None:
    found = ["施工計", "工計画", "計画書", "施工計画", "工計画書", "施工計画書", "xyz"]
    assert list(substrings("施工計画書 ab,xyz")) == found
    assert len(list(substrings("あいうえおかきくけ"))) == 7 + 6 + 5 + 4 + 3 + 2  # none longer than 8


def test_a_term_asks_for_the_token_of_each_indexed_form() -> None:
    term = Term("こんくりーと", ("こんくりーと", "生こん")).indexed_by(frozenset({"こんくりーと", "鉄筋"}))
    assert term.indexed == frozenset({"こんくりーと"})
    assert term.phrases() == [
        Phrase(("こんくりーと",), prefix=False, exact=True),
        Phrase(("生こ", "こん"), prefix=False, exact=True),
    ]


def _rebuild(app: Flask) -> None:
    with app.app_context():
        database = current_db()
        with database.engine.begin() as connection:
            reindex(connection, database.search, lambda _done, _total: None)


def _with_token(connection: Connection, word: str) -> list[int]:
    """The entries the index answers for the word's token: the rows the search asks for."""
    if connection.dialect.name == "sqlite":
        sql = "SELECT rowid FROM knowledge_tokens WHERE knowledge_tokens MATCH :match ORDER BY rowid"
        return list(connection.execute(text(sql), {"match": f'"{word}"'}).scalars())
    sql = "SELECT knowledge_id FROM knowledge_search WHERE body @@ CAST(:query AS tsquery) ORDER BY knowledge_id"
    return list(connection.execute(text(sql), {"query": f"'{word}'"}).scalars())


def _found(client: FlaskClient, headers: dict[str, str], q: str) -> tuple[int, list[int]]:
    found = client.get(SEARCH, query_string={"q": q}, headers=headers).json
    return found["total"], sorted(item["id"] for item in found["items"])


def test_reindex_learns_the_tag_words_a_share_of_the_entries_hold(app: Flask) -> None:
    with app.app_context():
        session = get_session()
        synonyms = SynonymSet(words=[SynonymWord(position=0, word="生コン", normalized="生こん")])
        session.add_all([Tag(name="施工計画書"), Tag(name="ＫＹ活動"), synonyms])
        session.commit()
    with app.app_context(), current_db().engine.begin() as connection:
        # 1 % of 200 entries: 2. The substrings of 施工計画 in 2 of them, 計画書 in 1, 生コン (a synonym)
        # in 3, ky活動 (its tag, normalized) in 2 as written two ways; 施工計画書 whole in none.
        texts = ["施工計画の確認", "施工計画を共有", "計画書", "生コン", "生コン車", "生コンの受入"]
        texts += ["ky活動", "ＫＹ活動"]
        sample = [IndexedDocument(number, {"title": title}) for number, title in enumerate(texts)]
        sample += [IndexedDocument(number, {"title": "本文"}) for number in range(len(texts), 200)]
        assert learn(connection, sample) == 7
        learned = {"施工計", "工計画", "施工計画", "生こん", "ky活", "y活動", "ky活動"}
        assert set(connection.execute(text("SELECT word FROM search_words")).scalars()) == learned
        # The list only grows: a sample without those words adds none and takes none away.
        assert learn(connection, [IndexedDocument(1, {"title": "計画書"})]) == 1
        assert set(connection.execute(text("SELECT word FROM search_words")).scalars()) == learned | {"計画書"}


def test_a_learned_word_finds_what_its_phrase_found_and_writes_keep_its_token_in_step(
    app: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    ids = [
        create(client, admin, title="コンクリートの打設計画", tags=["コンクリート"])["id"],
        create(client, admin, title="打設の記録", content="こんくりーとの温度を測る", tags=[])["id"],
        create(client, admin, title="生コンクリートの受入", tags=["受入検査"])["id"],
        create(client, admin, title="コンクリ片の清掃", content="コンクリ", tags=[])["id"],
        create(client, admin, title="足場の点検", tags=["足場"])["id"],
    ]
    before = {q: _found(client, admin, q) for q in ("コンクリート", "コンクリート 打設", "生コンクリート", "コンクリ")}
    assert (before["コンクリート"], before["コンクリ"]) == ((3, ids[:3]), (4, ids[:4]))
    _rebuild(app)
    with app.app_context(), current_db().engine.connect() as connection:
        learned = set(connection.execute(text("SELECT word FROM search_words")).scalars())
        # Every piece of the tags the five entries hold: far above 1 % of them.
        assert {"こんくりーと", "こんくり", "受入検", "入検査", "受入検査"} <= learned
        assert _with_token(connection, "こんくりーと") == ids[:3]
    # The same answers, now from the tokens.
    assert {q: _found(client, admin, q) for q in before} == before
    added = create(client, admin, title="寒中の養生", content="コンクリートの温度管理", tags=[])["id"]
    client.put(f"{BASE}/{ids[1]}", json={"content": "温度を測る"}, headers=admin)
    assert client.delete(f"{BASE}/{ids[2]}", headers=admin).status_code == 204
    with app.app_context(), current_db().engine.connect() as connection:
        assert _with_token(connection, "こんくりーと") == [ids[0], added]
        assert _with_token(connection, "こんくり") == [ids[0], ids[3], added]
    assert _found(client, admin, "コンクリート") == (2, [ids[0], added])


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_takes_out_the_words_a_row_was_indexed_with_though_the_list_grew_since(
    app: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    kept = create(client, admin, title="足場の点検", tags=["足場点検"])["id"]
    _rebuild(app)
    gone = create(client, admin, title="足場点検の記録", tags=[])["id"]
    with app.app_context(), current_db().engine.begin() as connection:
        assert _with_token(connection, "足場点検") == [kept, gone]
        # A word the row was not indexed with: its token must not be asked to go.
        connection.execute(text("INSERT INTO search_words (word) VALUES ('点検の記')"))
    assert client.delete(f"{BASE}/{gone}", headers=admin).status_code == 204
    with app.app_context(), current_db().engine.connect() as connection:
        assert _with_token(connection, "足場点検") == [kept]
        assert _with_token(connection, "点検の記") == []


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_write_waits_while_reindex_holds_the_word_list(app: Flask, database_url: str) -> None:
    engine = create_engine(database_url)
    document = IndexedDocument(1, {"title": "足場の点検", "tags": "", "summary": "", "content": ""})
    with app.app_context():
        backend = current_db().search
        session = get_session()
        category_id = session.scalars(select(Category.id).limit(1)).one()
        session.add_all(Knowledge(id=id_, title="足場の点検", content="", category_id=category_id) for id_ in (1, 2))
        session.commit()
        with engine.connect() as learner, engine.connect() as writer, engine.connect() as other:
            backend.lock_words(learner, exclusive=True)
            writer.execute(text("SET lock_timeout = '200ms'"))
            with pytest.raises(OperationalError, match="lock timeout"):
                backend.index(writer, [document])
            writer.rollback()
            learner.commit()
            # Writers share the lock: one holding it keeps no other waiting.
            backend.index(writer, [document])
            other.execute(text("SET lock_timeout = '200ms'"))
            backend.index(other, [replace(document, knowledge_id=2)])
            other.rollback()
            writer.rollback()
    engine.dispose()
