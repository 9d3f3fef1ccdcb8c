"""Request and response bodies of the API (pydantic models, also the OpenAPI schemas)."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from .models import AuditAction, KnowledgeRevision, Priority, Role, Status, User, as_utc

T = TypeVar("T")

# Row ids fit a 32-bit signed INTEGER on every database; larger ones cannot exist (a path id is 404, a filter 422).
MAX_ID = 2**31 - 1

# Text that is stored or searched holds no NUL (U+0000), which PostgreSQL cannot store: refused on every database.
NO_NUL = r"^[^\x00]*$"
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50, pattern=NO_NUL)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, max_length=50, pattern=NO_NUL)]
Department = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100, pattern=NO_NUL)]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=NO_NUL)]
Summary = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000, pattern=NO_NUL)]
Content = Annotated[str, StringConstraints(max_length=200_000, pattern=NO_NUL)]
Username = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9_.-]{3,64}$")]
# Timestamps in responses are always UTC with an offset, even where SQLite returns them naive.
Timestamp = Annotated[datetime, AfterValidator(as_utc)]
Password = Annotated[str, StringConstraints(min_length=8, max_length=256)]
ISO_DATE_PREFIX = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_datetime_only(value: object) -> object:
    """Refuse a string that is no ISO 8601 date-time (pydantic would read "0.5" or "1700000000" as Unix time)."""
    if isinstance(value, str) and not ISO_DATE_PREFIX.match(value):
        raise PydanticCustomError("datetime_parsing", "Input should be an ISO 8601 date-time")
    return value


def _utc_moment(value: datetime) -> datetime:
    """The moment in UTC; refused when that falls outside the years a datetime can hold (0001-01-01T00:00+01:00)."""
    try:
        return as_utc(value)
    except OverflowError:
        raise ValueError("date-time out of range") from None


# A date-time in a query parameter: ISO 8601 only; without an offset it is taken as UTC.
QueryTimestamp = Annotated[datetime, BeforeValidator(_iso_datetime_only), AfterValidator(_utc_moment)]
QUERY_TIMESTAMP_HELP = "ISO 8601 の日時（例: 2026-04-01T09:00:00+09:00）。オフセットなしは UTC"


def _unique(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


TagNames = Annotated[list[Name], Field(max_length=20), AfterValidator(_unique)]


class Body(BaseModel):
    """A request body: unknown fields are refused so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid")


class Query(BaseModel):
    """Query parameters: unknown ones are ignored (cache busters, tracking parameters)."""

    model_config = ConfigDict(extra="ignore")


class Page(Query):
    limit: int = Field(default=20, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=1_000_000)


# --- auth -----------------------------------------------------------------------------------


# What a login may name: no stricter than Username, so accounts created before its rule can still log in.
LoginName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=NO_NUL)]


class LoginRequest(Body):
    username: LoginName
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "Bearer"
    expires_in: int = Field(description="アクセストークンの有効秒数")


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    role: Role
    is_active: bool
    created_at: Timestamp
    last_seen_at: Timestamp | None


class UserRef(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str


class UserList(BaseModel):
    items: list[UserOut]


class UserCreate(Body):
    username: Username
    display_name: DisplayName
    password: Password
    role: Role = Role.VIEWER


class UserUpdate(Body):
    display_name: DisplayName | None = None
    password: Password | None = None
    role: Role | None = None
    is_active: bool | None = None


# --- knowledge ------------------------------------------------------------------------------


class KnowledgeCreate(Body):
    title: Title
    summary: Summary = ""
    content: Content = ""
    category: Name
    tags: TagNames = []
    status: Status = Status.DRAFT
    priority: Priority = Priority.NORMAL
    project_code: Code | None = None
    owner_department: Department | None = None


def _not_null(value: object) -> object:
    """Refuse an explicit null where the stored value cannot be empty (the field may still be omitted)."""
    if value is None:
        raise PydanticCustomError("null_not_allowed", "Input should not be null")
    return value


def _no_default(schema: dict[str, Any]) -> None:
    """Leave the Python-side default (None: omitted) out of the JSON schema, where null is not allowed."""
    schema.pop("default", None)


# A field of a partial update that may be left out (None in Python) but not sent as null: null is not in
# its JSON schema, and an explicit null is a field error.
Omittable = Annotated[T | SkipJsonSchema[None], BeforeValidator(_not_null), Field(json_schema_extra=_no_default)]


class KnowledgeUpdate(Body):
    """Fields to change; omitted fields keep their value. ``version`` guards against lost updates.

    ``project_code`` and ``owner_department`` are cleared by null; the other fields cannot be null.
    """

    title: Omittable[Title] = None
    summary: Omittable[Summary] = None
    content: Omittable[Content] = None
    category: Omittable[Name] = None
    tags: Omittable[TagNames] = None
    status: Omittable[Status] = None
    priority: Omittable[Priority] = None
    project_code: Code | None = None
    owner_department: Department | None = None
    version: int | None = Field(default=None, ge=1, description="編集元の版。現在の版と違えば 409")


def _user_ref(user: User | None) -> UserRef | None:
    return UserRef.model_validate(user) if user is not None else None


class KnowledgeSummary(BaseModel):
    """Read from an entry of the services (services.knowledge.entries), attribute by attribute."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    summary: str
    category: str
    tags: list[str]
    status: Status
    priority: Priority
    project_code: str | None
    owner_department: str | None
    created_by: UserRef | None
    updated_by: UserRef | None
    created_at: Timestamp
    updated_at: Timestamp
    view_count: int
    version: int


class KnowledgeOut(KnowledgeSummary):
    content: str


class KnowledgePage(BaseModel):
    items: list[KnowledgeSummary]
    total: int
    limit: int
    offset: int
    next_cursor: str | None = Field(
        description="次のページの cursor（同じ絞り込み・sort で渡す）。最後のページでは null"
    )


class SortKey(StrEnum):
    UPDATED_DESC = "-updated_at"
    UPDATED = "updated_at"
    CREATED_DESC = "-created_at"
    CREATED = "created_at"
    TITLE = "title"
    TITLE_DESC = "-title"
    VIEWS_DESC = "-view_count"
    PRIORITY_DESC = "-priority"


# The database reads and drops every row before an offset: deeper pages are reached by cursor.
MAX_LIST_OFFSET = 10_000


def _shallow_offset(offset: int) -> int:
    if offset > MAX_LIST_OFFSET:
        raise PydanticCustomError(
            "offset_too_deep",
            f"offset は {MAX_LIST_OFFSET:,} までです。続きは応答の next_cursor を cursor に指定して取得してください。",
        )
    return offset


class KnowledgeListQuery(Page):
    offset: Annotated[int, AfterValidator(_shallow_offset)] = Field(
        default=0, ge=0, json_schema_extra={"maximum": MAX_LIST_OFFSET}
    )
    cursor: str | None = Field(
        default=None,
        min_length=1,
        max_length=2048,
        description="前のページの next_cursor。その続きを返す（offset とは併用できない）",
    )
    category: Name | None = None
    tag: Name | None = None
    status: Status | None = None
    project_code: Code | None = None
    owner_department: Department | None = None
    updated_since: QueryTimestamp | None = Field(default=None, description=QUERY_TIMESTAMP_HELP)
    sort: SortKey = SortKey.UPDATED_DESC

    @field_validator("cursor")
    @classmethod
    def _cursor_alone(cls, cursor: str | None, info: ValidationInfo) -> str | None:
        # A cursor is the position to go on from: an offset beside it would say another.
        if cursor is not None and info.data.get("offset"):
            raise PydanticCustomError("cursor_with_offset", "cursor と offset は同時に指定できません。")
        return cursor


class SearchQuery(Page):
    q: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL)]
    category: Name | None = None


class SearchHitOut(KnowledgeSummary):
    score: float = Field(description="関連度（大きいほど上位）")
    snippet: str = Field(description="一致箇所の抜粋（HTML エスケープ済み、一致語は <mark> で囲む）")


class SearchPage(BaseModel):
    items: list[SearchHitOut]
    total: int = Field(description="一致件数。total_relation が gte のときは下限（検索ウィンドウの件数）")
    total_relation: Literal["eq", "gte"] = Field(
        description="eq: total は正確な一致件数。gte: 一致が検索ウィンドウ（MKS_SEARCH_WINDOW、既定 500 件）を"
        "超えたため、新しい順に先頭のウィンドウ分だけを関連度順に並べた"
    )
    limit: int
    offset: int
    terms: list[str] = Field(description="正規化後の検索語（すべてを含むものが一致）")
    ignored_terms: list[str] = Field(
        description="検索に使わなかった語（正規化後）。語は先頭から 8 語までで、9 語目以降はここに入る。なければ空"
    )


class RevisionSummary(BaseModel):
    revision: int
    changed_at: Timestamp
    changed_by: UserRef | None
    changed_fields: list[str]

    @classmethod
    def from_revision(cls, revision: KnowledgeRevision, changed_fields: list[str]) -> Self:
        """Serialize a revision as its reader sees it (with its snapshot when the model has that field)."""
        values: dict[str, Any] = {
            "revision": revision.revision,
            "changed_at": revision.changed_at,
            "changed_by": _user_ref(revision.changed_by),
            "changed_fields": changed_fields,
        }
        if "snapshot" in cls.model_fields:
            values["snapshot"] = revision.snapshot
        return cls(**values)


class RevisionOut(RevisionSummary):
    snapshot: dict[str, object]


class RevisionList(BaseModel):
    items: list[RevisionSummary]


class TagCount(BaseModel):
    name: str
    count: int


class TagCountList(BaseModel):
    items: list[TagCount]


class CategoryOut(BaseModel):
    id: int
    name: str
    knowledge_count: int


class CategoryList(BaseModel):
    items: list[CategoryOut]


class CategoryCreate(Body):
    name: Name


# --- audit ----------------------------------------------------------------------------------


class AuditQuery(Page):
    action: AuditAction | None = None
    actor: Annotated[str, StringConstraints(max_length=64, pattern=NO_NUL)] | None = Field(
        default=None, description="操作したユーザー名"
    )
    target_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    since: QueryTimestamp | None = Field(default=None, description=QUERY_TIMESTAMP_HELP)


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: Timestamp
    actor_id: int | None
    actor_username: str | None = Field(description="操作したユーザー（ログイン失敗では試みられたユーザー名）")
    action: AuditAction
    target_type: str | None
    target_id: int | None
    client_address: str | None = Field(description="接続元（CLI からの操作は cli）")
    details: dict[str, object]


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    total: int
    limit: int
    offset: int


# --- health ---------------------------------------------------------------------------------


class HealthOut(BaseModel):
    status: str
    version: str


DependencyStatus = Literal["ok", "unavailable"]


class ReadyOut(BaseModel):
    status: Literal["ok", "degraded"] = Field(
        description="ok: すべての依存先が正常。degraded: レート制限のストレージが使えず、制限なしで受付中"
    )
    database: str = Field(description="データベースの種類（sqlite / postgresql）")
    dependencies: dict[Literal["database", "rate_limit_storage"], DependencyStatus] = Field(
        description="依存先ごとの状態"
    )


# --- errors ---------------------------------------------------------------------------------


class ErrorBody(BaseModel):
    code: str = Field(description="機械向けの固定コード（例: validation_error, token_expired）")
    message: str = Field(description="利用者向けの説明（日本語）")
    status: int
    details: list[dict[str, object]] | None = Field(default=None, description="項目ごとの誤りなど")


class ErrorResponse(BaseModel):
    error: ErrorBody


# --- metrics summary ------------------------------------------------------------------------


class SystemSummary(BaseModel):
    cpu_percent: float | None = Field(description="ホスト CPU 使用率（%）")
    memory_percent: float | None = Field(description="ホストのメモリ使用率（%）")
    memory_total_bytes: float | None = Field(description="ホストのメモリ総量（バイト）")
    disk_percent: float | None = Field(description="データディレクトリのファイルシステム使用率（%）")
    disk_total_bytes: float | None = Field(description="同ファイルシステムの容量（バイト）")


class ApplicationSummary(BaseModel):
    version: str | None
    database: str | None = Field(description="sqlite または postgresql")
    knowledge_total: float | None = Field(description="ナレッジ総数（全ステータス）。DB に接続できないときは null")
    active_users: float | None = Field(description="MKS_ACTIVE_USER_WINDOW 内に認証済みの操作をしたユーザー数")
    uptime_seconds: float | None = Field(description="最も古い稼働中ワーカーの起動からの秒数")


class RequestSummary(BaseModel):
    total: int = Field(description="起動以降の HTTP 応答数（全ワーカー合計）")
    by_status_class: dict[str, int] = Field(description="2xx / 3xx / 4xx / 5xx ごとの件数")
    error_rate: float = Field(description="5xx の割合（0〜1）。応答が無ければ 0")
    in_progress: float | None = Field(description="処理中のリクエスト数")


class EndpointCalls(BaseModel):
    endpoint: str
    calls: int


class EndpointLatency(BaseModel):
    endpoint: str
    p95_seconds: float | None
    calls: int


class TopEndpoints(BaseModel):
    by_calls: list[EndpointCalls] = Field(description="呼び出し数の多い順に最大 5 件")
    by_p95: list[EndpointLatency] = Field(description="p95 応答時間の長い順に最大 5 件（ヒストグラムからの推定）")


class DatabaseSummary(BaseModel):
    connections: float | None = Field(description="プールから貸し出し中の接続数")
    queries: int = Field(description="実行した SQL 文の数")
    query_p95_seconds: float | None


class MetricsSummary(BaseModel):
    """/api/metrics/summary: the same numbers as /metrics, summarized for people."""

    system: SystemSummary
    application: ApplicationSummary
    requests: RequestSummary
    latency_seconds: dict[str, float | None] = Field(description="全リクエストの p50 / p95 / p99（秒、推定）")
    top_endpoints: TopEndpoints
    errors: dict[str, int] = Field(description="mks_errors_total の type ごとの件数")
    auth_attempts: dict[str, int] = Field(description="ログイン試行の結果ごとの件数")
    rate_limit_hits: dict[str, int] = Field(description="レート制限で拒否した件数（エンドポイント別）")
    database: DatabaseSummary
