"""Liveness and readiness answers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class HealthOut(BaseModel):
    status: str
    version: str


DependencyStatus = Literal["ok", "unavailable"]


class ReadyOut(BaseModel):
    status: Literal["ok", "degraded"] = Field(
        description="ok: すべての依存先が正常。degraded: レート制限のストレージが使えず、制限なしで受付中"
    )
    database: str = Field(description="データベースの種類（sqlite / postgresql）")
    dependencies: dict[Literal["database", "database_writes", "rate_limit_storage"], DependencyStatus] = Field(
        description="依存先ごとの状態（database_writes: 書き込みのロックを 0.5 秒以内に取れるか）"
    )
