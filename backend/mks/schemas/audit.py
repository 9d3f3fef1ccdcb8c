"""The audit log: its filters and entries."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ..models import AuditAction
from .common import MAX_ID, NO_NUL, QUERY_TIMESTAMP_HELP, Page, QueryTimestamp, Timestamp


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
