"""/api/metrics/summary: the Prometheus numbers summarized for people."""

from __future__ import annotations

from pydantic import BaseModel, Field


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
    rate_limit_hits: dict[str, int] = Field(description="レート制限で拒否した件数（拒否のあったエンドポイント別）")
    database: DatabaseSummary
