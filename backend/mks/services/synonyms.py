"""Use cases of synonym sets (words a search treats as one), and their lookup at query time."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from sqlalchemy import Connection, Select, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from ..models import Actor, AuditAction, SynonymSet, SynonymWord, utcnow
from ..search.text import normalize
from . import audit
from .context import Context
from .errors import Conflict, InvalidField, NotFound

MAX_WORD_LENGTH = 50


def list_synonym_sets(ctx: Context) -> list[SynonymSet]:
    """Every synonym set, oldest first."""
    return list(ctx.session.scalars(select(SynonymSet).order_by(SynonymSet.id)))


def _get(ctx: Context, set_id: int) -> SynonymSet:
    synonym_set = ctx.session.get(SynonymSet, set_id)
    if synonym_set is None:
        raise NotFound("synonym_set_not_found", "同義語の組が見つかりません。")
    return synonym_set


def _words(words: Sequence[str]) -> list[tuple[str, str]]:
    """Each distinct word as shown (NFKC) and as searched (normalize), in the order given.

    InvalidField when a word is empty or too long once normalized, or fewer than two remain.
    """
    found: dict[str, str] = {}
    for word in words:
        shown = unicodedata.normalize("NFKC", word).strip()
        searched = normalize(shown)
        if not shown or any(character.isspace() for character in shown):
            raise InvalidField("words", "synonym_word_invalid", "空白を含まない語を指定してください。")
        if len(searched) > MAX_WORD_LENGTH or len(shown) > MAX_WORD_LENGTH:
            raise InvalidField("words", "synonym_word_too_long", f"語は {MAX_WORD_LENGTH} 文字以内にしてください。")
        found.setdefault(searched, shown)
    if len(found) < 2:
        raise InvalidField("words", "synonym_words_too_few", "異なる語を 2 つ以上指定してください。")
    return [(shown, searched) for searched, shown in found.items()]


def _refuse_taken(ctx: Context, words: list[tuple[str, str]], set_id: int | None) -> None:
    """Conflict when a word already belongs to another set."""
    statement = select(SynonymWord.word, SynonymWord.set_id).where(
        SynonymWord.normalized.in_([searched for _, searched in words])
    )
    if set_id is not None:
        statement = statement.where(SynonymWord.set_id != set_id)
    taken = ctx.session.execute(statement.order_by(SynonymWord.id).limit(1)).first()
    if taken is not None:
        raise Conflict(
            "synonym_word_taken",
            f"「{taken.word}」は既に別の同義語の組にあります。",
            details=[{"word": taken.word, "synonym_set_id": taken.set_id}],
        )


def _flush(ctx: Context, words: list[tuple[str, str]], set_id: int | None) -> None:
    try:
        ctx.session.flush()
    except IntegrityError:
        # A concurrent request took a word after the check: now committed, the check names it.
        ctx.session.rollback()
        _refuse_taken(ctx, words, set_id)
        raise


def _fill(synonym_set: SynonymSet, words: list[tuple[str, str]]) -> None:
    synonym_set.words = [
        SynonymWord(position=position, word=shown, normalized=searched)
        for position, (shown, searched) in enumerate(words)
    ]


def create_synonym_set(ctx: Context, words: Sequence[str], actor: Actor | None) -> SynonymSet:
    """Add a synonym set (actor: the admin, None from the CLI); InvalidField or Conflict as _words and _refuse_taken."""
    checked = _words(words)
    _refuse_taken(ctx, checked, None)
    synonym_set = SynonymSet()
    _fill(synonym_set, checked)
    ctx.session.add(synonym_set)
    _flush(ctx, checked, None)
    audit.record(
        ctx,
        AuditAction.SYNONYM_CREATE,
        actor,
        target_type="synonym_set",
        target_id=synonym_set.id,
        words=[shown for shown, _ in checked],
    )
    ctx.session.commit()
    return synonym_set


def update_synonym_set(ctx: Context, set_id: int, words: Sequence[str], actor: Actor | None) -> SynonymSet:
    """Replace the words of a set; NotFound, InvalidField or Conflict."""
    synonym_set = _get(ctx, set_id)
    checked = _words(words)
    _refuse_taken(ctx, checked, set_id)
    old = [word.word for word in synonym_set.words]
    # The old rows go first: a word kept in the set would otherwise collide with itself.
    synonym_set.words = []
    ctx.session.flush()
    _fill(synonym_set, checked)
    synonym_set.updated_at = utcnow()
    _flush(ctx, checked, set_id)
    audit.record(
        ctx,
        AuditAction.SYNONYM_UPDATE,
        actor,
        target_type="synonym_set",
        target_id=set_id,
        old=old,
        new=[shown for shown, _ in checked],
    )
    ctx.session.commit()
    return synonym_set


def delete_synonym_set(ctx: Context, set_id: int, actor: Actor | None) -> None:
    """Delete a set and its words; NotFound when there is none."""
    synonym_set = _get(ctx, set_id)
    words = [word.word for word in synonym_set.words]
    ctx.session.delete(synonym_set)
    audit.record(ctx, AuditAction.SYNONYM_DELETE, actor, target_type="synonym_set", target_id=set_id, words=words)
    ctx.session.commit()


def _synonyms_of_words() -> Select[str, str]:
    asked = aliased(SynonymWord)
    other = aliased(SynonymWord)
    return (
        select(asked.normalized, other.normalized)
        .join(other, (other.set_id == asked.set_id) & (other.id != asked.id))
        .where(asked.normalized.in_(bindparam("words", expanding=True)))
        .order_by(asked.id, other.position)
    )


# Built once: a statement with new aliases each time missed SQLAlchemy's compiled cache, and
# compiling it took 3 ms of every search (0.2 ms from the cache).
SYNONYMS_OF_WORDS = _synonyms_of_words()


def forms_of(db: Session | Connection, words: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """For each query word (already normalized), the other words of its synonym set, normalized; one query.

    A word of no set maps to an empty tuple.
    """
    forms: dict[str, tuple[str, ...]] = {word: () for word in words}
    if not forms:
        return forms
    for word, synonym in db.execute(SYNONYMS_OF_WORDS, {"words": list(forms)}):
        forms[word] += (synonym,)
    return forms
