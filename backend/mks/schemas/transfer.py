"""Bulk import and export: one row of a file (CSV or JSON Lines), and the API's import jobs."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from ..models import ImportState, Priority, Status
from .common import NO_NUL, CalendarDate, Code, Content, Department, Name, Query, Summary, TagNames, Timestamp, Title
from .knowledge import REVIEW_DUE_HELP, KnowledgeCreate
from .users import UserRef


class FileFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


ExternalId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL)]

# A CSV cell lists tags separated by commas (also the Japanese 、 and full-width ，) or semicolons.
TAG_SEPARATORS = re.compile(r"[,、，;]")

# The columns of the upstream MKS template, in its order; then those MKS adds.
TEMPLATE_COLUMNS = ("title", "summary", "category", "owner", "content", "tags", "status", "priority", "project")
COLUMNS = ("external_id", *TEMPLATE_COLUMNS, "review_due")
# What an export adds for people reading it: an import ignores these, so an export imports again.
EXPORT_ONLY_COLUMNS = ("id", "created_at", "updated_at", "revisions")


def _tag_list(value: object) -> object:
    if isinstance(value, str):
        return [name.strip() for name in TAG_SEPARATORS.split(value) if name.strip()]
    return value


class ImportRow(BaseModel):
    """One entry of an import file, under the upstream template's names (owner, project)."""

    model_config = ConfigDict(extra="forbid")

    external_id: ExternalId | None = Field(
        default=None, description="取り込み元での id。同じ id の行を再び取り込むと、既存のナレッジとして飛ばす"
    )
    title: Title
    summary: Summary = ""
    category: Name
    owner: Department | None = Field(default=None, description="担当部署（owner_department）")
    content: Content = ""
    tags: Annotated[TagNames, BeforeValidator(_tag_list)] = []
    status: Status = Field(default=Status.DRAFT, description="draft・review・approved・archived（省略時 draft）")
    priority: Priority = Priority.NORMAL
    project: Code | None = Field(default=None, description="工事番号（project_code）")
    review_due: CalendarDate | None = Field(default=None, description=REVIEW_DUE_HELP)

    @model_validator(mode="before")
    @classmethod
    def _without_export_columns(cls, values: Any) -> Any:
        if isinstance(values, dict):
            return {name: value for name, value in values.items() if name not in EXPORT_ONLY_COLUMNS}
        return values

    def knowledge(self) -> KnowledgeCreate:
        return KnowledgeCreate(
            title=self.title,
            summary=self.summary,
            content=self.content,
            category=self.category,
            tags=self.tags,
            priority=self.priority,
            project_code=self.project,
            owner_department=self.owner,
            review_due=self.review_due,
        )


class RowError(BaseModel):
    """Why one row cannot be imported (or the file could not be read on from it): the API's error vocabulary,
    with the row number."""

    row: int = Field(
        description="行番号（CSV は表計算ソフトと同じく見出しが 1 行目、JSON Lines は行番号。"
        "field が file のときは読めなくなった行）"
    )
    field: str
    type: str
    message: str


class ImportJobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    state: ImportState = Field(
        description="queued（待機）→ validating（全行の検証）→ importing（取り込み）→ done（完了）または failed（失敗）"
    )
    file_name: str
    file_format: FileFormat
    skip_invalid: bool
    created_by: UserRef | None
    created_at: Timestamp
    updated_at: Timestamp
    rows_total: int | None = Field(description="ファイルの行数（検証が終わるまで null）")
    rows_done: int = Field(description="取り込みを終えた行数")
    imported: int = Field(description="追加したナレッジの数")
    already_imported: int = Field(description="external_id が既にあるため飛ばした行の数")
    invalid: int = Field(description="不正な行の数")
    errors: list[RowError] = Field(description="不正な行の理由（最初の 100 件）")
    message: str | None


class ImportUploadQuery(Query):
    skip_invalid: bool = Field(default=False, description="true なら不正な行を飛ばして残りを取り込む")


class ExportQuery(Query):
    format: FileFormat = Field(default=FileFormat.JSONL, description="jsonl（JSON Lines）または csv")
    revisions: bool = Field(default=False, description="true なら各ナレッジに全履歴を含める（jsonl のみ）")

    @model_validator(mode="after")
    def _revisions_in_jsonl(self) -> Self:
        if self.revisions and self.format is FileFormat.CSV:
            raise PydanticCustomError("revisions_need_jsonl", "履歴を含む書き出しは jsonl だけです。")
        return self
