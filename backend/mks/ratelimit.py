"""Rate limits: a default limit on the API and strict limits on login, per client and per username."""

from __future__ import annotations

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from .config import Settings

limiter = Limiter(key_func=get_remote_address)


def _settings() -> Settings:
    settings: Settings = current_app.extensions["mks_settings"]
    return settings


def login_username_key() -> str:
    """Rate-limit key of a login attempt: the username it tries, so one account resists many clients."""
    payload = request.get_json(silent=True)
    username = payload.get("username") if isinstance(payload, dict) else None
    return f"user:{str(username).casefold()}" if username else f"client:{get_remote_address()}"


login_per_client = limiter.limit(lambda: _settings().ratelimit_login_per_client)
login_per_username = limiter.limit(lambda: _settings().ratelimit_login_per_username, key_func=login_username_key)


def _is_not_api() -> bool:
    return not request.path.startswith("/api/")


def init_app(app: Flask, settings: Settings) -> None:
    """Bind the limiter with the configured storage (memory by default, Redis by URI)."""
    app.config.update(
        RATELIMIT_STORAGE_URI=settings.ratelimit_storage_uri,
        RATELIMIT_DEFAULT=settings.ratelimit_default,
        RATELIMIT_DEFAULTS_EXEMPT_WHEN=_is_not_api,
        RATELIMIT_HEADERS_ENABLED=True,
        RATELIMIT_KEY_PREFIX=settings.ratelimit_key_prefix,
    )
    limiter.init_app(app)
