"""Persistent data: users, knowledge entries, their revisions, categories, tags, revoked tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import (
    JSON,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .db import Base


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class Role(StrEnum):
    ADMIN = "admin"
    # Writes like an editor, and approves or sends back what others wrote (so do admins).
    APPROVER = "approver"
    EDITOR = "editor"
    VIEWER = "viewer"


class Status(StrEnum):
    DRAFT = "draft"
    REVIEW = "review"
    APPROVED = "approved"
    ARCHIVED = "archived"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    CRITICAL = "critical"


# SQLAlchemy stores timezone-aware datetimes; SQLite hands them back naive, so always read via as_utc().
UtcDateTime = DateTime(timezone=True)


def as_utc(value: datetime) -> datetime:
    """The moment in UTC; a naive value (as SQLite hands them back, or a client sends) is taken as UTC."""
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


knowledge_tags = Table(
    "knowledge_tags",
    Base.metadata,
    Column("knowledge_id", ForeignKey("knowledge.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    # Where review notifications reach the user (none: not by e-mail).
    email: Mapped[str | None] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(16), default=Role.VIEWER)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    # Consecutive failed logins, and until when the account refuses every login after too many.
    failed_logins: Mapped[int] = mapped_column(default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Bumped by a password change and by disabling: tokens of an earlier generation are refused.
    token_generation: Mapped[int] = mapped_column(default=0, server_default="0")


class Actor(Protocol):
    """Who performs an action: the request's CurrentUser, or a User entity (at login, from the CLI)."""

    @property
    def id(self) -> int: ...

    @property
    def username(self) -> str: ...

    @property
    def display_name(self) -> str: ...

    @property
    def role(self) -> str: ...


@dataclass(frozen=True)
class CurrentUser:
    """The account a request acts as: its columns read once per request, not an entity (loading
    an entity took a twentieth of an authenticated read's CPU)."""

    id: int
    username: str
    display_name: str
    role: str
    email: str | None
    is_active: bool
    created_at: datetime
    last_seen_at: datetime | None
    token_generation: int


class Category(Base):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)


class Knowledge(Base):
    __tablename__ = "knowledge"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text, default="")
    content: Mapped[str] = mapped_column(Text, default="")
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"))
    status: Mapped[str] = mapped_column(String(16), default=Status.DRAFT)
    priority: Mapped[str] = mapped_column(String(16), default=Priority.NORMAL)
    project_code: Mapped[str | None] = mapped_column(String(50), index=True)
    owner_department: Mapped[str | None] = mapped_column(String(100), index=True)
    # When the entry is to be reviewed again (mks_knowledge_review_due counts those due).
    review_due: Mapped[date | None] = mapped_column(Date, index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    view_count: Mapped[int] = mapped_column(default=0)
    version: Mapped[int] = mapped_column()
    # An approved entry's row holds its approved text only: edits to it wait in this revision (saved as
    # draft or review) until they are approved and copied here. Always the entry's newest revision.
    pending_revision: Mapped[int | None] = mapped_column(Integer)
    # The entry's id in the system it was imported from (mks import): importing it again finds this entry.
    external_id: Mapped[str | None] = mapped_column(String(200))

    # Optimistic locking: every UPDATE checks and bumps the version, so a concurrent edit fails loudly.
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
    # Lists filtered by category or status, newest first, walk one of these and stop at the page.
    __table_args__ = (
        Index("ix_knowledge_category_updated", "category_id", "updated_at", "id"),
        Index("ix_knowledge_status_updated", "status", "updated_at", "id"),
        Index("ux_knowledge_external_id", "external_id", unique=True),
    )

    category: Mapped[Category] = relationship(lazy="joined")
    # Loaded when a write touches them; reads fetch the names of a whole page at once (tag_names).
    tags: Mapped[list[Tag]] = relationship(secondary=knowledge_tags, lazy="select")
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id], lazy="joined")
    updated_by: Mapped[User | None] = relationship(foreign_keys=[updated_by_id], lazy="joined")

    # The fields a revision records; their values form the revision's snapshot.
    TRACKED_FIELDS = (
        "title",
        "summary",
        "content",
        "category",
        "tags",
        "status",
        "priority",
        "project_code",
        "owner_department",
        "review_due",
    )

    @property
    def tag_names(self) -> list[str]:
        """Tag names in code-point order, the same however they were given."""
        return sorted(tag.name for tag in self.tags)

    def snapshot(self) -> dict[str, Any]:
        """The tracked fields as plain JSON values."""
        return {
            "title": self.title,
            "summary": self.summary,
            "content": self.content,
            "category": self.category.name,
            "tags": self.tag_names,
            "status": self.status,
            "priority": self.priority,
            "project_code": self.project_code,
            "owner_department": self.owner_department,
            "review_due": self.review_due.isoformat() if self.review_due is not None else None,
        }


class KnowledgeTemplate(Base):
    """What a new entry of a category starts from (施工手順, ヒヤリハット報告, …): kept by admins."""

    __tablename__ = "knowledge_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    content: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSON)
    priority: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    category: Mapped[Category] = relationship(lazy="joined")


class KnowledgeRevision(Base):
    __tablename__ = "knowledge_revisions"
    __table_args__ = (UniqueConstraint("knowledge_id", "revision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    knowledge_id: Mapped[int] = mapped_column(ForeignKey("knowledge.id", ondelete="CASCADE"))
    revision: Mapped[int] = mapped_column(Integer)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    changed_fields: Mapped[list[str]] = mapped_column(JSON)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    # What the workflow step said: the reason of a send-back, a comment on a submission or approval.
    comment: Mapped[str | None] = mapped_column(Text)

    changed_by: Mapped[User | None] = relationship(lazy="joined")


class Attachment(Base):
    """A photo or PDF of an entry: its stored bytes (and an image's thumbnail) are blobs of the BlobStore."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    knowledge_id: Mapped[int] = mapped_column(ForeignKey("knowledge.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column()
    blob: Mapped[str] = mapped_column(String(64), index=True)
    thumbnail_blob: Mapped[str | None] = mapped_column(String(64), index=True)
    thumbnail_size: Mapped[int | None] = mapped_column()
    width: Mapped[int | None] = mapped_column()
    height: Mapped[int | None] = mapped_column()
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    uploaded_by: Mapped[User | None] = relationship(lazy="joined")


class RevokedToken(Base):
    """A revoked token id or token family id (see tokens.family), kept until its tokens expire."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    revoked_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SynonymSet(Base):
    """Words a search treats as one (生コン = レディーミクストコンクリート), edited by admins."""

    __tablename__ = "synonym_sets"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    words: Mapped[list[SynonymWord]] = relationship(
        order_by="SynonymWord.position", cascade="all, delete-orphan", lazy="selectin"
    )


class SynonymWord(Base):
    """One word of a synonym set, as shown and as searched; a word belongs to one set at most."""

    __tablename__ = "synonym_words"

    id: Mapped[int] = mapped_column(primary_key=True)
    set_id: Mapped[int] = mapped_column(ForeignKey("synonym_sets.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column()
    word: Mapped[str] = mapped_column(String(50))
    # mks.search.text.normalize(word) when it was written: what query words are compared with, and
    # what must be unique. A change to normalize() has to rewrite this column in its migration.
    normalized: Mapped[str] = mapped_column(String(50), unique=True)


class NotificationState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class Notification(Base):
    """A message to deliver (an e-mail, a webhook call), written in the transaction of the step it tells of and
    delivered afterwards, outside any request, with retries (mks.notifications)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    event: Mapped[str] = mapped_column(String(32))
    knowledge_id: Mapped[int | None] = mapped_column(Integer)
    recipients: Mapped[list[str]] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default=NotificationState.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    # Due for its next attempt (or, while a process delivers it, until when that process holds it).
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ImportState(StrEnum):
    QUEUED = "queued"
    VALIDATING = "validating"
    IMPORTING = "importing"
    DONE = "done"
    FAILED = "failed"


class ImportJob(Base):
    """An import of a file uploaded over the API, run outside the request; one runs at a time."""

    __tablename__ = "import_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default=ImportState.QUEUED)
    # 1 while the job runs, else NULL: the unique constraint lets one job run at a time.
    running: Mapped[int | None] = mapped_column(Integer, unique=True, default=1)
    file_name: Mapped[str] = mapped_column(String(255))
    file_format: Mapped[str] = mapped_column(String(8))
    skip_invalid: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Moved on with the progress: a running job not updated for a while has lost its process.
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    rows_total: Mapped[int | None] = mapped_column()
    rows_done: Mapped[int] = mapped_column(default=0)
    imported: Mapped[int] = mapped_column(default=0)
    already_imported: Mapped[int] = mapped_column(default=0)
    invalid: Mapped[int] = mapped_column(default=0)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    message: Mapped[str | None] = mapped_column(String(500))

    created_by: Mapped[User | None] = relationship(lazy="joined")


class AuditAction(StrEnum):
    KNOWLEDGE_CREATE = "knowledge.create"
    KNOWLEDGE_UPDATE = "knowledge.update"
    KNOWLEDGE_DELETE = "knowledge.delete"
    KNOWLEDGE_SUBMIT = "knowledge.submit"
    KNOWLEDGE_APPROVE = "knowledge.approve"
    KNOWLEDGE_SEND_BACK = "knowledge.send_back"
    KNOWLEDGE_ARCHIVE = "knowledge.archive"
    KNOWLEDGE_UNARCHIVE = "knowledge.unarchive"
    KNOWLEDGE_IMPORT = "knowledge.import"
    ATTACHMENT_ADD = "attachment.add"
    ATTACHMENT_DELETE = "attachment.delete"
    LOGIN = "auth.login"
    LOGIN_FAILED = "auth.login_failed"
    LOGOUT = "auth.logout"
    USER_CREATE = "user.create"
    USER_UPDATE = "user.update"
    USER_ROLE_CHANGE = "user.role_change"
    CATEGORY_CREATE = "category.create"
    TEMPLATE_CREATE = "template.create"
    TEMPLATE_UPDATE = "template.update"
    TEMPLATE_DELETE = "template.delete"
    SYNONYM_CREATE = "synonym.create"
    SYNONYM_UPDATE = "synonym.update"
    SYNONYM_DELETE = "synonym.delete"
    TOKENS_PURGE = "auth.tokens_purge"


class AuditEntry(Base):
    """One audited action; written in the same transaction as the change it records."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    # Kept as written so the record survives the user's deletion or renaming.
    actor_username: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40), index=True)
    target_type: Mapped[str | None] = mapped_column(String(20))
    target_id: Mapped[int | None] = mapped_column(Integer)
    client_address: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
