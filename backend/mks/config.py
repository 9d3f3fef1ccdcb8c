"""Typed settings: every environment variable the service reads, in one place."""

from __future__ import annotations

import ipaddress
import os
import re
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, BeforeValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIN_JWT_SECRET_BYTES = 32
# A browser origin as sent in the Origin header: scheme, host and optional port, nothing else.
ORIGIN = re.compile(r"https?://(?:[a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?")
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# The folder holding app_v2.py and gunicorn.conf.py: a relative instance path is taken from here, not
# from the current directory, so every entry point finds the same database and secret wherever it runs.
BACKEND_DIR = Path(__file__).resolve().parent.parent


def _seconds_or_iso8601(value: object) -> object:
    # Environment variables are strings: "900" means seconds; "PT15M" is left to pydantic.
    if isinstance(value, str) and value.strip().replace(".", "", 1).isdigit():
        return float(value)
    return value


Duration = Annotated[timedelta, BeforeValidator(_seconds_or_iso8601)]


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"
    TESTING = "testing"


class LogFormat(StrEnum):
    JSON = "json"  # one JSON object a line, for journald and log shippers
    TEXT = "text"  # readable on a terminal


class ConfigError(RuntimeError):
    """Raised when the settings are unsafe or inconsistent; the message says what to set."""


def _comma_separated(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """Settings read from ``MKS_*`` environment variables (and a ``.env`` file, if present)."""

    model_config = SettingsConfigDict(env_prefix="MKS_", env_file=".env", extra="ignore", populate_by_name=True)

    env: Environment = Environment.DEVELOPMENT
    # Unset: 127.0.0.1 in production (behind the reverse proxy), 0.0.0.0 otherwise (see bind_host).
    host: str | None = None
    port: int = Field(default=5100, ge=1, le=65535)
    # Relative paths are taken from the backend folder (see BACKEND_DIR).
    instance_path: Path = Path("instance")
    database_url: str | None = None
    database_connect_timeout: int = Field(default=5, ge=1)
    # How long a statement may wait for a lock, and (PostgreSQL) run, before the request fails with 503.
    database_lock_timeout_seconds: float = Field(default=5.0, gt=0)
    database_statement_timeout_seconds: float = Field(default=30.0, gt=0)
    # A request waits at most this long for a pooled connection, then answers 503. The pool has
    # exactly this many connections (no overflow): a worker never opens more, whatever MKS_THREADS is.
    # Start-up holds one connection for its lock while migrating on another, hence at least 2.
    database_pool_size: int = Field(default=5, ge=2)
    database_pool_timeout_seconds: float = Field(default=10.0, gt=0)
    # PostgreSQL over the network: a peer that stops answering (packets dropped, not refused) is
    # detected by TCP keepalives on an idle or waiting connection (idle + interval × count seconds)
    # and by tcp_user_timeout when sent data stays unacknowledged.
    database_keepalives_idle_seconds: int = Field(default=5, ge=1)
    database_keepalives_interval_seconds: int = Field(default=2, ge=1)
    database_keepalives_count: int = Field(default=3, ge=1)
    database_tcp_user_timeout_seconds: float = Field(default=10.0, gt=0)
    # How long start-up waits for the database to answer, and for another instance's migration,
    # before it refuses to start with a message.
    startup_wait_seconds: float = Field(default=30.0, ge=0)

    # gunicorn (`mks serve`): worker processes (unset: 2 × CPUs + 1), threads per worker (see
    # gunicorn.conf.py) and seconds a worker may stay silent before it is restarted.
    workers: int | None = Field(default=None, ge=1)
    threads: int = Field(default=2, ge=1)
    worker_timeout: int = Field(default=30, ge=0)

    jwt_secret_key: str | None = None
    jwt_access_token_minutes: int = Field(default=30, ge=1)
    jwt_refresh_token_days: int = Field(default=7, ge=1)

    ratelimit_storage_uri: str = "memory://"
    ratelimit_key_prefix: str = "mks"
    ratelimit_default: str = "600 per minute"
    ratelimit_login_per_client: str = "20 per minute"
    ratelimit_login_per_username: str = "10 per minute"
    # Searches and lists sorted without an index, per user: each reads far more than a detail page.
    ratelimit_search: str = "120 per minute"
    # Bound on each wait for the Redis counter storage; past it the request goes through unlimited.
    ratelimit_storage_timeout_seconds: float = Field(default=0.5, gt=0)

    metrics_enabled: bool = True
    metrics_cache_seconds: float = Field(default=5.0, ge=0)
    active_user_window: Duration = timedelta(minutes=15)
    # Optional protection of /metrics: HTTP basic auth, a bearer token, or both accepted.
    metrics_basic_auth_username: str | None = None
    metrics_basic_auth_password: SecretStr | None = None
    metrics_bearer_token: SecretStr | None = None

    # Browser origins allowed to call /api/ (comma-separated or JSON list), exact origins only; none by default.
    cors_origins: Annotated[list[str], NoDecode] = []
    # Peers whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or CIDR networks).
    # Loopback by default: the documented nginx runs on the same host. MKS_FORWARDED_ALLOW_IPS is
    # the former name, still read when MKS_TRUSTED_PROXIES is unset.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default=["127.0.0.1", "::1"],
        validation_alias=AliasChoices("MKS_TRUSTED_PROXIES", "MKS_FORWARDED_ALLOW_IPS"),
    )

    # After this many consecutive failed logins an account refuses every login for the lockout period.
    login_lockout_threshold: int = Field(default=5, ge=1)
    login_lockout_minutes: float = Field(default=15, gt=0)

    max_content_length: int = Field(default=1024 * 1024, ge=1024)
    # Search ranks every match; pages reach this deep (offset + limit), since each page deeper
    # costs the ranking of all the pages before it.
    search_max_results: int = Field(default=1_000, ge=100, le=10_000)
    # A search counts its matches exactly up to this many; a larger total is reported as a lower bound.
    search_exact_total: int = Field(default=10_000, ge=1, le=1_000_000)
    demo_data: bool | None = None
    # Log lines: JSON (production's default) or text (elsewhere); see log_lines and mks.logs.
    log_format: LogFormat | None = None
    last_seen_resolution_seconds: int = Field(default=60, ge=0)

    # Review notifications (mks.notifications): e-mail when MKS_SMTP_HOST is set, a webhook when MKS_WEBHOOK_URL is.
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "mks@localhost"
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_url: str | None = Field(default=None, pattern=r"^https?://")
    # Signs each webhook body (X-MKS-Signature: sha256=HMAC); required with MKS_WEBHOOK_URL.
    webhook_secret: str | None = Field(default=None, min_length=16)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    # A failed delivery is tried again after notify_retry_seconds, doubling, up to notify_max_attempts in all.
    notify_max_attempts: int = Field(default=6, ge=1)
    notify_retry_seconds: float = Field(default=30.0, gt=0)
    notify_poll_seconds: float = Field(default=2.0, gt=0)
    # The address people open MKS at, for links in notifications.
    public_url: str = Field(default="http://localhost:5100", pattern=r"^https?://")
    # The monitoring page (mks.pages): where it reads the last hour and the alerts, and where its dashboard links go.
    prometheus_url: str | None = Field(default=None, pattern=r"^https?://")
    grafana_url: str | None = Field(default=None, pattern=r"^https?://")
    # The runbook the admins' page /admin/runbook shows, where the alerts' runbook_url links by default.
    runbook_file: Path = Path(__file__).resolve().parents[2] / "docs" / "runbook.md"

    # Attachments (photos, PDFs): stored under <instance>/attachments, content-addressed.
    attachment_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    attachment_max_per_entry: int = Field(default=30, ge=1)
    # A file uploaded to import over the API (larger ones are imported with `mks import`).
    import_max_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    # An image larger than this many pixels is refused before it is decoded (a small file can hold gigapixels).
    attachment_max_pixels: int = Field(default=50_000_000, ge=1_000_000)
    # A site photo's GPS position can reveal a client's site: stripped unless this is set.
    attachment_keep_gps: bool = False

    # argon2id cost; tests lower it because the defaults take ~50 ms per hash by design.
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_cost_kib: int = Field(default=65536, ge=8)

    @model_validator(mode="after")
    def _signed_webhook(self) -> Settings:
        # An unsigned webhook would let anyone who learns its address post fake review events to the receiver.
        if self.webhook_url and not self.webhook_secret:
            raise ConfigError("MKS_WEBHOOK_URL を使うには MKS_WEBHOOK_SECRET（16 文字以上）も設定してください。")
        return self

    @field_validator("instance_path")
    @classmethod
    def _anchored_to_backend(cls, value: Path) -> Path:
        return BACKEND_DIR / value if not value.is_absolute() else value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _exact_origins(cls, value: object) -> object:
        # flask-cors reads an entry with regex characters as an unanchored pattern: only exact origins are accepted.
        origins = _comma_separated(value)
        if isinstance(origins, list):
            for origin in origins:
                if not isinstance(origin, str) or not ORIGIN.fullmatch(origin.lower()):
                    raise ConfigError(
                        f"MKS_CORS_ORIGINS の {origin!r} はオリジンとして使えません。"
                        "https://portal.example.co.jp のように、スキーム・ホスト・ポートだけを完全な形で書いてください"
                        "（ワイルドカード・正規表現・パスは使えません）。"
                    )
            return [origin.lower() for origin in origins]
        return origins

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_networks(cls, value: object) -> object:
        proxies = _comma_separated(value)
        if isinstance(proxies, list):
            try:
                return [str(ipaddress.ip_network(proxy, strict=False)) for proxy in proxies]
            except (TypeError, ValueError):
                raise ConfigError(
                    f"MKS_TRUSTED_PROXIES の {value!r} を読めません。リバースプロキシの IP アドレスか CIDR"
                    "（例: 127.0.0.1,10.0.0.0/8）をカンマ区切りで書いてください（* は使えません）。"
                ) from None
        return proxies

    @property
    def bind_host(self) -> str:
        """The address the server listens on: MKS_HOST, else loopback in production and every interface otherwise."""
        if self.host:
            return self.host
        return "127.0.0.1" if self.env is Environment.PRODUCTION else "0.0.0.0"

    @property
    def trusted_proxy_networks(self) -> tuple[IPNetwork, ...]:
        """MKS_TRUSTED_PROXIES as networks."""
        return tuple(ipaddress.ip_network(proxy) for proxy in self.trusted_proxies)

    @property
    def worker_count(self) -> int:
        """gunicorn's worker processes: MKS_WORKERS, else 2 × CPUs + 1."""
        return self.workers or 2 * (os.cpu_count() or 1) + 1

    @property
    def jwt_secret_file(self) -> Path:
        """Where development keeps its generated JWT secret when MKS_JWT_SECRET_KEY is unset."""
        return self.instance_path / "jwt-secret"

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the instance folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.instance_path / 'mks.sqlite3').resolve()}"

    @property
    def log_lines(self) -> LogFormat:
        """How log lines are written: MKS_LOG_FORMAT, else JSON in production and text elsewhere."""
        if self.log_format is None:
            return LogFormat.JSON if self.env is Environment.PRODUCTION else LogFormat.TEXT
        return self.log_format

    @property
    def seed_demo_data(self) -> bool:
        """Whether first start creates the demo users and corpus (development only by default)."""
        if self.demo_data is None:
            return self.env is Environment.DEVELOPMENT
        return self.demo_data

    @property
    def attachments_path(self) -> Path:
        """Where the attachment blobs are stored (and backed up from)."""
        return self.instance_path / "attachments"

    def resolve_jwt_secret(self) -> str:
        """Return the JWT secret: MKS_JWT_SECRET_KEY, else (outside production) the file the start-up step wrote."""
        if self.jwt_secret_key:
            return self.jwt_secret_key
        if self.env is Environment.PRODUCTION:
            raise ConfigError(
                "本番モードでは MKS_JWT_SECRET_KEY の設定が必要です"
                f"（{MIN_JWT_SECRET_BYTES} バイト以上のランダムな値）。"
                " 例: export MKS_JWT_SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        if not self.jwt_secret_file.is_file():
            raise ConfigError(
                f"JWT の秘密鍵ファイル {self.jwt_secret_file} がありません。"
                " 起動処理（python app_v2.py、mks serve、mks prepare）が作成します。"
                "MKS_JWT_SECRET_KEY を設定しても構いません。"
            )
        return self.jwt_secret_file.read_text().strip()

    def check_production(self) -> None:
        """Refuse settings that are unsafe in production (demo passwords are checked against the database)."""
        if self.env is not Environment.PRODUCTION:
            return
        secret = self.resolve_jwt_secret()
        if len(secret.encode()) < MIN_JWT_SECRET_BYTES:
            raise ConfigError(
                f"MKS_JWT_SECRET_KEY が短すぎます（{len(secret.encode())} バイト）。"
                f"本番モードでは {MIN_JWT_SECRET_BYTES} バイト以上が必要です。"
            )
        if self.demo_data:
            raise ConfigError("本番モードでは MKS_DEMO_DATA=true は使えません。")
