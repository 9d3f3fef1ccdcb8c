"""Knowledge entries: create, update, read, list, search, revisions and tags."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from ..models import KnowledgeRevision, Priority, Status, User
from .common import (
    NO_NUL,
    QUERY_TIMESTAMP_HELP,
    Body,
    CalendarDate,
    Code,
    Content,
    Department,
    Name,
    Omittable,
    Page,
    Query,
    QueryTimestamp,
    Summary,
    TagNames,
    Timestamp,
    Title,
    Username,
)
from .users import UserRef

REVIEW_DUE_HELP = "見直し期限（YYYY-MM-DD）。この日までに内容を見直す。期限の来たナレッジ数は mks_knowledge_review_due"


class KnowledgeCreate(Body):
    """A new entry, always a draft: only the review workflow moves it on (submit, approve)."""

    title: Title
    summary: Summary = ""
    content: Content = ""
    category: Name
    tags: TagNames = []
    priority: Priority = Priority.NORMAL
    project_code: Code | None = None
    owner_department: Department | None = None
    review_due: CalendarDate | None = Field(default=None, description=REVIEW_DUE_HELP)


class KnowledgeUpdate(Body):
    """Fields to change; omitted fields keep their value. ``version`` guards against lost updates.

    ``project_code``, ``owner_department`` and ``review_due`` are cleared by null; the other fields cannot be null.
    The status is the workflow's (submit, approve, send back, archive): an update never changes it.
    """

    title: Omittable[Title] = None
    summary: Omittable[Summary] = None
    content: Omittable[Content] = None
    category: Omittable[Name] = None
    tags: Omittable[TagNames] = None
    priority: Omittable[Priority] = None
    project_code: Code | None = None
    owner_department: Department | None = None
    review_due: CalendarDate | None = Field(default=None, description=REVIEW_DUE_HELP)
    version: int | None = Field(default=None, ge=1, description="編集元の版。現在の版と違えば 409")

    def changes(self) -> dict[str, Any]:
        """The fields given, by name (without the version they were edited from)."""
        return self.model_dump(exclude_unset=True, exclude={"version"})


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
    review_due: date | None = Field(description=REVIEW_DUE_HELP)
    created_by: UserRef | None
    updated_by: UserRef | None
    created_at: Timestamp
    updated_at: Timestamp
    view_count: int
    version: int


class PendingChangeOut(BaseModel):
    """Read from the services' PendingChange."""

    model_config = ConfigDict(from_attributes=True)

    revision: int = Field(description="変更案を保存した版（差分: /revisions/{revision}/diff?against=approved）")
    status: Status = Field(description="変更案のステータス（draft: 下書き、review: レビュー中）")
    title: str
    summary: str
    content: str
    category: str
    tags: list[str]
    priority: Priority
    project_code: str | None
    owner_department: str | None
    review_due: date | None
    changed_by: UserRef | None
    changed_at: Timestamp


class KnowledgeOut(KnowledgeSummary):
    content: str
    pending: PendingChangeOut | None = Field(
        description="承認済みナレッジへの未承認の変更案（承認されるまで閲覧者には承認済みの内容だけを表示）。"
        "編集者・承認者・管理者にだけ返し、閲覧者には常に null"
    )


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
    updated_before: QueryTimestamp | None = Field(
        default=None, description="この日時より前に更新したもの（長く見直されていないもの）。" + QUERY_TIMESTAMP_HELP
    )
    review_due_before: CalendarDate | None = Field(
        default=None, description="見直し期限（review_due）がこの日以前のもの（YYYY-MM-DD、その日を含む）"
    )
    created_by: Username | None = Field(default=None, description="このユーザー名の人が作成したもの")
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
    status: Status | None = Field(default=None, description="このステータスの一致だけ（閲覧者は承認済みだけ）")
    tag: Name | None = Field(default=None, description="このタグを持つ一致だけ")
    sort: Literal["relevance", "newest"] = Field(
        default="relevance",
        description="relevance: 関連度順（既定）。newest: すべての一致を更新の新しい順に（score は 0）",
    )
    facets: bool = Field(
        default=False,
        description="true: カテゴリ別・ステータス別の件数（facets）も返す。一致ごとにカテゴリとステータスを読むため、"
        "絞り込みの候補を表示する画面だけが指定する",
    )


class SearchHitOut(KnowledgeSummary):
    score: float = Field(description="関連度（大きいほど上位）")
    snippet: str = Field(description="一致箇所の抜粋（HTML エスケープ済み、一致語は <mark> で囲む）")


class CategoryCountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    count: int


class StatusCountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    status: Status
    count: int


class SearchFacetsOut(BaseModel):
    """Read from the services' SearchFacets."""

    model_config = ConfigDict(from_attributes=True)

    categories: list[CategoryCountOut] = Field(
        description="カテゴリ別の一致件数。category の指定によらず全カテゴリの一致を数える（他のカテゴリへの"
        "切り替えに使う）。件数の多い順、同数は名前順。0 件のカテゴリは含まない"
    )
    statuses: list[StatusCountOut] = Field(
        description="ステータス別の一致件数。category を指定したときはそのカテゴリの一致だけを数える。"
        "ワークフローの順（draft, review, approved, archived）。0 件のステータスは含まない"
    )
    exact: bool = Field(
        description="true: 件数はすべて正確。false: 全カテゴリの一致が MKS_SEARCH_EXACT_TOTAL 件を超えたため、"
        "最初に見つかった MKS_SEARCH_EXACT_TOTAL + 1 件だけを数えた値で、それぞれ下限（total とは別。"
        "category を指定したときの total はそのカテゴリだけを MKS_SEARCH_EXACT_TOTAL 件まで正確に数える）"
    )


class SearchPage(BaseModel):
    items: list[SearchHitOut]
    total: int = Field(
        description="一致件数。total_relation が gte のときは下限（MKS_SEARCH_EXACT_TOTAL、既定 10,000 件）"
    )
    total_relation: Literal["eq", "gte"] = Field(
        description="eq: total は正確な一致件数。gte: 一致が MKS_SEARCH_EXACT_TOTAL 件を超えたため、"
        "total はその件数（下限）。順位付けは件数によらず全一致が対象"
    )
    limit: int
    offset: int
    facets: SearchFacetsOut | None = Field(
        description="絞り込みの候補: 一致のカテゴリ別・ステータス別の件数（facets=true のときだけ。それ以外は null）。"
        "利用者が閲覧できるステータス（viewer は approved）のナレッジだけを数える"
    )
    terms: list[str] = Field(description="正規化後の検索語（すべてを含むものが一致）")
    ignored_terms: list[str] = Field(
        description="検索に使わなかった語（正規化後）。文字・数字を含まない語（記号だけの語）と、"
        "9 語目以降の語がここに入る。なければ空"
    )


class RevisionSummary(BaseModel):
    revision: int
    status: Status = Field(description="この版を保存したときのステータス")
    changed_at: Timestamp
    changed_by: UserRef | None
    changed_fields: list[str]
    comment: str | None = Field(description="ワークフローの記録: 差し戻しの理由、レビュー依頼・承認のコメント")

    @classmethod
    def from_revision(cls, revision: KnowledgeRevision, changed_fields: list[str]) -> Self:
        """Serialize a revision as its reader sees it (with its snapshot when the model has that field)."""
        values: dict[str, Any] = {
            "revision": revision.revision,
            "status": revision.snapshot["status"],
            "changed_at": revision.changed_at,
            "changed_by": _user_ref(revision.changed_by),
            "changed_fields": changed_fields,
            "comment": revision.comment,
        }
        if "snapshot" in cls.model_fields:
            values["snapshot"] = revision.snapshot
        return cls(**values)


class RevisionOut(RevisionSummary):
    snapshot: dict[str, object]


class RevisionList(BaseModel):
    items: list[RevisionSummary]


class ReviewQueueItem(KnowledgeSummary):
    """The entry as published (or, never approved, as written); the text under review is revision ``version``."""

    submitted_by: UserRef | None = Field(description="レビュー依頼した人（レビュー中になった版を保存した人）")
    submitted_at: Timestamp = Field(description="レビュー依頼の日時")


class ReviewQueuePage(BaseModel):
    items: list[ReviewQueueItem]
    total: int
    limit: int
    offset: int


class RevisionDiffQuery(Query):
    # One pattern rather than a union of an int and a literal: a refusal then names the field alone.
    against: Annotated[str, StringConstraints(pattern=r"^(approved|[1-9][0-9]{0,8})$")] | None = Field(
        default=None,
        description="比べる版の番号、または approved（最後に承認された版）。省略時は、読める版のうち直前の版",
    )

    @property
    def base(self) -> int | Literal["approved"] | None:
        """The revision to compare with: its number, "approved", or None (the one before)."""
        return "approved" if self.against == "approved" else None if self.against is None else int(self.against)


class FieldChange(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    field: str
    before: Any = Field(description="比べる版の値（その版に無い項目は null）")
    after: Any


class LineRun(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    op: Literal["equal", "delete", "insert"] = Field(
        description="equal: 変わらない行、delete: 削除した行、insert: 追加した行"
    )
    lines: list[str]


class RevisionDiffOut(BaseModel):
    """The changes from revision ``base`` (0: none, before the first) to ``target``."""

    model_config = ConfigDict(from_attributes=True)

    base: int
    target: int
    fields: list[FieldChange] = Field(description="本文以外で値の違う項目（改訂履歴の項目順）")
    content: list[LineRun] = Field(description="本文（Markdown）の行ごとの差分。変わらない行も含めて本文全体を順に")


Comment = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000, pattern=NO_NUL)]
REVIEWED_VERSION_HELP = "操作の対象として確認した版。現在の版と違えば 409（確認後に書き換えられた内容は承認しない）"


class WorkflowStepIn(Body):
    """Submitting, approving, archiving or taking out of the archive: what the actor saw, and a comment."""

    version: int = Field(ge=1, description=REVIEWED_VERSION_HELP)
    comment: Comment | None = Field(default=None, description="履歴に残すコメント（任意、1,000 文字まで）")


class SendBackIn(Body):
    version: int = Field(ge=1, description=REVIEWED_VERSION_HELP)
    reason: Comment = Field(description="差し戻しの理由（必須、1,000 文字まで）。履歴に残し、作成者に通知する")


class RestoreIn(Body):
    version: int | None = Field(default=None, ge=1, description="編集元の版。現在の版と違えば 409")


class TagCount(BaseModel):
    name: str
    count: int


class TagCountList(BaseModel):
    items: list[TagCount]


class AttachmentOut(BaseModel):
    """Read from the services' AttachmentInfo."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    knowledge_id: int
    filename: str = Field(description="アップロード時のファイル名（フォルダ部分は除く）")
    content_type: str = Field(description="内容から判定した種類（image/jpeg, image/png, image/webp, application/pdf）")
    size: int = Field(description="保存したバイト数（画像は向きを直し位置情報を除いて保存し直した後）")
    width: int | None
    height: int | None
    has_thumbnail: bool = Field(description="true: /api/v1/attachments/{id}/thumbnail に縮小画像（JPEG）がある")
    uploaded_by: UserRef | None
    created_at: Timestamp


class AttachmentList(BaseModel):
    items: list[AttachmentOut]
