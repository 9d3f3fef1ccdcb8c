"""The JSON error envelope every failure answers (see mks.errors)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    code: str = Field(description="機械向けの固定コード（例: validation_error, token_expired）")
    message: str = Field(description="利用者向けの説明（日本語）")
    status: int
    details: list[dict[str, object]] | None = Field(default=None, description="項目ごとの誤りなど")


class ErrorResponse(BaseModel):
    error: ErrorBody
