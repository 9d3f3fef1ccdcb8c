"""What the knowledge use cases answer: typed values, one per shape, free of SQL labels.

Built by one cheap construction from a row of the statements in ``queries`` (or, after a write,
from the entity just written); the response models read them by attribute (``from_attributes``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from ...models import Actor, KnowledgeRevision, as_utc


@dataclass(frozen=True, slots=True)
class Person:
    """A user as an entry names them (its creator, its last editor)."""

    id: int
    username: str
    display_name: str

    @classmethod
    def of(cls, user: Actor | None) -> Person | None:
        """The user as an entry names them; None for none (a deleted user)."""
        return cls(user.id, user.username, user.display_name) if user is not None else None


@dataclass(frozen=True, slots=True)
class EntrySummary:
    """An entry as a list shows it: everything but the body."""

    id: int
    title: str
    summary: str
    category: str
    tags: list[str]  # in code-point order
    status: str
    priority: str
    project_code: str | None
    owner_department: str | None
    review_due: date | None
    created_by: Person | None
    updated_by: Person | None
    created_at: datetime  # in UTC
    updated_at: datetime
    view_count: int
    version: int


@dataclass(frozen=True, slots=True)
class PendingChange:
    """Unapproved changes to an approved entry, as saved in its newest revision (in draft or review)."""

    revision: int
    status: str
    title: str
    summary: str
    content: str
    category: str
    tags: list[str]
    priority: str
    project_code: str | None
    owner_department: str | None
    review_due: date | None
    changed_by: Person | None
    changed_at: datetime  # in UTC

    @classmethod
    def of(cls, record: KnowledgeRevision, changed_by: Person | None) -> PendingChange:
        """The change as its revision saved it (its author passed in: a new record's relationship is unloaded)."""
        saved = record.snapshot
        review_due = saved["review_due"]
        return cls(
            record.revision,
            saved["status"],
            saved["title"],
            saved["summary"],
            saved["content"],
            saved["category"],
            saved["tags"],
            saved["priority"],
            saved["project_code"],
            saved["owner_department"],
            date.fromisoformat(review_due) if review_due is not None else None,
            changed_by,
            as_utc(record.changed_at),
        )


@dataclass(frozen=True, slots=True)
class EntryDetail(EntrySummary):
    """An entry as its own page shows it: with the body, and for writers its pending change."""

    content: str
    pending: PendingChange | None = None


@dataclass(frozen=True, slots=True)
class SearchHit(EntrySummary):
    """An entry found by a search, with its relevance and the excerpt around the matches."""

    score: float
    snippet: str


@dataclass(frozen=True, slots=True)
class QueuedEntry(EntrySummary):
    """An entry waiting for review: who submitted it, and when (the revision that last moved it into review).

    Its version is the revision under review: the newest revision is always the entry's version."""

    submitted_by: Person | None
    submitted_at: datetime  # in UTC
