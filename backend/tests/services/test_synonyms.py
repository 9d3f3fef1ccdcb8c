"""Synonym sets through their service, without Flask: rules, audit entries, and the lookup a search makes."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mks.models import AuditEntry, Role, SynonymWord, User
from mks.schemas.users import UserCreate
from mks.services import synonyms, users
from mks.services.context import Context
from mks.services.errors import Conflict, InvalidField, NotFound

from ..plans import statements_sent


@pytest.fixture
def admin(ctx: Context) -> User:
    data = UserCreate(username="admin", display_name="admin", password="admin-pass-1", role=Role.ADMIN)
    return users.create_user(ctx, data)


def words_of(ctx: Context) -> list[list[str]]:
    return [[word.word for word in item.words] for item in synonyms.list_synonym_sets(ctx)]


def test_create_update_delete_are_audited(ctx: Context, admin: User, sessions: sessionmaker[Session]) -> None:
    namakon = synonyms.create_synonym_set(ctx, ["生コン", "レディーミクストコンクリート"], admin)
    # Width folds to NFKC for display; a word repeated up to case and width counts once.
    ky = synonyms.create_synonym_set(ctx, ["ＫＹ", "危険予知", "ky"], admin)
    assert words_of(ctx) == [["生コン", "レディーミクストコンクリート"], ["KY", "危険予知"]]
    updated = synonyms.update_synonym_set(ctx, ky.id, ["危険予知", "KY", "危険予知活動"], admin)
    assert [word.word for word in updated.words] == ["危険予知", "KY", "危険予知活動"]
    assert updated.updated_at >= updated.created_at
    synonyms.delete_synonym_set(ctx, namakon.id, admin)
    assert words_of(ctx) == [["危険予知", "KY", "危険予知活動"]]

    with sessions() as session:
        entries = session.execute(
            select(AuditEntry.action, AuditEntry.actor_username, AuditEntry.target_type, AuditEntry.target_id)
            .where(AuditEntry.action.like("synonym.%"))
            .order_by(AuditEntry.id)
        ).all()
        details = session.scalars(
            select(AuditEntry.details).where(AuditEntry.action.like("synonym.%")).order_by(AuditEntry.id)
        ).all()
        stored = session.execute(
            select(SynonymWord.set_id, SynonymWord.word, SynonymWord.normalized).order_by(SynonymWord.id)
        ).all()
    assert [tuple(entry) for entry in entries] == [
        ("synonym.create", "admin", "synonym_set", namakon.id),
        ("synonym.create", "admin", "synonym_set", ky.id),
        ("synonym.update", "admin", "synonym_set", ky.id),
        ("synonym.delete", "admin", "synonym_set", namakon.id),
    ]
    assert details == [
        {"words": ["生コン", "レディーミクストコンクリート"]},
        {"words": ["KY", "危険予知"]},
        {"old": ["KY", "危険予知"], "new": ["危険予知", "KY", "危険予知活動"]},
        {"words": ["生コン", "レディーミクストコンクリート"]},
    ]
    assert [tuple(row) for row in stored] == [
        (ky.id, "危険予知", "危険予知"),
        (ky.id, "KY", "ky"),
        (ky.id, "危険予知活動", "危険予知活動"),
    ]


def test_a_word_belongs_to_one_set(ctx: Context, admin: User, sessions: sessionmaker[Session]) -> None:
    first = synonyms.create_synonym_set(ctx, ["生コン", "レディーミクストコンクリート"], admin)
    second = synonyms.create_synonym_set(ctx, ["KY", "危険予知"], admin)
    with pytest.raises(Conflict) as taken:
        synonyms.create_synonym_set(ctx, ["ﾅﾏｺﾝ", "生コン"], admin)
    assert (taken.value.code, taken.value.message, taken.value.details) == (
        "synonym_word_taken",
        "「生コン」は既に別の同義語の組にあります。",
        [{"word": "生コン", "synonym_set_id": first.id}],
    )
    ctx.session.rollback()
    with pytest.raises(Conflict) as moved:
        synonyms.update_synonym_set(ctx, second.id, ["ky", "レディーミクストコンクリート"], admin)
    assert moved.value.details == [{"word": "レディーミクストコンクリート", "synonym_set_id": first.id}]
    ctx.session.rollback()
    assert words_of(ctx) == [["生コン", "レディーミクストコンクリート"], ["KY", "危険予知"]]
    with sessions() as session:
        assert session.scalar(select(AuditEntry.id).where(AuditEntry.action == "synonym.update")) is None


@pytest.mark.parametrize(
    ("words", "kind", "message"),
    [
        (["生コン"], "synonym_words_too_few", "異なる語を 2 つ以上指定してください。"),
        (["KY", "ｋｙ", "Ky"], "synonym_words_too_few", "異なる語を 2 つ以上指定してください。"),
        (["生コン", " "], "synonym_word_invalid", "空白を含まない語を指定してください。"),
        (["生 コン", "生コン"], "synonym_word_invalid", "空白を含まない語を指定してください。"),
        (["生コン", "㍿" * 13], "synonym_word_too_long", "語は 50 文字以内にしてください。"),
    ],
)
def test_invalid_sets_are_refused(ctx: Context, admin: User, words: list[str], kind: str, message: str) -> None:
    with pytest.raises(InvalidField) as refused:
        synonyms.create_synonym_set(ctx, words, admin)
    assert (refused.value.field, refused.value.kind, refused.value.message) == ("words", kind, message)
    assert words_of(ctx) == []


def test_missing_set(ctx: Context, admin: User) -> None:
    for change in (
        lambda: synonyms.update_synonym_set(ctx, 999, ["KY", "危険予知"], admin),
        lambda: synonyms.delete_synonym_set(ctx, 999, admin),
    ):
        with pytest.raises(NotFound) as missing:
            change()
        assert (missing.value.code, missing.value.message) == ("synonym_set_not_found", "同義語の組が見つかりません。")


def test_forms_of_answers_every_word_in_one_query(ctx: Context, admin: User) -> None:
    synonyms.create_synonym_set(ctx, ["生コン", "レディーミクストコンクリート", "生コンクリート"], admin)
    synonyms.create_synonym_set(ctx, ["KY", "危険予知"], admin)
    connection = ctx.session.connection()
    with statements_sent(connection.engine) as sent:
        forms = synonyms.forms_of(connection, ["ky", "生こん", "養生"])  # query words, normalized
    assert forms == {
        "ky": ("危険予知",),
        "生こん": ("れでぃーみくすとこんくりーと", "生こんくりーと"),
        "養生": (),
    }
    assert len(sent) == 1
    assert synonyms.forms_of(ctx.session, []) == {}
